package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/google/go-cmp/cmp"

	"github.com/flowbus/flowbus/shared/bus"
	"github.com/flowbus/flowbus/shared/consumer"
	"github.com/flowbus/flowbus/shared/dynamostore"
	"github.com/flowbus/flowbus/shared/eventstore"
	"github.com/flowbus/flowbus/shared/ingest"
	"github.com/flowbus/flowbus/shared/testenv"
)

// flakyKinesis sends a random share of each PutRecords call's entries to the
// real stream and reports the others failed, as PutRecords may.
type flakyKinesis struct {
	real     bus.KinesisAPI
	mu       sync.Mutex
	rng      *rand.Rand
	failRate float64
	injected int
}

func (f *flakyKinesis) PutRecords(ctx context.Context, in *kinesis.PutRecordsInput, o ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
	f.mu.Lock()
	fail := make([]bool, len(in.Records))
	var pass []types.PutRecordsRequestEntry
	for i, r := range in.Records {
		fail[i] = f.rng.Float64() < f.failRate
		if fail[i] {
			f.injected++
		} else {
			pass = append(pass, r)
		}
	}
	f.mu.Unlock()
	var real *kinesis.PutRecordsOutput
	if len(pass) > 0 {
		sub := *in
		sub.Records = pass
		var err error
		if real, err = f.real.PutRecords(ctx, &sub, o...); err != nil {
			return nil, err
		}
	}
	out := &kinesis.PutRecordsOutput{}
	k := 0
	for i := range in.Records {
		if fail[i] {
			out.Records = append(out.Records, types.PutRecordsResultEntry{ErrorCode: aws.String(bus.CodeThroughputExceeded), ErrorMessage: aws.String("injected")})
			continue
		}
		out.Records = append(out.Records, real.Records[k])
		k++
	}
	return out, nil
}

// flakyStore fails the first append of chosen workflows, as throttling would.
type flakyStore struct {
	consumer.Appender
	mu       sync.Mutex
	failOnce map[string]bool
}

var errThrottled = errors.New("injected throttling")

func (f *flakyStore) Append(ctx context.Context, wf string, in []eventstore.Incoming) (eventstore.AppendResult, error) {
	f.mu.Lock()
	fail := f.failOnce[wf]
	delete(f.failOnce, wf)
	f.mu.Unlock()
	if fail {
		return eventstore.AppendResult{}, errThrottled
	}
	return f.Appender.Append(ctx, wf, in)
}

// lambdaRun feeds the shard's records to the handler the way an event source
// mapping with ReportBatchItemFailures does: batches of batchSize, and after
// a reported failure the next batch starts at the lowest failed record.
func lambdaRun(t *testing.T, h lambda.Handler, shardID, arn string, recs []types.Record, batchSize int) (invocations, retried int) {
	t.Helper()
	pos := 0
	for pos < len(recs) {
		batch := recs[pos:min(pos+batchSize, len(recs))]
		out, err := h.Invoke(context.Background(), testenv.LambdaEvent(t, shardID, arn, batch))
		if err != nil {
			t.Fatalf("invoke: %v", err)
		}
		invocations++
		var resp events.KinesisEventResponse
		if err := json.Unmarshal(out, &resp); err != nil {
			t.Fatalf("response %s: %v", out, err)
		}
		next := pos + len(batch)
		for _, f := range resp.BatchItemFailures {
			for i, r := range batch {
				if aws.ToString(r.SequenceNumber) == f.ItemIdentifier && pos+i < next {
					next = pos + i
				}
			}
		}
		if next < pos+len(batch) {
			retried++
		}
		if next == pos {
			t.Fatalf("no progress at record %d", pos)
		}
		pos = next
	}
	return invocations, retried
}

