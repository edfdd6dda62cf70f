package delivery_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/flowbus/flowbus/shared/delivery"
	"github.com/flowbus/flowbus/shared/testenv"
)

// Forget empties a subscription's delivery partition (figures, dead
// letters, attempt counts) and leaves other subscriptions' alone.
func TestForgetEmptiesOnlyItsSubscription(t *testing.T) {
	ctx := context.Background()
	cfg := testenv.AWS(t)
	db, tbl := testenv.Table(t, cfg)
	dead, figures, attempts := delivery.NewDeadLetters(db, tbl), delivery.NewRecorder(db, tbl), delivery.NewAttempts(db, tbl)
	now := time.Now()
	for _, sub := range []string{"reuse", "other"} {
		// More dead letters than one page of deletes holds.
		for i := range 30 {
			e := delivery.Entry{Subscription: sub, EventID: fmt.Sprintf("e%02d", i), WorkflowID: "wf", Event: json.RawMessage(`{"id":"x"}`),
				Error: "endpoint answered 302", Attempts: 1, At: now}
			if err := dead.Put(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		if err := figures.Record(ctx, delivery.Figures{sub: {Matched: 30, DeadLettered: 30}}, now); err != nil {
			t.Fatal(err)
		}
		if _, err := attempts.Failed(ctx, sub, "wf", "e99", now); err != nil {
			t.Fatal(err)
		}
	}

	removed, err := dead.Forget(ctx, "reuse")
	if err != nil || removed < 32 {
		t.Fatalf("forget: %d removed, %v", removed, err)
	}
	page, err := dead.List(ctx, "reuse", "", 100)
	if err != nil || len(page.Entries) != 0 {
		t.Errorf("dead letters of reuse after forget: %d, %v", len(page.Entries), err)
	}
	if st, err := figures.Status(ctx, "reuse", now); err != nil || st != (delivery.Status{}) {
		t.Errorf("status of reuse after forget: %+v, %v", st, err)
	}
	if n, err := attempts.Failed(ctx, "reuse", "wf", "e99", now); err != nil || n != 1 {
		t.Errorf("attempts of reuse after forget: %d, %v; want counting from 1 again", n, err)
	}
	// The other subscription keeps everything.
	page, err = dead.List(ctx, "other", "", 100)
	if err != nil || len(page.Entries) != 30 {
		t.Errorf("dead letters of other: %d, %v", len(page.Entries), err)
	}
	if st, err := figures.Status(ctx, "other", now); err != nil || st.Matched != 30 || st.DeadLettered != 30 {
		t.Errorf("status of other: %+v, %v", st, err)
	}
	if removed, err := dead.Forget(ctx, "never-existed"); err != nil || removed != 0 {
		t.Errorf("forget of a name with nothing: %d, %v", removed, err)
	}
}
