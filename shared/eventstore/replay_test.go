package eventstore

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/flowbus/flowbus/shared/event"
)

// pagedStore serves n events two at a time, as Read pages them.
type pagedStore struct {
	n     uint64
	calls int
}

func (p *pagedStore) Read(_ context.Context, _ string, q Query) (Page, error) {
	p.calls++
	var page Page
	for seq := q.After + 1; seq <= p.n && len(page.Events) < 2; seq++ {
		page.Events = append(page.Events, event.Event{Sequence: seq})
	}
	if last := q.After + uint64(len(page.Events)); last < p.n {
		page.Next = last
	}
	return page, nil
}

func TestReplayEventsWalksEveryPage(t *testing.T) {
	s := &pagedStore{n: 5}
	var got []uint64
	err := ReplayEvents(context.Background(), s, "wf", Query{}, func(e event.Event) error {
		got = append(got, e.Sequence)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]uint64{1, 2, 3, 4, 5}, got); diff != "" {
		t.Errorf("replayed (-want +got):\n%s", diff)
	}
	if s.calls != 3 {
		t.Errorf("%d reads, want 3", s.calls)
	}
	stop := errors.New("stop")
	err = ReplayEvents(context.Background(), &pagedStore{n: 5}, "wf", Query{After: 3}, func(e event.Event) error {
		if e.Sequence != 4 {
			t.Errorf("first event %d, want 4", e.Sequence)
		}
		return stop
	})
	if !errors.Is(err, stop) {
		t.Errorf("err = %v, want the callback's", err)
	}
}