func TestPipeline(t *testing.T) {
	cfg := testenv.AWS(t)
	kc, stream := testenv.Stream(t, cfg, 1)
	db, table := testenv.Table(t, cfg)
	ctx := context.Background()

	flaky := &flakyKinesis{real: kc, rng: rand.New(rand.NewPCG(7, 7)), failRate: 0.3}
	svc := ingest.New(bus.NewPublisher(flaky, stream, bus.Options{MaxAttempts: 30, MaxRecordBytes: 4096}), 500, "/test", nil)

	// 50 workflows × 100 events, interleaved, in requests of 250 events.
	const workflows, perWorkflow = 50, 100
	var all []string
	for n := range perWorkflow {
		for w := range workflows {
			all = append(all, fmt.Sprintf(`{"type":"step.done","workflow_id":"wf-%02d","id":"wf-%02d-%03d","data":{"n":%d}}`, w, w, n, n))
		}
	}
	want := make(map[string][]string)
	for start := 0; start < len(all); start += 250 {
		body := "[" + strings.Join(all[start:start+250], ",") + "]"
		out, err := svc.Publish(ctx, []byte(body), ingest.Events)
		if err != nil || out.NothingSent || out.Response.FailedEntryCount != 0 {
			t.Fatalf("publish: %v, %+v", err, out.Response)
		}
		for _, e := range out.Response.Entries {
			wf := e.ID[:len("wf-00")]
			want[wf] = append(want[wf], e.ID)
		}
	}
	if flaky.injected == 0 {
		t.Fatal("no partial failure was injected")
	}

	// A poison record for one more workflow, then valid events after it.
	if _, err := kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(stream), PartitionKey: aws.String("poisoned"), Data: []byte("not an event")}); err != nil {
		t.Fatal(err)
	}
	out, err := svc.Publish(ctx, []byte(`[{"type":"a","workflow_id":"poisoned","id":"p1"},{"type":"a","workflow_id":"wf-00","id":"after-poison"}]`), ingest.Events)
	if err != nil || out.NothingSent || out.Response.FailedEntryCount != 0 {
		t.Fatalf("publish: %v, %+v", err, out.Response)
	}
	want["wf-00"] = append(want["wf-00"], "after-poison")

	shardID, arn, recs := testenv.ReadShard(t, kc, stream)
	store := dynamostore.New(db, table, dynamostore.Options{})
	flakyS := &flakyStore{Appender: store, failOnce: map[string]bool{"wf-07": true, "wf-33": true}}
	h := &handler{consumer: consumer.New(flakyS, slog.New(slog.NewTextHandler(io.Discard, nil))), log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	invocations, retried := lambdaRun(t, lambda.NewHandler(h), shardID, arn, recs, 40)
	if retried == 0 {
		t.Error("no batch was retried although appends failed")
	}
	// Lambda delivers at least once: the whole shard again changes nothing.
	lambdaRun(t, lambda.NewHandler(h), shardID, arn, recs, 25)
	t.Logf("%d records in %d invocations, %d partial failures retried, %d put entries failed by injection", len(recs), invocations, retried, flaky.injected)

	for wf, ids := range want {
		var got []string
		q := eventstore.Query{Limit: 1000}
		page, err := store.Read(ctx, wf, q)
		if err != nil {
			t.Fatal(err)
		}
		for i, e := range page.Events {
			if e.Sequence != uint64(i+1) {
				t.Fatalf("%s: event %s at %d, want %d", wf, e.ID, e.Sequence, i+1)
			}
			got = append(got, e.ID)
		}
		if diff := cmp.Diff(ids, got); diff != "" {
			t.Errorf("%s history (-want +got):\n%s", wf, diff)
		}
	}
	parked, err := store.ListParked(ctx)
	if err != nil || len(parked) != 1 || parked[0].WorkflowID != "poisoned" {
		t.Fatalf("parked = %+v, %v; want the poisoned workflow only", parked, err)
	}
	if entries, _ := store.Parked(ctx, "poisoned"); len(entries) != 2 {
		t.Errorf("poisoned workflow has %d parked entries, want the poison record and the event behind it", len(entries))
	}
}
