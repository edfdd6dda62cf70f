package route

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/flowbus/flowbus/shared/kinesisevent"
)

// acceptAll is a queue that accepts every entry at no cost.
type acceptAll struct{}

func (acceptAll) SendMessageBatch(_ context.Context, in *sqs.SendMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	out := &sqs.SendMessageBatchOutput{Successful: make([]types.SendMessageBatchResultEntry, len(in.Entries))}
	for i, e := range in.Entries {
		out.Successful[i] = types.SendMessageBatchResultEntry{Id: e.Id, MessageId: aws.String("m")}
	}
	return out, nil
}

// BenchmarkRoute routes a batch of 100 records of one event each, over 100
// workflows, against 1,000 subscriptions on 20 types and 50 sources: each
// event matches exactly one subscription. ns/op is per batch; ns/event is
// the routing cost per event (decode, match, message body, the send loop;
// the queue itself costs nothing here).
func BenchmarkRoute(b *testing.B) {
	for _, n := range []int{0, 1000} {
		b.Run(fmt.Sprintf("subscriptions=%d", n), func(b *testing.B) {
			var kv []string
			for i := range n {
				kv = append(kv, fmt.Sprint("sub-", i), fmt.Sprintf(`{"type":["t-%d"],"source":["s-%d"]}`, i%20, i/20))
			}
			r, err := New(Config{QueueURL: "http://q/000000000000/d.fifo"}, &fakeSource{subs: subs(b, kv...)}, acceptAll{}, nil)
			if err != nil {
				b.Fatal(err)
			}
			if n == 0 {
				// Match but send nothing: one subscription that never matches.
				r.src = &fakeSource{subs: subs(b, "never", `{"type":["never"]}`)}
			}
			records := make([]kinesisevent.Record, 100)
			for i := range records {
				wf := fmt.Sprint("wf-", i)
				data := fmt.Sprintf(`{"specversion":"1.0","id":"e-%d","source":"s-%d","type":"t-%d","workflowid":%q,"time":"2026-01-01T00:00:00Z","data":{"order":%d,"status":"ok","items":[1,2,3]}}`,
					i, i%50, i%20, wf, i)
				records[i] = kinesisevent.Record{PartitionKey: wf, SequenceNumber: fmt.Sprint(i), Data: []byte(data), ShardID: "shardId-0"}
			}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, _, err := r.Route(ctx, records); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(records)), "ns/event")
		})
	}
}

// BenchmarkRoutePacked routes 13 records of 8 events each (a publish
// request of ~100 events over 13 workflows, as the publisher aggregates
// them) to one subscription matching every event: one packed message per
// record, against one message per event before packing.
func BenchmarkRoutePacked(b *testing.B) {
	r, err := New(Config{QueueURL: "http://q/000000000000/d.fifo"}, &fakeSource{subs: subs(b, "all", `{"type":["t"]}`)}, acceptAll{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	records := make([]kinesisevent.Record, 13)
	for i := range records {
		wf := fmt.Sprint("wf-", i)
		evs := make([]string, 8)
		for k := range evs {
			evs[k] = fmt.Sprintf(`{"specversion":"1.0","id":"e-%d-%d","source":"s","type":"t","workflowid":%q,"time":"2026-01-01T00:00:00Z","data":{"order":%d,"status":"ok","items":[1,2,3]}}`, i, k, wf, k)
		}
		records[i] = kinesisevent.Record{PartitionKey: wf, SequenceNumber: fmt.Sprint(i), Data: []byte("[" + strings.Join(evs, ",") + "]"), ShardID: "shardId-0"}
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		_, st, err := r.Route(ctx, records)
		if err != nil || st.Messages != len(records) || st.Sent != 8*len(records) {
			b.Fatalf("Route: %+v, %v", st, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*8*len(records)), "ns/event")
}
