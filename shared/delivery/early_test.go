package delivery

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/flowbus/flowbus/shared/event"
	"github.com/flowbus/flowbus/shared/webhook"
)

// deletingQueue is fakeQueue with DeleteMessageBatch.
type deletingQueue struct {
	*fakeQueue
	mu      sync.Mutex
	deleted []string // receipt handles
	calls   int
}

func (q *deletingQueue) DeleteMessageBatch(_ context.Context, in *sqs.DeleteMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.calls++
	for _, e := range in.Entries {
		q.deleted = append(q.deleted, aws.ToString(e.ReceiptHandle))
	}
	return &sqs.DeleteMessageBatchOutput{}, nil
}

func (q *deletingQueue) handles() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := slices.Clone(q.deleted)
	slices.Sort(out)
	return out
}

// holdingHook holds the delivery of event hold until release is closed;
// the others answer as fakeHook does.
type holdingHook struct {
	*fakeHook
	hold    string
	release chan struct{}
}

func (h *holdingHook) Deliver(ctx context.Context, t webhook.Target, e *event.Event) webhook.Result {
	if e.ID == h.hold {
		<-h.release
	}
	return h.fakeHook.Deliver(ctx, t, e)
}

// TestEarlyDeleteUnlocksFinishedGroups: a target that holds its delivery
// holds the batch, but not the other groups of the batch: their handled
// messages are deleted while it waits (so the FIFO queue gives their next
// ones), the held group's and a failed group's are not.
func TestEarlyDeleteUnlocksFinishedGroups(t *testing.T) {
	f := newFixture(t, httpSub("slow"), httpSub("fast"))
	q := &deletingQueue{fakeQueue: f.queue}
	hook := &holdingHook{fakeHook: f.hook, hold: "e1", release: make(chan struct{})}
	f.d.queue, f.d.targets.Webhook, f.d.earlyDeleteAfter = q, hook, 10*time.Millisecond
	f.hook.answers["e5"] = webhook.Result{Outcome: webhook.Retry, Status: 503, Err: errors.New("503")}
	msgs := []Message{
		f.msg("slow", "wf1", "e1", 1, time.Second), // held
		f.msg("fast", "wf1", "e2", 1, time.Second),
		f.msg("fast", "wf1", "e3", 1, time.Second),
		f.msg("fast", "wf2", "e4", 1, time.Second),
		f.msg("fast", "wf3", "e5", 1, time.Second), // fails: its group holds
		f.msg("fast", "wf3", "e6", 1, time.Second),
	}
	type answer struct {
		res Result
		err error
	}
	done := make(chan answer, 1)
	go func() {
		res, err := f.d.Deliver(context.Background(), msgs)
		done <- answer{res, err}
	}()
	want := []string{"rh-e2", "rh-e3", "rh-e4"}
	deadline := time.Now().Add(10 * time.Second)
	for !slices.Equal(q.handles(), want) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := q.handles(); !slices.Equal(got, want) {
		t.Errorf("deleted while e1 was held: %v, want %v", got, want)
	}
	close(hook.release)
	a := <-done
	if a.err != nil {
		t.Fatal(a.err)
	}
	if want := []string{msgs[4].ID, msgs[5].ID}; !slices.Equal(a.res.Failures, want) {
		t.Errorf("failures %v, want %v", a.res.Failures, want)
	}
	if got := q.handles(); !slices.Equal(got, want) {
		t.Errorf("deleted by the deliverer: %v, want only %v: the last group's are left to the event source mapping", got, want)
	}
}

// TestNoEarlyDeleteForQuickBatches: a batch done before EarlyDeleteAfter
// costs no delete call.
func TestNoEarlyDeleteForQuickBatches(t *testing.T) {
	f := newFixture(t, httpSub("a"))
	q := &deletingQueue{fakeQueue: f.queue}
	f.d.queue = q
	msgs := []Message{f.msg("a", "wf1", "e1", 1, time.Second), f.msg("a", "wf2", "e2", 1, time.Second)}
	res, err := f.d.Deliver(context.Background(), msgs)
	if err != nil || len(res.Failures) != 0 {
		t.Fatalf("Deliver = %+v, %v", res, err)
	}
	if q.calls != 0 {
		t.Errorf("%d DeleteMessageBatch calls for a batch done at once, want 0", q.calls)
	}
}
