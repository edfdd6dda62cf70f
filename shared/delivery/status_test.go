package delivery_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/flowbus/flowbus/shared/delivery"
	"github.com/flowbus/flowbus/shared/metrics"
	"github.com/flowbus/flowbus/shared/subscription"
	"github.com/flowbus/flowbus/shared/testenv"
)

// Every subscription's figures are read in name order, up to the limit, and
// the source says when there were more.
func TestStatusSourceReadsEverySubscription(t *testing.T) {
	ctx := context.Background()
	cfg := testenv.AWS(t)
	db, tbl := testenv.Table(t, cfg)
	store := subscription.NewStore(db, tbl, nil)
	figures := delivery.NewRecorder(db, tbl)
	now := time.Now()
	// More than one page of the subscription list.
	const subs = subscription.MaxPageSize + 5
	for i := range subs {
		sub := subscription.Subscription{Name: fmt.Sprintf("sub-%03d", i), Pattern: json.RawMessage(`{"source":["test"]}`), State: subscription.Enabled,
			Target: subscription.Target{Type: subscription.TargetBus}, Delivery: subscription.DefaultDelivery()}
		if _, _, err := store.Create(ctx, sub); err != nil {
			t.Fatal(err)
		}
	}
	lat := &metrics.Sketch{}
	lat.Add(40 * time.Millisecond)
	batch := delivery.Figures{"sub-001": {Matched: 3, Delivered: 2, Retrying: 1, Latency: lat}, "sub-104": {Matched: 1, DeadLettered: 1}}
	if err := figures.Record(ctx, batch, now); err != nil {
		t.Fatal(err)
	}
	src := delivery.StatusSource{Subscriptions: store, Figures: figures}

	all, more, err := src.DeliveryFigures(ctx, now, 1000)
	if err != nil || more || len(all) != subs {
		t.Fatalf("all: %d figures, more %v, %v; want %d", len(all), more, err, subs)
	}
	for i, f := range all {
		if want := fmt.Sprintf("sub-%03d", i); f.Name != want {
			t.Fatalf("figures %d are %s, want %s", i, f.Name, want)
		}
	}
	if f := all[1]; f.Matched != 3 || f.Delivered != 2 || f.Retrying != 1 || f.LatencyP50Ms < 39 || f.LatencyP50Ms > 41 {
		t.Errorf("sub-001: %+v", f)
	}
	if f := all[104]; f.Matched != 1 || f.DeadLettered != 1 || f.LatencyP99Ms != 0 {
		t.Errorf("sub-104: %+v", f)
	}

	for _, limit := range []int{subscription.MaxPageSize, 7} {
		some, more, err := src.DeliveryFigures(ctx, now, limit)
		if err != nil || !more || len(some) != limit || some[limit-1].Name != fmt.Sprintf("sub-%03d", limit-1) {
			t.Errorf("limit %d: %d figures, more %v, %v", limit, len(some), more, err)
		}
	}
	if exact, more, err := src.DeliveryFigures(ctx, now, subs); err != nil || more || len(exact) != subs {
		t.Errorf("limit = count: %d figures, more %v, %v", len(exact), more, err)
	}
}
