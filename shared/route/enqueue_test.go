package route

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/go-cmp/cmp"

	"github.com/flowbus/flowbus/shared/event"
)

func replayed(id, wf string) *event.Event {
	return &event.Event{ID: id, Source: "test", Type: "x", WorkflowID: wf, Data: []byte(`{"n":1}`),
		Extensions: []event.Extension{{Name: event.AttrReplayID, Value: []byte(`"r-1"`)}, {Name: event.AttrReplayedAt, Value: []byte(`"2026-01-01T00:00:00Z"`)}}}
}

func newEnqueuer(t *testing.T, q Sender) *Enqueuer {
	t.Helper()
	e, err := NewEnqueuer(Config{QueueURL: "http://q/000000000000/delivery.fifo"}, q, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.r.pause = func(context.Context, int) error { return nil }
	return e
}

func TestEnqueueOneSubscriptionInOrder(t *testing.T) {
	q := &fakeQueue{}
	var evs []*event.Event
	for i := range 7 {
		evs = append(evs, replayed(fmt.Sprint("e", i), fmt.Sprint("wf-", i%2)))
	}
	st, err := newEnqueuer(t, q).Enqueue(context.Background(), "y", evs)
	if err != nil || st.Sent != 7 || st.Matched != 7 {
		t.Fatalf("Enqueue: %+v, %v", st, err)
	}
	got := map[string][]string{}
	for _, s := range q.sent {
		got[s.Group] = append(got[s.Group], s.Dedup)
		if s.Body.Subscription != "y" || s.Body.Position != (Position{}) || len(s.Body.Event) == 0 {
			t.Errorf("body %+v: want subscription y, no position, the event inline", s.Body)
		}
		if e, err := event.Decode(s.Body.Event, event.DecodeOptions{Wire: true}); err != nil || !e.Replayed() {
			t.Errorf("event %s not marked as replayed (%v)", s.Body.EventID, err)
		}
	}
	want := map[string][]string{
		"y/wf-0": {"y/e0/r-1", "y/e2/r-1", "y/e4/r-1", "y/e6/r-1"},
		"y/wf-1": {"y/e1/r-1", "y/e3/r-1", "y/e5/r-1"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("groups (-want +got):\n%s", diff)
	}
	if q.calls != 4 {
		t.Errorf("%d calls, want 4 (one entry per group per call)", q.calls)
	}
}

func TestEnqueueStopsAFailingGroup(t *testing.T) {
	q := &fakeQueue{fail: func(e types.SendMessageBatchRequestEntry, _ int) bool {
		return aws.ToString(e.MessageDeduplicationId) == "y/b1/r-1"
	}}
	evs := []*event.Event{replayed("a0", "a"), replayed("b0", "b"), replayed("a1", "a"), replayed("b1", "b"), replayed("b2", "b")}
	st, err := newEnqueuer(t, q).Enqueue(context.Background(), "y", evs)
	if !errors.Is(err, ErrStopped) || st.Stopped != 1 || st.Sent != 3 {
		t.Fatalf("Enqueue: %+v, %v; want group b stopped at b1", st, err)
	}
	for _, s := range q.sent {
		if s.Body.EventID == "b2" {
			t.Error("b2 was sent after b1 failed")
		}
	}
}
