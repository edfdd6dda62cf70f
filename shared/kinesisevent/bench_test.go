package kinesisevent

import (
	"encoding/base64"
	"encoding/json"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

const benchRecords = 100

func BenchmarkDecode(b *testing.B) {
	payload := testPayload(benchRecords, 1024, 3)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		recs, err := Decode(payload)
		if err != nil || len(recs) != benchRecords {
			b.Fatalf("Decode: %d records, %v", len(recs), err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchRecords), "ns/record")
}

func BenchmarkDecodeEncodingJSON(b *testing.B) {
	payload := testPayload(benchRecords, 1024, 3)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		var ev events.KinesisEvent
		if err := json.Unmarshal(payload, &ev); err != nil || len(ev.Records) != benchRecords {
			b.Fatalf("encoding/json: %d records, %v", len(ev.Records), err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchRecords), "ns/record")
}

// BenchmarkBase64Reference is the part of BenchmarkDecode no JSON decoder can
// avoid: base64.StdEncoding decoding the same records' data into one buffer.
func BenchmarkBase64Reference(b *testing.B) {
	payload := testPayload(benchRecords, 1024, 3)
	var ev struct {
		Records []struct {
			Kinesis struct {
				Data string `json:"data"`
			} `json:"kinesis"`
		}
	}
	if err := json.Unmarshal(payload, &ev); err != nil {
		b.Fatal(err)
	}
	src := make([][]byte, len(ev.Records))
	total := 0
	for i, r := range ev.Records {
		src[i] = []byte(r.Kinesis.Data)
		total += base64.StdEncoding.DecodedLen(len(src[i]))
	}
	dst := make([]byte, total)
	b.ReportAllocs()
	for b.Loop() {
		off := 0
		for _, s := range src {
			n, err := base64.StdEncoding.Decode(dst[off:], s)
			if err != nil {
				b.Fatal(err)
			}
			off += n
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchRecords), "ns/record")
}
