package replay_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"

	"github.com/flowbus/flowbus/shared/event"
	"github.com/flowbus/flowbus/shared/eventstore"
	"github.com/flowbus/flowbus/shared/replay"
	"github.com/flowbus/flowbus/shared/route"
	"github.com/flowbus/flowbus/shared/subscription"
	"github.com/flowbus/flowbus/shared/table"
)

// memDB keeps replay records in memory; conditions are not checked (one
// writer at a time in these tests).
type memDB struct {
	mu    sync.Mutex
	items map[string]map[string]types.AttributeValue
}

func keyOf(k map[string]types.AttributeValue) string {
	pk, _ := k[table.PK].(*types.AttributeValueMemberS)
	sk, _ := k[table.SK].(*types.AttributeValueMemberS)
	return pk.Value + "|" + sk.Value
}

func (d *memDB) GetItem(_ context.Context, in *dynamodb.GetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return &dynamodb.GetItemOutput{Item: d.items[keyOf(in.Key)]}, nil
}

func (d *memDB) PutItem(_ context.Context, in *dynamodb.PutItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.items == nil {
		d.items = map[string]map[string]types.AttributeValue{}
	}
	d.items[keyOf(in.Item)] = in.Item
	return &dynamodb.PutItemOutput{}, nil
}

// memSource is a store of workflows' events in order.
type memSource struct{ events map[string][]event.Event }

func (s *memSource) Read(_ context.Context, wf string, q eventstore.Query) (eventstore.Page, error) {
	var page eventstore.Page
	for _, e := range s.events[wf] {
		if e.Sequence <= q.After || !eventstore.Matches(q.Types, e.Type) || !q.MatchesTime(e.Time) {
			continue
		}
		if len(page.Events) == q.Limit {
			page.Next = page.Events[len(page.Events)-1].Sequence
			break
		}
		page.Events = append(page.Events, e)
	}
	return page, nil
}

func (s *memSource) ScanEvents(context.Context, string, int, func(event.Event) error) (string, error) {
	return "", errors.New("not used")
}

type subs map[string]subscription.Subscription

func (s subs) Get(_ context.Context, name string) (subscription.Subscription, error) {
	if sub, ok := s[name]; ok {
		return sub, nil
	}
	return subscription.Subscription{}, fmt.Errorf("get subscription %s: %w", name, subscription.ErrNotFound)
}

// queue keeps what was enqueued, per subscription.
type queue struct {
	got   map[string][]string // subscription → event ids
	marks map[string]bool     // replay ids seen
	err   error
}

func (q *queue) Enqueue(_ context.Context, sub string, evs []*event.Event) (route.Stats, error) {
	if q.err != nil {
		return route.Stats{}, q.err
	}
	if q.got == nil {
		q.got, q.marks = map[string][]string{}, map[string]bool{}
	}
	for _, e := range evs {
		q.got[sub] = append(q.got[sub], e.ID)
		id, ok := e.Extension(event.AttrReplayID)
		_, at := e.Extension(event.AttrReplayedAt)
		q.marks[string(id)] = ok && at
	}
	return route.Stats{Sent: len(evs)}, nil
}

func unitRunner(s subs, q *queue) *replay.Runner {
	src := &memSource{events: map[string][]event.Event{}}
	for _, wf := range []string{"wf-x", "wf-z"} {
		for n := range 25 {
			src.events[wf] = append(src.events[wf], event.Event{ID: fmt.Sprintf("%s-%02d", wf, n), Source: "/t",
				Type: []string{"step.done", "step.failed"}[n%2], WorkflowID: wf, Time: base, Sequence: uint64(n + 1), Data: []byte(`{}`)})
		}
	}
	return &replay.Runner{Records: replay.NewRecords(&memDB{}, "t"), Source: src, PageSize: 10, Enqueuer: q, Subscriptions: s}
}

func sub(name, pat string, state subscription.State) subscription.Subscription {
	return subscription.Subscription{Name: name, Pattern: []byte(pat), State: state}
}

