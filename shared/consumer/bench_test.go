package consumer

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/flowbus/flowbus/shared/bus"
	"github.com/flowbus/flowbus/shared/dynamostore"
	"github.com/flowbus/flowbus/shared/event"
	"github.com/flowbus/flowbus/shared/kinesisevent"
	"github.com/flowbus/flowbus/shared/stats"
)

// nullDB answers every call at once with success, so the benchmark counts
// only flowbus's CPU: decoding and building the store's requests.
type nullDB struct{ dynamostore.API }

func (nullDB) UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	return &dynamodb.UpdateItemOutput{}, nil
}

func (nullDB) BatchWriteItem(context.Context, *dynamodb.BatchWriteItemInput, ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	return &dynamodb.BatchWriteItemOutput{}, nil
}

// capture records what a publisher puts, as a shard would.
type capture struct {
	mu   sync.Mutex
	recs []types.PutRecordsRequestEntry
}

func (c *capture) PutRecords(_ context.Context, in *kinesis.PutRecordsInput, _ ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := &kinesis.PutRecordsOutput{}
	for _, r := range in.Records {
		c.recs = append(c.recs, r)
		out.Records = append(out.Records, types.PutRecordsResultEntry{SequenceNumber: aws.String(fmt.Sprintf("4959033827149025660855969253836157109592157598913%07d", len(c.recs))), ShardId: aws.String("shardId-000000000000")})
	}
	return out, nil
}

// lambdaPayload publishes n events of size bytes over workflows through the
// real publisher and returns the Lambda event for the records it wrote.
func lambdaPayload(b *testing.B, n, size, workflows int, aggregate bool) []byte {
	ids := event.NewIDSource()
	data := []byte(`{"payload":"` + strings.Repeat("x", size-14) + `"}`)
	var evs []*event.Event
	for i := range n {
		evs = append(evs, &event.Event{ID: ids.New(time.Now()), IDGenerated: true, Source: "/bench", Type: "workflow.step.completed",
			WorkflowID: fmt.Sprintf("order-%04d", i%workflows), Time: time.Now(), Data: data})
	}
	maxRecord := 0
	if !aggregate {
		maxRecord = size + 300 // one event per record
	}
	return lambdaPayloadOf(b, evs, maxRecord)
}

// nextSeq numbers records across payloads, as a shard does.
var nextSeq int

// lambdaPayloadOf publishes evs and returns the Lambda event for the records.
func lambdaPayloadOf(b *testing.B, evs []*event.Event, maxRecordBytes int) []byte {
	c := &capture{}
	p := bus.NewPublisher(c, "s", bus.Options{MaxRecordBytes: maxRecordBytes})
	for _, r := range p.Publish(context.Background(), evs) {
		if r.Err != nil {
			b.Fatal(r.Err)
		}
	}
	ev := events.KinesisEvent{}
	for _, r := range c.recs {
		nextSeq++
		seq := fmt.Sprintf("4959033827149025660855969253836157109592157598913%07d", nextSeq)
		ev.Records = append(ev.Records, events.KinesisEventRecord{
			AwsRegion: "us-east-1", EventID: "shardId-000000000000:" + seq, EventName: "aws:kinesis:record",
			EventSource: "aws:kinesis", EventSourceArn: "arn:aws:kinesis:us-east-1:000000000000:stream/flowbus-events", EventVersion: "1.0",
			Kinesis: events.KinesisRecord{Data: r.Data, PartitionKey: aws.ToString(r.PartitionKey), KinesisSchemaVersion: "1.0",
				SequenceNumber: seq},
		})
	}
	raw, err := json.Marshal(ev)
	if err != nil {
		b.Fatal(err)
	}
	return raw
}

// BenchmarkConsumeCPU is the consume path without the network: decode the
// whole Lambda Kinesis event, de-aggregate and validate every event, and
// build the event store's writes. Target: ≤ 10 µs and ≤ 10 allocations per
// 1 KB event (encoding/json alone costs 9–20 µs and 23 allocations per
// record).
func BenchmarkConsumeCPU(b *testing.B) {
	for _, tc := range []struct {
		name      string
		aggregate bool
	}{{"aggregated", true}, {"one-event-per-record", false}} {
		b.Run(tc.name, func(b *testing.B) {
			const n = 500
			payload := lambdaPayload(b, n, 1024, 20, tc.aggregate)
			c := New(dynamostore.New(nullDB{}, "t", dynamostore.Options{}), slog.New(slog.NewTextHandler(io.Discard, nil))).
				WithStats(stats.NewRecorder(nullDB{}, "t")) // the batch's figures are part of the path
			ctx := context.Background()
			b.SetBytes(int64(len(payload)))
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			b.ResetTimer()
			for b.Loop() {
				recs, err := kinesisevent.Decode(payload)
				if err != nil {
					b.Fatal(err)
				}
				retry, st := c.Handle(ctx, recs)
				if len(retry) != 0 || st.Stored != n {
					b.Fatalf("stored %d of %d, failures %v", st.Stored, n, retry)
				}
			}
			b.StopTimer()
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n/1000, "µs/event")
			b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N)/n, "allocs/event")
			b.ReportMetric(0, "ns/op")
		})
	}
}
