package consumer

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/flowbus/flowbus/shared/dynamostore"
	"github.com/flowbus/flowbus/shared/event"
	"github.com/flowbus/flowbus/shared/kinesisevent"
	"github.com/flowbus/flowbus/shared/table"
	"github.com/flowbus/flowbus/shared/testenv"
)

// countingDB counts the items and calls that reach DynamoDB.
type countingDB struct {
	dynamostore.API
	items, calls atomic.Int64
}

func (c *countingDB) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, o ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	for _, reqs := range in.RequestItems {
		c.items.Add(int64(len(reqs)))
	}
	c.calls.Add(1)
	return c.API.BatchWriteItem(ctx, in, o...)
}

func (c *countingDB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	c.calls.Add(1)
	return c.API.UpdateItem(ctx, in, o...)
}

func (c *countingDB) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	c.calls.Add(1)
	return c.API.BatchGetItem(ctx, in, o...)
}

// rawBatchWrites is dynalite's own pace: items of itemBytes written with
// BatchWriteItem, 25 per call, conc calls at once, for about d.
func rawBatchWrites(b *testing.B, db dynamostore.API, tableName string, itemBytes, conc int, d time.Duration) float64 {
	ctx := context.Background()
	payload := []byte(strings.Repeat("r", itemBytes))
	var written atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; time.Since(start) < d; n++ {
				reqs := make([]types.WriteRequest, 25)
				for i := range reqs {
					reqs[i] = types.WriteRequest{PutRequest: &types.PutRequest{Item: map[string]types.AttributeValue{
						table.PK:       &types.AttributeValueMemberS{Value: table.WorkflowPK(fmt.Sprintf("raw-%d", w))},
						table.SK:       &types.AttributeValueMemberS{Value: table.PositionSK(uint64(n*25 + i))},
						table.AttrData: &types.AttributeValueMemberB{Value: payload},
					}}}
				}
				out, err := db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{tableName: reqs}})
				if err != nil {
					b.Error(err)
					return
				}
				written.Add(int64(25 - len(out.UnprocessedItems[tableName])))
			}
		}()
	}
	wg.Wait()
	return float64(written.Load()) / time.Since(start).Seconds()
}

// BenchmarkStoreThroughput measures, against the engine, events stored per
// second by the consume path (decode the Lambda event, append each
// workflow's events) and the engine's own BatchWriteItem items per second for
// items of the same size, and reports their ratio (target ≥ 0.5) and the
// DynamoDB items written per event (target ≤ 1 plus a small per-workflow
// cost). dynalite's pace drifts as it fills and collects garbage, so the two
// are measured alternately, each on a fresh table, three times, and the
// median ratio is reported.
func BenchmarkStoreThroughput(b *testing.B) {
	cfg := testenv.AWS(b)
	for _, tc := range []struct {
		name        string
		producerIDs bool
	}{{"generated-ids", false}, {"producer-ids", true}} {
		b.Run(tc.name, func(b *testing.B) {
			const rounds, batches, perBatch, workflows = 3, 20, 500, 20
			var ratios, rates, raws []float64
			var items, calls, stored int64
			for range b.N * rounds {
				db, table := testenv.Table(b, cfg)
				raws = append(raws, rawBatchWrites(b, db, table, 1100, 4, 2*time.Second))

				db, table = testenv.Table(b, cfg)
				counting := &countingDB{API: db}
				c := New(dynamostore.New(counting, table, dynamostore.Options{}), slog.New(slog.NewTextHandler(io.Discard, nil)))
				payloads := make([][]byte, batches)
				for i := range payloads {
					payloads[i] = lambdaPayload(b, perBatch, 1024, workflows, true)
					if tc.producerIDs {
						payloads[i] = producerIDs(b, payloads[i])
					}
				}
				n := 0
				start := time.Now()
				for _, p := range payloads {
					recs, err := kinesisevent.Decode(p)
					if err != nil {
						b.Fatal(err)
					}
					retry, st := c.Handle(context.Background(), recs)
					if len(retry) > 0 || st.Stored != perBatch {
						b.Fatalf("stored %d of %d, failures %v", st.Stored, perBatch, retry)
					}
					n += st.Stored
				}
				rates = append(rates, float64(n)/time.Since(start).Seconds())
				ratios = append(ratios, rates[len(rates)-1]/raws[len(raws)-1])
				items += counting.items.Load()
				calls += counting.calls.Load()
				stored += int64(n)
			}
			b.ReportMetric(median(rates), "events/s")
			b.ReportMetric(median(raws), "raw-items/s")
			b.ReportMetric(median(ratios), "ratio")
			b.ReportMetric(float64(items)/float64(stored), "items/event")
			b.ReportMetric(float64(calls)/float64(b.N*rounds*batches*workflows), "calls/workflow-batch")
			b.ReportMetric(0, "ns/op")
		})
	}
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	slices.Sort(s)
	return s[len(s)/2]
}

// producerIDs rewrites a payload's events so their ids count as chosen by
// the producer (the store then keeps an id marker for each).
func producerIDs(b *testing.B, payload []byte) []byte {
	recs, err := kinesisevent.Decode(payload)
	if err != nil {
		b.Fatal(err)
	}
	var evs []*event.Event
	for _, r := range recs {
		in, _ := Decode(nil, r, nil)
		for _, x := range in {
			x.Event.IDGenerated = false
			evs = append(evs, x.Event)
		}
	}
	return lambdaPayloadOf(b, evs, 0)
}
