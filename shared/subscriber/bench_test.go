package subscriber

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/flowbus/flowbus/shared/event"
	"github.com/flowbus/flowbus/shared/kinesisevent"
	"github.com/flowbus/flowbus/shared/pattern"
)

// benchPayload is a Lambda Kinesis event of n events of about size bytes
// over workflows, as flowbus writes them: aggregated (a CloudEvents batch per
// workflow per record, up to per events) or one event per record.
func benchPayload(b *testing.B, n, size, workflows, per int) []byte {
	ids := event.NewIDSource()
	data := []byte(`{"payload":"` + strings.Repeat("x", size-14) + `"}`)
	byWF := map[string][]*event.Event{}
	var order []string
	for i := range n {
		wf := fmt.Sprintf("order-%04d", i%workflows)
		if _, ok := byWF[wf]; !ok {
			order = append(order, wf)
		}
		byWF[wf] = append(byWF[wf], &event.Event{ID: ids.New(time.Now()), IDGenerated: true, Source: "/bench",
			Type: "workflow.step.completed", WorkflowID: wf, Time: time.Now(), Data: data})
	}
	var ke events.KinesisEvent
	seq := 0
	for len(byWF) > 0 {
		for _, wf := range order {
			evs := byWF[wf]
			if len(evs) == 0 {
				delete(byWF, wf)
				continue
			}
			k := min(per, len(evs))
			seq++
			r := rec(seq, evs[:k]...)
			byWF[wf] = evs[k:]
			ke.Records = append(ke.Records, events.KinesisEventRecord{
				AwsRegion: "us-east-1", EventID: "shardId-000000000000:" + r.SequenceNumber, EventName: "aws:kinesis:record",
				EventSource: "aws:kinesis", EventSourceArn: "arn:aws:kinesis:us-east-1:000000000000:stream/flowbus-events", EventVersion: "1.0",
				Kinesis: events.KinesisRecord{Data: r.Data, PartitionKey: wf, KinesisSchemaVersion: "1.0", SequenceNumber: r.SequenceNumber,
					ApproximateArrivalTimestamp: events.SecondsEpochTime{Time: time.Now()}},
			})
		}
	}
	raw, err := json.Marshal(ke)
	if err != nil {
		b.Fatal(err)
	}
	return raw
}

// cpuTime is the process's CPU time (user and system) in nanoseconds: on a
// shared machine µs/event (wall time) includes waiting for a core,
// cpu-µs/event does not.
func cpuTime(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkSubscriberCPU is the whole handler without the function's work:
// decode the Lambda event, group by workflow, decode every event, hand it to
// a function that does nothing, answer the partial batch response. 500 events
// of 1 KB over 20 workflows. Target: ≤ 2 µs and ≤ 4 allocations per event.
func BenchmarkSubscriberCPU(b *testing.B) {
	nop := func(context.Context, event.Event) error { return nil }
	for _, tc := range []struct {
		name string
		per  int // events per record
		opts Options
	}{
		{"aggregated", 25, Options{}},
		{"one-event-per-record", 1, Options{}},
		{"aggregated-pattern-on-type", 25, Options{Pattern: pattern.MustCompile(`{"type":["workflow.step.completed"]}`, pattern.EventBridge)}},
		{"aggregated-pattern-on-data", 25, Options{Pattern: pattern.MustCompile(`{"data":{"payload":[{"prefix":"x"}]}}`, pattern.EventBridge)}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			const n = 500
			payload := benchPayload(b, n, 1024, 20, tc.per)
			s := New(nop, tc.opts)
			ctx := context.Background()
			b.SetBytes(int64(len(payload)))
			b.ReportAllocs()
			cpu := cpuTime(b)
			for b.Loop() {
				out, err := s.Invoke(ctx, payload)
				if err != nil || string(out) != "{}" && string(out) != `{"batchItemFailures":null}` {
					b.Fatalf("Invoke: %s, %v", out, err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n)/1000, "µs/event")
			b.ReportMetric(float64(cpuTime(b)-cpu)/float64(b.N*n)/1000, "cpu-µs/event")
		})
	}
}

// BenchmarkDecodeFloor is the part of BenchmarkSubscriberCPU/aggregated that
// any reader of the stream pays: the Lambda event decoded by kinesisevent
// and every record's events by event.DecodeBatch, nothing else.
func BenchmarkDecodeFloor(b *testing.B) {
	const n = 500
	payload := benchPayload(b, n, 1024, 20, 25)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	cpu := cpuTime(b)
	for b.Loop() {
		recs, err := kinesisevent.Decode(payload)
		if err != nil {
			b.Fatal(err)
		}
		intern := event.NewInterner()
		for _, r := range recs {
			if _, err := event.DecodeBatch(r.Data, event.DecodeOptions{Wire: true, Intern: intern}, false, 0); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n)/1000, "µs/event")
	b.ReportMetric(float64(cpuTime(b)-cpu)/float64(b.N*n)/1000, "cpu-µs/event")
}
