package ingest

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/flowbus/flowbus/shared/bus"
	"github.com/flowbus/flowbus/shared/event"
	"github.com/flowbus/flowbus/shared/testenv"
)

// countEvents reads the stream's shard back and counts the events in it.
func countEvents(b *testing.B, kc *kinesis.Client, stream string) int {
	_, _, recs := testenv.ReadShard(b, kc, stream)
	n := 0
	for _, r := range recs {
		items, err := event.DecodeBatch(r.Data, event.DecodeOptions{Wire: true}, false, 0)
		if err != nil {
			b.Fatal(err)
		}
		n += len(items)
	}
	return n
}

// BenchmarkPublishThroughput publishes 200-byte events across 20 workflows
// in requests of 500 to a 1-shard stream of the Kinesis engine, and, in the
// same run, the same events the naive way (one PutRecord per event, each
// awaited, as the design sketch's send-and-flush does). It reports events per
// second accepted and readable back for both and their ratio. Target:
// ≥ 3,000 events/s, past the shard's 1,000 records/s.
func BenchmarkPublishThroughput(b *testing.B) {
	cfg := testenv.AWS(b)
	const requests, perRequest, workflows, naiveEvents = 10, 500, 20, 600
	reqs := make([][]byte, requests)
	for i := range reqs {
		reqs[i] = body(perRequest, 200, workflows)
	}
	ctx := context.Background()

	var rate, naiveRate float64
	for range b.N { // each round takes seconds: b.N stays 1
		kc, stream := testenv.Stream(b, cfg, 1)
		svc := New(bus.NewPublisher(kc, stream, bus.Options{}), 500, "/bench", nil)
		start := time.Now()
		for _, req := range reqs {
			out, err := svc.Publish(ctx, req, Events)
			if err != nil || out.NothingSent || out.Response.FailedEntryCount != 0 {
				b.Fatalf("publish: %v, %+v", err, out.Response)
			}
		}
		elapsed := time.Since(start)
		if got := countEvents(b, kc, stream); got != requests*perRequest {
			b.Fatalf("read back %d events, want %d", got, requests*perRequest)
		}
		rate = float64(requests*perRequest) / elapsed.Seconds()

		// The naive publisher on a fresh stream of its own: one PutRecord per
		// event, in order, each awaited. Fewer events: it is slow.
		nkc, nstream := testenv.Stream(b, cfg, 1)
		items, err := event.DecodeBatch(body(naiveEvents, 200, workflows), event.DecodeOptions{DefaultSource: "/bench"}, true, 0)
		if err != nil {
			b.Fatal(err)
		}
		ids := event.NewIDSource()
		nstart := time.Now()
		for i := range items {
			e := &items[i].Event
			e.ID, e.Time = ids.New(time.Now()), time.Now()
			_, err := nkc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(nstream), PartitionKey: aws.String(e.WorkflowID), Data: event.Append(nil, e, true)})
			if err != nil {
				b.Fatal(err)
			}
		}
		naiveRate = float64(naiveEvents) / time.Since(nstart).Seconds()
		if got := countEvents(b, nkc, nstream); got != naiveEvents {
			b.Fatalf("naive: read back %d events, want %d", got, naiveEvents)
		}
	}
	b.ReportMetric(rate, "events/s")
	b.ReportMetric(naiveRate, "naive-events/s")
	b.ReportMetric(rate/naiveRate, "ratio")
	b.ReportMetric(0, "ns/op")
}
