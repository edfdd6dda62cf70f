package kinesisevent

import "testing"

func BenchmarkParseOnly(b *testing.B) {
	payload := testPayload(100, 1024, 3)
	raws := make([]rawRecord, 0, 128)
	for b.Loop() {
		parse(payload, raws[:0])
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), "ns/record")
}

func BenchmarkBuildOnly(b *testing.B) {
	payload := testPayload(100, 1024, 3)
	raws, _, sz, err := parse(payload, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		build(payload, raws, sz)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), "ns/record")
}
