package kinesisevent

import (
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
