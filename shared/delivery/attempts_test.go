package delivery

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flowbus/flowbus/shared/testenv"
	"github.com/flowbus/flowbus/shared/webhook"
)

// fakeAttempts is an AttemptCounter in memory.
type fakeAttempts struct {
	mu sync.Mutex
	n  map[string]int
}

func (f *fakeAttempts) Failed(_ context.Context, sub, wf, id string, _ time.Time) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n[sub+"/"+wf+"/"+id]++
	return f.n[sub+"/"+wf+"/"+id], nil
}

func (f *fakeAttempts) Clear(_ context.Context, sub, wf, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.n, sub+"/"+wf+"/"+id)
	return nil
}

// A message waiting behind a failing one in its group is received again each
// round, so its receive count grows without its own delivery being
// attempted: it is dead-lettered only after attempts of its own.
func TestWaitingBehindAFailureSpendsNoAttempts(t *testing.T) {
	sub := httpSub("a")
	sub.Delivery.RetryAttempts = 2
	f := newFixture(t, sub)
	tries := &fakeAttempts{n: map[string]int{}}
	f.d.tries = tries
	failing := webhook.Result{Outcome: webhook.Retry, Status: 500, Err: errors.New("500")}
	f.hook.answers["e1"] = failing
	f.hook.answers["e2"] = failing
	// Rounds 1–3: e1 fails each time (its third attempt is past the 2
	// retries: dead-lettered); e2 waits behind it, received each round.
	for round := 1; round <= 3; round++ {
		res, _ := f.d.Deliver(context.Background(), []Message{f.msg("a", "wf", "e1", round, time.Second), f.msg("a", "wf", "e2", round, time.Second)})
		if round < 3 && len(res.Failures) != 2 {
			t.Fatalf("round %d: failures %v, want both held back", round, res.Failures)
		}
	}
	// Round 3 also made e2's first attempt (received 3 times): it failed,
	// and is retried, not dead-lettered.
	if len(f.dl.entries) != 1 || f.dl.entries[0].EventID != "e1" || f.dl.entries[0].Attempts != 3 {
		t.Fatalf("dead letters %+v, want e1 alone after its 3 attempts", f.dl.entries)
	}
	if diff := cmp.Diff(map[string]int{"a/wf/e2": 1}, tries.n); diff != "" {
		t.Errorf("attempt counts (-want +got):\n%s", diff)
	}
	// Round 4: e2's second attempt is delivered; its count is cleared.
	delete(f.hook.answers, "e2")
	res, _ := f.d.Deliver(context.Background(), []Message{f.msg("a", "wf", "e2", 4, time.Second)})
	if len(res.Failures) != 0 || len(f.dl.entries) != 1 {
		t.Errorf("failures %v, dead letters %+v; want e2 delivered", res.Failures, f.dl.entries)
	}
	if diff := cmp.Diff([]string{"e2"}, f.hook.delivered); diff != "" {
		t.Errorf("delivered (-want +got):\n%s", diff)
	}
	if len(tries.n) != 0 {
		t.Errorf("counts left %v, want none", tries.n)
	}
}

// Attempts counts in the table (dynalite): one more per failure, from zero
// again once cleared.
func TestAttemptsThroughEngines(t *testing.T) {
	cfg := testenv.AWS(t)
	ctx := context.Background()
	db, tbl := testenv.Table(t, cfg)
	a := NewAttempts(db, tbl)
	var got []int
	for range 3 {
		n, err := a.Failed(ctx, "hook", "wf", "e1", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, n)
	}
	if n, err := a.Failed(ctx, "hook", "wf", "e2", time.Now()); err != nil || n != 1 {
		t.Errorf("another event: %d %v, want 1", n, err)
	}
	if err := a.Clear(ctx, "hook", "wf", "e1"); err != nil {
		t.Fatal(err)
	}
	n, err := a.Failed(ctx, "hook", "wf", "e1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int{1, 2, 3, 1}, append(got, n)); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
}

// A pack's progress in the table (dynalite): none at first, what was set,
// none again once cleared; packs and subscriptions apart.
func TestProgressThroughEngines(t *testing.T) {
	cfg := testenv.AWS(t)
	ctx := context.Background()
	db, tbl := testenv.Table(t, cfg)
	a := NewAttempts(db, tbl)
	read := func(sub, pack string) int {
		t.Helper()
		n, err := a.Progress(ctx, sub, pack)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := read("hook", "hook/=p1"); n != 0 {
		t.Errorf("progress before any = %d", n)
	}
	for _, done := range []int{3, 7} {
		if err := a.SetProgress(ctx, "hook", "hook/=p1", done, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.SetProgress(ctx, "other", "hook/=p1", 2, time.Now()); err != nil {
		t.Fatal(err)
	}
	if got := []int{read("hook", "hook/=p1"), read("hook", "hook/=p2"), read("other", "hook/=p1")}; !cmp.Equal(got, []int{7, 0, 2}) {
		t.Errorf("progress = %v, want [7 0 2]", got)
	}
	if err := a.ClearProgress(ctx, "hook", "hook/=p1"); err != nil {
		t.Fatal(err)
	}
	if n := read("hook", "hook/=p1"); n != 0 {
		t.Errorf("progress after the clear = %d", n)
	}
}

// Event ids are unique within a workflow only: two workflows' deliveries of
// the same id keep counts of their own, and clearing one leaves the other.
func TestAttemptsOfWorkflowsApart(t *testing.T) {
	cfg := testenv.AWS(t)
	ctx := context.Background()
	db, tbl := testenv.Table(t, cfg)
	a := NewAttempts(db, tbl)
	for range 2 {
		if _, err := a.Failed(ctx, "hook", "wf-a", "step-1", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	// "a#b" then "c" and "a" then "b#c" must not meet in one key either.
	if n, err := a.Failed(ctx, "hook", "wf-b", "step-1", time.Now()); err != nil || n != 1 {
		t.Errorf("wf-b's first failure counted %d (%v), want 1", n, err)
	}
	if _, err := a.Failed(ctx, "hook", "x#y", "z", time.Now()); err != nil {
		t.Fatal(err)
	}
	if n, err := a.Failed(ctx, "hook", "x", "y#z", time.Now()); err != nil || n != 1 {
		t.Errorf("(x, y#z) counted %d (%v), want 1: it met (x#y, z)", n, err)
	}
	if err := a.Clear(ctx, "hook", "wf-b", "step-1"); err != nil {
		t.Fatal(err)
	}
	if n, err := a.Failed(ctx, "hook", "wf-a", "step-1", time.Now()); err != nil || n != 3 {
		t.Errorf("wf-a's third failure counted %d (%v), want 3: clearing wf-b's count touched it", n, err)
	}
}
