package bus

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/google/go-cmp/cmp"

	"github.com/flowbus/flowbus/shared/event"
)

// flakyStream is a fake Kinesis that appends accepted records to a log, the
// way a shard does, and fails a chosen share of entries the way PutRecords
// may: each entry on its own, later entries still succeeding.
type flakyStream struct {
	mu       sync.Mutex
	rng      *rand.Rand
	failRate float64
	failAll  bool // every entry fails
	calls    int
	maxCall  int // most records seen in one call
	log      []types.PutRecordsRequestEntry
}

func (f *flakyStream) PutRecords(_ context.Context, in *kinesis.PutRecordsInput, _ ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	f.maxCall = max(f.maxCall, len(in.Records))
	size := 0
	for _, r := range in.Records {
		size += len(r.Data) + len(aws.ToString(r.PartitionKey))
	}
	if len(in.Records) > MaxCallRecords || size > MaxCallBytes {
		return nil, &types.InvalidArgumentException{Message: aws.String("too big")}
	}
	out := &kinesis.PutRecordsOutput{}
	for _, r := range in.Records {
		if f.failAll || f.rng.Float64() < f.failRate {
			code := CodeThroughputExceeded
			if f.rng.IntN(2) == 0 {
				code = CodeInternalFailure
			}
			out.Records = append(out.Records, types.PutRecordsResultEntry{ErrorCode: aws.String(code), ErrorMessage: aws.String("injected")})
			out.FailedRecordCount = aws.Int32(aws.ToInt32(out.FailedRecordCount) + 1)
			continue
		}
		f.log = append(f.log, r)
		seq := fmt.Sprintf("%056d", len(f.log))
		out.Records = append(out.Records, types.PutRecordsResultEntry{SequenceNumber: aws.String(seq), ShardId: aws.String("shardId-000000000000")})
	}
	return out, nil
}

// readBack decodes the log and returns each workflow's event ids in stream order.
func (f *flakyStream) readBack(t *testing.T) map[string][]string {
	t.Helper()
	got := make(map[string][]string)
	for _, r := range f.log {
		items, err := event.DecodeBatch(r.Data, event.DecodeOptions{Wire: true}, false, 0)
		if err != nil {
			t.Fatalf("record %s: %v", r.Data, err)
		}
		for _, it := range items {
			if it.Err != nil {
				t.Fatalf("record event: %v", it.Err)
			}
			if it.Event.WorkflowID != aws.ToString(r.PartitionKey) {
				t.Fatalf("event of %s in a record keyed %s", it.Event.WorkflowID, aws.ToString(r.PartitionKey))
			}
			got[it.Event.WorkflowID] = append(got[it.Event.WorkflowID], it.Event.ID)
		}
	}
	return got
}

func noSleep(context.Context, time.Duration) error { return nil }

func interleaved(workflows, perWorkflow, dataBytes int) []*event.Event {
	data := []byte(`"` + strings.Repeat("x", dataBytes) + `"`)
	var evs []*event.Event
	for n := range perWorkflow {
		for w := range workflows {
			evs = append(evs, &event.Event{
				ID: fmt.Sprintf("wf%d-%04d", w, n), Source: "/test", Type: "step.done",
				WorkflowID: fmt.Sprintf("wf%d", w), Data: data,
			})
		}
	}
	return evs
}

func wantOrder(evs []*event.Event) map[string][]string {
	want := make(map[string][]string)
	for _, e := range evs {
		want[e.WorkflowID] = append(want[e.WorkflowID], e.ID)
	}
	return want
}

func TestPublishKeepsOrderUnderPartialFailures(t *testing.T) {
	for _, rate := range []float64{0, 0.2, 0.5} {
		t.Run(fmt.Sprintf("fail %.0f%%", rate*100), func(t *testing.T) {
			stream := &flakyStream{rng: rand.New(rand.NewPCG(1, uint64(rate*100))), failRate: rate}
			// Small records force several records per workflow per call.
			p := NewPublisher(stream, "s", Options{MaxAttempts: 50, MaxRecordBytes: 2000})
			p.sleep = noSleep
			evs := interleaved(50, 100, 100)
			results := p.Publish(context.Background(), evs)
			for i, r := range results {
				if r.Err != nil {
					t.Fatalf("event %d: %v", i, r.Err)
				}
				if r.SequenceNumber == "" {
					t.Fatalf("event %d has no sequence number", i)
				}
			}
			if diff := cmp.Diff(wantOrder(evs), stream.readBack(t)); diff != "" {
				t.Errorf("stream order (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPublishHoldsBackAfterFinalFailure(t *testing.T) {
	stream := &flakyStream{rng: rand.New(rand.NewPCG(2, 2)), failAll: true}
	p := NewPublisher(stream, "s", Options{MaxAttempts: 3, MaxRecordBytes: 600})
	p.sleep = noSleep
	evs := interleaved(2, 10, 100)
	results := p.Publish(context.Background(), evs)
	codes := map[string]int{}
	for _, r := range results {
		if r.Err == nil {
			t.Fatalf("an event went out although every put failed")
		}
		codes[r.Err.Code]++
	}
	if codes[CodeEarlierFailed] == 0 {
		t.Errorf("codes %v: want later records held back with %s", codes, CodeEarlierFailed)
	}
	if len(stream.log) != 0 {
		t.Errorf("stream holds %d records, want none", len(stream.log))
	}
	// Two workflows, three attempts each for the first record: six entries in three calls.
	if stream.calls != 3 {
		t.Errorf("calls = %d, want 3 (one per attempt, both workflows in each)", stream.calls)
	}
}

func TestPublishSplitsCalls(t *testing.T) {
	stream := &flakyStream{rng: rand.New(rand.NewPCG(3, 3))}
	p := NewPublisher(stream, "s", Options{})
	p.sleep = noSleep
	// 700 workflows: more records than one call may carry.
	evs := interleaved(700, 1, 10)
	// And one workflow with 12 MiB of events: several records, several calls.
	big := `"` + strings.Repeat("y", 900<<10) + `"`
	for n := range 14 {
		evs = append(evs, &event.Event{ID: fmt.Sprintf("big-%02d", n), Source: "/t", Type: "t", WorkflowID: "big", Data: []byte(big)})
	}
	results := p.Publish(context.Background(), evs)
	for i, r := range results {
		if r.Err != nil {
			t.Fatalf("event %d: %v", i, r.Err)
		}
	}
	if stream.maxCall > MaxCallRecords {
		t.Errorf("a call carried %d records, more than %d", stream.maxCall, MaxCallRecords)
	}
	if diff := cmp.Diff(wantOrder(evs), stream.readBack(t)); diff != "" {
		t.Errorf("stream order (-want +got):\n%s", diff)
	}
}

func TestPublishRejectsOversizeEvent(t *testing.T) {
	stream := &flakyStream{rng: rand.New(rand.NewPCG(4, 4))}
	p := NewPublisher(stream, "s", Options{})
	huge := &event.Event{ID: "huge", Source: "/t", Type: "t", WorkflowID: "w", Data: []byte(`"` + strings.Repeat("z", 1<<20) + `"`)}
	small := &event.Event{ID: "small", Source: "/t", Type: "t", WorkflowID: "w", Data: []byte(`1`)}
	results := p.Publish(context.Background(), []*event.Event{huge, small})
	if results[0].Err == nil || results[0].Err.Code != CodeTooLarge {
		t.Errorf("oversize event: got %v, want %s", results[0].Err, CodeTooLarge)
	}
	if results[1].Err != nil {
		t.Errorf("small event: %v", results[1].Err)
	}
}
