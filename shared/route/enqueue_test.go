package route

import (
	"context"
	"errors"
	"fmt"
	"strings"
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
	evs = append(evs, replayed("solo", "wf-2"))
	st, err := newEnqueuer(t, q).Enqueue(context.Background(), "y", evs)
	if err != nil || st.Sent != 8 || st.Matched != 8 || st.Messages != 3 {
		t.Fatalf("Enqueue: %+v, %v; want 8 events in 3 messages", st, err)
	}
	for _, s := range q.sent {
		each := s.Body.Events
		if len(each) == 0 {
			each = []PackedEvent{{EventID: s.Body.EventID, Position: s.Body.Position, Event: s.Body.Event}}
		}
		for _, pe := range each {
			if s.Body.Subscription != "y" || pe.Position != (Position{}) || len(pe.Event) == 0 {
				t.Errorf("body %+v: want subscription y, no position, the event inline", s.Body)
			}
			if e, err := event.Decode(pe.Event, event.DecodeOptions{Wire: true}); err != nil || !e.Replayed() {
				t.Errorf("event %s not marked as replayed (%v)", pe.EventID, err)
			}
		}
	}
	want := map[string][]string{
		"y/wf-0": {"e0", "e2", "e4", "e6"},
		"y/wf-1": {"e1", "e3", "e5"},
		"y/wf-2": {"solo"},
	}
	if diff := cmp.Diff(want, q.byGroup()); diff != "" {
		t.Errorf("groups (-want +got):\n%s", diff)
	}
	if q.sent[2].Dedup != "y/solo/r-1" {
		t.Errorf("a lone event's dedup id %q, want y/solo/r-1", q.sent[2].Dedup)
	}
	if q.calls != 1 {
		t.Errorf("%d calls, want 1 (a pack per group, the three groups in one call)", q.calls)
	}
}

// A long workflow goes in packs of MaxPackEvents, in order.
func TestEnqueuePacksALongWorkflow(t *testing.T) {
	q := &fakeQueue{}
	var evs []*event.Event
	var want []string
	for i := range 2*MaxPackEvents + 1 {
		evs = append(evs, replayed(fmt.Sprint("e", i), "wf"))
		want = append(want, fmt.Sprint("e", i))
	}
	st, err := newEnqueuer(t, q).Enqueue(context.Background(), "y", evs)
	if err != nil || st.Messages != 3 || q.calls != 3 {
		t.Fatalf("Enqueue: %+v, %v, %d calls; want 3 messages in 3 calls", st, err, q.calls)
	}
	if diff := cmp.Diff(map[string][]string{"y/wf": want}, q.byGroup()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestEnqueueStopsAFailingGroup(t *testing.T) {
	var evs []*event.Event
	for i := range MaxPackEvents + 3 {
		evs = append(evs, replayed(fmt.Sprint("b", i), "b"))
	}
	evs = append(evs, replayed("a0", "a"))
	q := &fakeQueue{}
	q.fail = func(e types.SendMessageBatchRequestEntry, _ int) bool {
		return strings.Contains(aws.ToString(e.MessageBody), `"b25"`) // the second pack of b
	}
	st, err := newEnqueuer(t, q).Enqueue(context.Background(), "y", evs)
	if !errors.Is(err, ErrStopped) || st.Stopped != 1 || st.Sent != MaxPackEvents+1 {
		t.Fatalf("Enqueue: %+v, %v; want group b stopped at its second pack, a sent", st, err)
	}
	if got := q.byGroup(); len(got["y/b"]) != MaxPackEvents || len(got["y/a"]) != 1 {
		t.Errorf("sent %v", got)
	}
}
