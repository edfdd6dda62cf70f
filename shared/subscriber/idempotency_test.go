package subscriber

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flowbus/flowbus/shared/event"
	"github.com/flowbus/flowbus/shared/testenv"
)

// TestDynamoStore runs the idempotency store's states against the DynamoDB
// engine: claim, complete, a finished event seen again, a live claim held
// by another instance, a crashed holder's claim expiring, release.
func TestDynamoStore(t *testing.T) {
	db, table := testenv.Table(t, testenv.AWS(t))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a := NewDynamoStore(db, table, "consumer-a")
	b := NewDynamoStore(db, table, "consumer-a") // another execution environment
	other := NewDynamoStore(db, table, "consumer-b")

	done, err := a.Start(ctx, "k1")
	if err != nil || done {
		t.Fatalf("first claim: done %v, %v", done, err)
	}
	if _, err := b.Start(ctx, "k1"); !errors.Is(err, ErrInProgress) {
		t.Errorf("claim of a live mark: %v, want ErrInProgress", err)
	}
	if done, err := other.Start(ctx, "k1"); err != nil || done {
		t.Errorf("another consumer's claim of the same key: done %v, %v; want its own", done, err)
	}
	if err := b.Complete(ctx, "k1"); err == nil {
		t.Error("an instance completed a mark it does not hold")
	}
	if err := a.Complete(ctx, "k1"); err != nil {
		t.Fatal(err)
	}
	if done, err := b.Start(ctx, "k1"); err != nil || !done {
		t.Errorf("claim of a finished event: done %v, %v; want done", done, err)
	}

	// A holder that crashed: its mark ends with its invocation's deadline.
	crashed := NewDynamoStore(db, table, "consumer-a")
	crashed.now = func() time.Time { return time.Now().Add(-time.Hour) } // its claim ended 45 minutes ago
	if done, err := crashed.Start(ctx, "k2"); err != nil || done {
		t.Fatalf("claim k2: done %v, %v", done, err)
	}
	if done, err := b.Start(ctx, "k2"); err != nil || done {
		t.Errorf("claim of an expired mark: done %v, %v; want it claimed", done, err)
	}

	// Released after a failure: claimed again at once.
	if _, err := a.Start(ctx, "k3"); err != nil {
		t.Fatal(err)
	}
	if err := b.Release(ctx, "k3"); err == nil {
		t.Error("an instance released a mark it does not hold")
	}
	if err := a.Release(ctx, "k3"); err != nil {
		t.Fatal(err)
	}
	if done, err := b.Start(ctx, "k3"); err != nil || done {
		t.Errorf("claim after release: done %v, %v", done, err)
	}

	// A finished event past its expiry is handed again.
	a.now = func() time.Time { return time.Now().Add(-2 * DefaultExpiry) }
	if _, err := a.Start(ctx, "k4"); err != nil {
		t.Fatal(err)
	}
	if err := a.Complete(ctx, "k4"); err != nil {
		t.Fatal(err)
	}
	if done, err := b.Start(ctx, "k4"); err != nil || done {
		t.Errorf("claim of an expired finished event: done %v, %v; want it claimed", done, err)
	}
}

// TestRedeliveryWithIdempotency: with the DynamoDB store, a batch delivered
// again hands nothing twice, and Lambda's retries from the lowest failed
// record after failures in two workflows finish every event exactly once,
// in order.
func TestRedeliveryWithIdempotency(t *testing.T) {
	db, table := testenv.Table(t, testenv.AWS(t))
	recs, want := batch()

	var mu sync.Mutex
	failed := map[string]bool{}
	r := newRecorder(func(e event.Event) error {
		mu.Lock()
		defer mu.Unlock()
		if (e.ID == "b3" || e.ID == "a2") && !failed[e.ID] { // each fails once
			failed[e.ID] = true
			return errors.New("injected")
		}
		return nil
	})
	s := New(r.fn, Options{Idempotency: NewDynamoStore(db, table, "redelivery")})
	res := s.Handle(context.Background(), recs)
	if got := identifiers(res); len(got) != 2 || got[0] != recs[0].SequenceNumber || got[1] != recs[4].SequenceNumber {
		t.Fatalf("reported %v, want the records of a2 and b3", got)
	}
	// Lambda delivers from the lowest: everything again.
	if rounds := lambdaRetries(t, s, recs, 5); rounds != 1 {
		t.Errorf("%d deliveries after the first, want 1", rounds)
	}
	for wf, ids := range want {
		if diff := cmp.Diff(ids, r.done[wf]); diff != "" {
			t.Errorf("%s finished (-want +got):\n%s", wf, diff)
		}
	}
	// And once more, whole, as after a timeout: nothing reaches the function.
	calls := 0
	for _, c := range r.calls {
		calls += len(c)
	}
	res = s.Handle(context.Background(), recs)
	after := 0
	for _, c := range r.calls {
		after += len(c)
	}
	if after != calls || res.Duplicates != 15 || len(res.Failures) != 0 {
		t.Errorf("redelivery: %d new calls, %d duplicates, failures %v; want 0, 15, none", after-calls, res.Duplicates, res.Failures)
	}
}