func TestReplayToSubscription(t *testing.T) {
	no := false
	s := subs{"y": sub("y", `{"type":["step.done"]}`, subscription.Enabled), "other": sub("other", `{"source":["/t"]}`, subscription.Enabled)}
	var all, done []string
	for n := range 25 {
		all = append(all, fmt.Sprintf("wf-x-%02d", n))
		if n%2 == 0 {
			done = append(done, fmt.Sprintf("wf-x-%02d", n))
		}
	}
	for _, tc := range []struct {
		name      string
		match     *bool
		want      []string
		unmatched int64
	}{
		{"the pattern chooses", nil, done, 12},
		{"match false sends every event", &no, all, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := &queue{}
			r := unitRunner(s, q)
			ctx := context.Background()
			rec, err := r.Records.Create(ctx, replay.Spec{WorkflowID: "wf-x", Target: replay.Target{Subscription: "y", Match: tc.match}}, base)
			if err != nil {
				t.Fatal(err)
			}
			got, err := r.Run(ctx, rec.ID)
			if err != nil || got.State != replay.Completed {
				t.Fatalf("Run: %+v, %v", got, err)
			}
			if got.Events != int64(len(tc.want)) || got.Unmatched != tc.unmatched {
				t.Errorf("events %d, unmatched %d; want %d, %d", got.Events, got.Unmatched, len(tc.want), tc.unmatched)
			}
			if diff := cmp.Diff(map[string][]string{"y": tc.want}, q.got); diff != "" {
				t.Errorf("enqueued, to y only, in order (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(map[string]bool{`"` + rec.ID + `"`: true}, q.marks); diff != "" {
				t.Errorf("marks (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReplayToSubscriptionGone(t *testing.T) {
	for _, tc := range []struct {
		name string
		subs subs
	}{
		{"deleted", subs{}},
		{"disabled", subs{"y": sub("y", `{"type":["step.done"]}`, subscription.Disabled)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := &queue{}
			r := unitRunner(tc.subs, q)
			ctx := context.Background()
			rec, _ := r.Records.Create(ctx, replay.Spec{WorkflowID: "wf-x", Target: replay.Target{Subscription: "y"}}, base)
			got, err := r.Run(ctx, rec.ID)
			if !errors.Is(err, replay.ErrTargetGone) || got.State != replay.Failed || len(q.got) != 0 {
				t.Errorf("Run: %+v, %v; want failed with ErrTargetGone, nothing sent", got, err)
			}
		})
	}
}

func TestReplayToSubscriptionQueueFails(t *testing.T) {
	q := &queue{err: fmt.Errorf("enqueue: %w", route.ErrStopped)}
	r := unitRunner(subs{"y": sub("y", `{"source":["/t"]}`, subscription.Enabled)}, q)
	ctx := context.Background()
	rec, _ := r.Records.Create(ctx, replay.Spec{WorkflowID: "wf-x", Target: replay.Target{Subscription: "y"}}, base)
	got, err := r.Run(ctx, rec.ID)
	if !errors.Is(err, route.ErrStopped) || got.State != replay.Failed || got.Events != 0 {
		t.Errorf("Run: %+v, %v; want failed, no event counted", got, err)
	}
}

func TestSpecValidateSubscriptionTarget(t *testing.T) {
	no := false
	for _, tc := range []struct {
		name   string
		target replay.Target
		want   []string
	}{
		{"subscription", replay.Target{Subscription: "y"}, nil},
		{"subscription, match false", replay.Target{Subscription: "y", Match: &no}, nil},
		{"both", replay.Target{Subscription: "y", Stream: "s"}, []string{"target"}},
		{"match without subscription", replay.Target{Match: &no}, []string{"target.match"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, f := range (replay.Spec{WorkflowID: "wf", Target: tc.target}).Validate() {
				got = append(got, f.Field)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("fields (-want +got):\n%s", diff)
			}
		})
	}
}
