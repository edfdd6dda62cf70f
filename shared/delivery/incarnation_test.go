package delivery

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flowbus/flowbus/shared/route"
	"github.com/flowbus/flowbus/shared/subscription"
)

// withCreated is m with the creation time of the subscription it was routed
// for, as the router writes it.
func withCreated(t *testing.T, m Message, created time.Time) Message {
	t.Helper()
	var p route.Pointer
	if err := json.Unmarshal([]byte(m.Body), &p); err != nil {
		t.Fatal(err)
	}
	p.SubscriptionCreated = created.Format(time.RFC3339Nano)
	b, _ := json.Marshal(p)
	m.Body = string(b)
	return m
}

// A message routed for a subscription that was deleted and created again
// under its name is dropped, not delivered to the new one's target; a
// message of the new one is delivered at once, though this process knew the
// old one (or knew the name as deleted).
func TestMessagesOfAPredecessorAreDropped(t *testing.T) {
	first := time.Date(2026, 12, 1, 11, 0, 0, 123456789, time.UTC)
	second := first.Add(time.Minute)
	old := httpSub("reuse")
	old.Created = first
	f := newFixture(t, old)
	ctx := context.Background()

	// The process loads the first subscription.
	res, err := f.d.Deliver(ctx, []Message{withCreated(t, f.msg("reuse", "wf", "e1", 1, time.Second), first)})
	if err != nil || len(res.Failures) != 0 {
		t.Fatalf("first: %+v, %v", res, err)
	}
	// Deleted and created again: the new one is newer than the snapshot.
	renewed := httpSub("reuse")
	renewed.Created = second
	renewed.Target.URL = "http://127.0.0.1:9/new"
	f.subs.mu.Lock()
	f.subs.subs["reuse"] = renewed
	f.subs.mu.Unlock()
	// Once the snapshot is reloaded (a change applies within
	// RefreshInterval), the old one's messages are dropped.
	f.now = f.now.Add(subscription.RefreshInterval + time.Second)

	res, err = f.d.Deliver(ctx, []Message{
		withCreated(t, f.msg("reuse", "wf", "e2", 1, time.Second), first),  // queued for the old one
		withCreated(t, f.msg("reuse", "wf", "e3", 1, time.Second), second), // the new one's
		f.msg("reuse", "wf", "e4", 1, time.Second),                         // a redrive or replay: as it is
	})
	if err != nil || len(res.Failures) != 0 {
		t.Fatalf("second: %+v, %v", res, err)
	}
	if diff := cmp.Diff([]string{"e1", "e3", "e4"}, f.hook.delivered); diff != "" {
		t.Errorf("delivered (-want +got):\n%s", diff)
	}

	// Deleted: known as gone, then created again; its message reloads.
	f.subs.mu.Lock()
	delete(f.subs.subs, "reuse")
	f.subs.mu.Unlock()
	f.now = f.now.Add(subscription.RefreshInterval + time.Second)
	if _, err := f.d.Deliver(ctx, []Message{withCreated(t, f.msg("reuse", "wf", "e5", 1, time.Second), second)}); err != nil {
		t.Fatal(err)
	}
	third := renewed
	third.Created = second.Add(time.Minute)
	f.subs.mu.Lock()
	f.subs.subs["reuse"] = third
	f.subs.mu.Unlock()
	f.now = f.now.Add(2 * forcedReloadEvery)
	if _, err := f.d.Deliver(ctx, []Message{withCreated(t, f.msg("reuse", "wf", "e6", 1, time.Second), third.Created)}); err != nil {
		t.Fatal(err)
	}
	// Created again while this process knows an older one: the newer
	// message reloads at once.
	fourth := third
	fourth.Created = third.Created.Add(time.Minute)
	f.subs.mu.Lock()
	f.subs.subs["reuse"] = fourth
	f.subs.mu.Unlock()
	f.now = f.now.Add(2 * forcedReloadEvery)
	if _, err := f.d.Deliver(ctx, []Message{withCreated(t, f.msg("reuse", "wf", "e7", 1, time.Second), fourth.Created)}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"e1", "e3", "e4", "e6", "e7"}, f.hook.delivered); diff != "" {
		t.Errorf("delivered after the fourth creation (-want +got):\n%s", diff)
	}
}
