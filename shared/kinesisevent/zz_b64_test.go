package kinesisevent

import (
	"encoding/base64"
	"testing"
)

func BenchmarkBase64Only(b *testing.B) {
	src := make([]byte, 1024)
	enc := []byte(base64.StdEncoding.EncodeToString(src))
	dst := make([]byte, 100*1024)
	b.ReportAllocs()
	for b.Loop() {
		for i := 0; i < 100; i++ {
			base64.StdEncoding.Decode(dst[i*1024:], enc)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), "ns/record")
}
