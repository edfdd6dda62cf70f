package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/google/go-cmp/cmp"

	"github.com/flowbus/flowbus/shared/bus"
	"github.com/flowbus/flowbus/shared/event"
	"github.com/flowbus/flowbus/shared/route"
	"github.com/flowbus/flowbus/shared/subscription"
	"github.com/flowbus/flowbus/shared/webhook"
)

type fakeSubs struct {
	mu   sync.Mutex
	subs map[string]subscription.Subscription
	puts []subscription.Subscription
}

func (f *fakeSubs) Snapshot(context.Context) ([]subscription.Live, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []subscription.Live
	for _, s := range f.subs {
		if s.State == subscription.Enabled {
			out = append(out, subscription.Live{Subscription: s})
		}
	}
	return out, nil
}

func (f *fakeSubs) Get(_ context.Context, name string) (subscription.Subscription, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.subs[name]
	if !ok {
		return s, subscription.ErrNotFound
	}
	return s, nil
}

func (f *fakeSubs) Put(_ context.Context, s subscription.Subscription) (subscription.Subscription, webhook.Secret, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.subs[s.Name] = s
	f.puts = append(f.puts, s)
	return s, webhook.Secret{}, nil
}

type fakeQueue struct {
	mu  sync.Mutex
	vis map[string]int32 // receipt handle -> seconds
}

func (f *fakeQueue) ChangeMessageVisibility(_ context.Context, in *sqs.ChangeMessageVisibilityInput, _ ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.vis[aws.ToString(in.ReceiptHandle)] = in.VisibilityTimeout
	return &sqs.ChangeMessageVisibilityOutput{}, nil
}

type fakeDL struct {
	mu      sync.Mutex
	entries []Entry
}

func (f *fakeDL) Put(_ context.Context, e Entry) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.entries = append(f.entries, e)
	return nil
}

// fakeHook answers by event id; delivered records the ids delivered.
type fakeHook struct {
	mu        sync.Mutex
	answers   map[string]webhook.Result
	delivered []string
}

func (f *fakeHook) Deliver(_ context.Context, _ webhook.Target, e *event.Event) webhook.Result {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r, ok := f.answers[e.ID]; ok {
		return r
	}
	f.delivered = append(f.delivered, e.ID)
	return webhook.Result{Outcome: webhook.Delivered, Status: 204}
}

type fakeBus struct {
	mu        sync.Mutex // groups publish in parallel
	published []*event.Event
}

func (f *fakeBus) Publish(_ context.Context, evs []*event.Event) []bus.Result {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.published = append(f.published, evs...)
	return make([]bus.Result, len(evs))
}

type fixture struct {
	d     *Deliverer
	subs  *fakeSubs
	queue *fakeQueue
	dl    *fakeDL
	hook  *fakeHook
	bus   *fakeBus
	now   time.Time
}

func httpSub(name string) subscription.Subscription {
	return subscription.Subscription{Name: name, State: subscription.Enabled, Delivery: subscription.DefaultDelivery(),
		Target: subscription.Target{Type: subscription.TargetHTTP, URL: "http://127.0.0.1:9/hook"}}
}

func newFixture(t testing.TB, subs ...subscription.Subscription) *fixture {
	t.Helper()
	f := &fixture{subs: &fakeSubs{subs: map[string]subscription.Subscription{}}, queue: &fakeQueue{vis: map[string]int32{}},
		dl: &fakeDL{}, hook: &fakeHook{answers: map[string]webhook.Result{}}, bus: &fakeBus{},
		now: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
	for _, s := range subs {
		f.subs.subs[s.Name] = s
	}
	d, err := New(Config{QueueURL: "http://sqs/q.fifo"}, Deps{Subscriptions: f.subs, Queue: f.queue, DeadLetters: f.dl,
		Targets: Targets{Webhook: f.hook, Bus: f.bus}})
	if err != nil {
		t.Fatal(err)
	}
	d.now = func() time.Time { return f.now }
	f.d = d
	return f
}

// msg is the message of subscription sub for event id of workflow wf, the
// n-th receive, sent ago before the fixture's now.
func (f *fixture) msg(sub, wf, id string, n int, ago time.Duration, ext ...string) Message {
	ce := `{"specversion":"1.0","id":"` + id + `","source":"test","type":"order.created","time":"` +
		f.now.Add(-ago).Format(time.RFC3339Nano) + `","workflowid":"` + wf + `"` + strings.Join(ext, "") + `,"data":{"n":1}}`
	b, _ := json.Marshal(route.Pointer{Subscription: sub, WorkflowID: wf, EventID: id, Event: json.RawMessage(ce)})
	return Message{ID: "m-" + sub + "-" + id, ReceiptHandle: "rh-" + id, Body: string(b), GroupID: route.GroupID(sub, wf),
		ReceiveCount: n, SentAt: f.now.Add(-ago)}
}

func TestAFailureHoldsBackItsGroupOnly(t *testing.T) {
	f := newFixture(t, httpSub("a"), httpSub("b"))
	f.hook.answers["e2"] = webhook.Result{Outcome: webhook.Retry, Status: 503, Err: errors.New("503")}
	msgs := []Message{
		f.msg("a", "wf1", "e1", 1, time.Second),
		f.msg("a", "wf1", "e2", 3, time.Second), // fails on its third receive
		f.msg("a", "wf2", "e3", 1, time.Second), // another workflow: goes on
		f.msg("a", "wf1", "e4", 1, time.Second), // behind e2: held back
		f.msg("b", "wf1", "e5", 1, time.Second), // another subscription: goes on
	}
	res, err := f.d.Deliver(context.Background(), msgs)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{msgs[1].ID, msgs[3].ID}, res.Failures); diff != "" {
		t.Errorf("failures (-want +got):\n%s", diff)
	}
	// base 1 s × 2^(3-1)
	if got := f.queue.vis["rh-e2"]; got != 4 {
		t.Errorf("got visibility %d s, want 4", got)
	}
	if got := f.queue.vis["rh-e4"]; got != 4 {
		t.Errorf("got visibility %d s for the message behind, want 4: the group comes back together", got)
	}
	if a := res.Figures["a"]; a.Delivered != 2 || a.Retrying != 1 || a.Latency.Count() != 2 {
		t.Errorf("got figures %+v", a)
	}
	if len(f.dl.entries) != 0 {
		t.Errorf("got %d dead letters", len(f.dl.entries))
	}
}

func TestBackoff(t *testing.T) {
	p := subscription.DefaultDelivery() // 1 s … 5 min
	for _, c := range []struct {
		n          int
		retryAfter time.Duration
		want       time.Duration
	}{
		{1, 0, time.Second},
		{2, 0, 2 * time.Second},
		{4, 0, 8 * time.Second},
		{20, 0, 5 * time.Minute},
		{200, 0, 5 * time.Minute},
		{1, 30 * time.Second, 30 * time.Second},
		{20, time.Minute, 5 * time.Minute},
		{1, 24 * time.Hour, MaxVisibility},
	} {
		if got := Backoff(p, c.n, c.retryAfter); got != c.want {
			t.Errorf("Backoff(n=%d, retryAfter=%s): got %s, want %s", c.n, c.retryAfter, got, c.want)
		}
	}
}

func TestRetryAfterSetsTheVisibility(t *testing.T) {
	f := newFixture(t, httpSub("a"))
	f.hook.answers["e1"] = webhook.Result{Outcome: webhook.Retry, Status: 429, RetryAfter: 90 * time.Second}
	if _, err := f.d.Deliver(context.Background(), []Message{f.msg("a", "wf", "e1", 1, 0)}); err != nil {
		t.Fatal(err)
	}
	if got := f.queue.vis["rh-e1"]; got != 90 {
		t.Errorf("got visibility %d s, want 90", got)
	}
}

func TestExhaustedRetriesDeadLetter(t *testing.T) {
	sub := httpSub("a")
	sub.Delivery.RetryAttempts = 2
	sub.Delivery.MaximumEventAgeSeconds = 3600
	for _, c := range []struct {
		name string
		n    int
		ago  time.Duration
		dead bool
	}{
		{"attempts left", 2, time.Minute, false},
		{"attempts spent", 3, time.Minute, true},
		{"too old", 1, time.Hour, true},
		{"too old after the backoff", 1, time.Hour - 500*time.Millisecond, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, sub)
			f.hook.answers["e1"] = webhook.Result{Outcome: webhook.Retry, Status: 500, Err: errors.New("500")}
			msgs := []Message{f.msg("a", "wf", "e1", c.n, c.ago), f.msg("a", "wf", "e2", 1, c.ago)}
			res, _ := f.d.Deliver(context.Background(), msgs)
			if !c.dead {
				if len(res.Failures) != 2 || len(f.dl.entries) != 0 {
					t.Errorf("got failures %v, %d dead letters; want both retried", res.Failures, len(f.dl.entries))
				}
				return
			}
			if len(res.Failures) != 0 || len(f.dl.entries) != 1 {
				t.Fatalf("got failures %v, %d dead letters; want e1 dead-lettered and e2 delivered", res.Failures, len(f.dl.entries))
			}
			e := f.dl.entries[0]
			if e.EventID != "e1" || e.WorkflowID != "wf" || e.Status != 500 || e.Attempts != c.n || !strings.Contains(e.Error, "500") || !json.Valid(e.Event) {
				t.Errorf("got entry %+v", e)
			}
			if diff := cmp.Diff([]string{"e2"}, f.hook.delivered); diff != "" {
				t.Errorf("delivered (-want +got):\n%s", diff)
			}
			if res.Figures["a"].DeadLettered != 1 {
				t.Errorf("got figures %+v", res.Figures["a"])
			}
		})
	}
}

func TestPermanentFailureDeadLettersAndTheGroupGoesOn(t *testing.T) {
	f := newFixture(t, httpSub("a"))
	f.hook.answers["e1"] = webhook.Result{Outcome: webhook.DeadLetter, Status: 400, Err: errors.New("400")}
	res, _ := f.d.Deliver(context.Background(), []Message{f.msg("a", "wf", "e1", 1, 0), f.msg("a", "wf", "e2", 1, 0)})
	if len(res.Failures) != 0 || len(f.dl.entries) != 1 || len(f.hook.delivered) != 1 {
		t.Errorf("got failures %v, dead letters %d, delivered %v", res.Failures, len(f.dl.entries), f.hook.delivered)
	}
}

func TestGoneDisablesTheSubscription(t *testing.T) {
	f := newFixture(t, httpSub("a"))
	f.hook.answers["e1"] = webhook.Result{Outcome: webhook.Disable, Status: 410, Err: errors.New("410")}
	res, _ := f.d.Deliver(context.Background(), []Message{f.msg("a", "wf", "e1", 1, 0), f.msg("a", "wf", "e2", 1, 0)})
	if len(res.Failures) != 0 {
		t.Errorf("got failures %v", res.Failures)
	}
	if len(f.subs.puts) != 1 || f.subs.puts[0].State != subscription.Disabled {
		t.Fatalf("got puts %+v, want the subscription disabled", f.subs.puts)
	}
	// e2 is not sent to a disabled subscription: dead-lettered for a redrive.
	if len(f.dl.entries) != 2 || len(f.hook.delivered) != 0 || f.dl.entries[1].Error != "subscription disabled" {
		t.Errorf("got dead letters %+v, delivered %v", f.dl.entries, f.hook.delivered)
	}
}

func TestDeletedSubscriptionDropsItsMessages(t *testing.T) {
	f := newFixture(t)
	res, err := f.d.Deliver(context.Background(), []Message{f.msg("gone", "wf", "e1", 1, 0)})
	if err != nil || len(res.Failures) != 0 || len(f.dl.entries) != 0 {
		t.Errorf("got %v %v %d dead letters", err, res.Failures, len(f.dl.entries))
	}
}

func busSub() subscription.Subscription {
	return subscription.Subscription{Name: "orch", State: subscription.Enabled, Delivery: subscription.DefaultDelivery(),
		Target:           subscription.Target{Type: subscription.TargetBus},
		InputTransformer: &subscription.InputTransformer{InputTemplate: `{"type":"workflow.trigger","data":{"action":"trigger"}}`}}
}

func TestBusTargetPublishesTheDerivedEvent(t *testing.T) {
	f := newFixture(t, busSub())
	res, _ := f.d.Deliver(context.Background(), []Message{f.msg("orch", "wf", "e1", 1, 0, `,"causationhops":7`)})
	if len(res.Failures) != 0 || len(f.bus.published) != 1 {
		t.Fatalf("got failures %v, published %d", res.Failures, len(f.bus.published))
	}
	d := f.bus.published[0]
	if d.Type != "workflow.trigger" || d.WorkflowID != "wf" || subscription.Hops(d) != 8 || d.ID != subscription.DerivedID("orch", "e1") {
		t.Errorf("got %+v", d)
	}
}

func TestHopLimitStopsTheChain(t *testing.T) {
	f := newFixture(t, busSub())
	res, _ := f.d.Deliver(context.Background(), []Message{f.msg("orch", "wf", "e1", 1, 0, `,"causationhops":`+strconv.Itoa(subscription.DefaultMaxHops))})
	if len(res.Failures) != 0 || len(f.bus.published) != 0 || len(f.dl.entries) != 0 {
		t.Errorf("got failures %v, published %d, dead letters %d", res.Failures, len(f.bus.published), len(f.dl.entries))
	}
	if got := res.Figures["orch"]; got.HopLimited != 1 || got.Delivered != 0 {
		t.Errorf("got figures %+v", got)
	}
}

func TestPointerOnlyReadsTheStore(t *testing.T) {
	f := newFixture(t, httpSub("a"))
	m := f.msg("a", "wf", "e1", 1, 0)
	b, _ := json.Marshal(route.Pointer{Subscription: "a", WorkflowID: "wf", EventID: "e1"})
	m.Body = string(b)
	// No event reader: the event cannot be read yet, so it is retried.
	res, _ := f.d.Deliver(context.Background(), []Message{m})
	if len(res.Failures) != 1 {
		t.Errorf("got failures %v, want the pointer retried", res.Failures)
	}
	f.d.events = eventsFunc(func(_ context.Context, wf, id string) (event.Event, error) {
		return event.Event{ID: id, WorkflowID: wf, Source: "s", Type: "t", Time: f.now}, nil
	})
	res, _ = f.d.Deliver(context.Background(), []Message{m})
	if len(res.Failures) != 0 || len(f.hook.delivered) != 1 {
		t.Errorf("got failures %v, delivered %v", res.Failures, f.hook.delivered)
	}
}

type eventsFunc func(ctx context.Context, wf, id string) (event.Event, error)

func (f eventsFunc) Event(ctx context.Context, wf, id string) (event.Event, error) {
	return f(ctx, wf, id)
}

func TestQueueURL(t *testing.T) {
	if got := QueueURL("arn:aws:sqs:eu-west-1:123456789012:jobs.fifo"); got != "https://sqs.eu-west-1.amazonaws.com/123456789012/jobs.fifo" {
		t.Errorf("got %q", got)
	}
}

// A replayed event carries the replay's marks, which producers may not send
// but the bus does: it is delivered like any other, never dead-lettered as
// invalid.
func TestReplayedEventIsDelivered(t *testing.T) {
	f := newFixture(t, httpSub("a"))
	marks := `,"replayid":"01JDXREPLAY0000000000000000","replayedat":"2026-12-01T12:00:00Z"`
	res, err := f.d.Deliver(context.Background(), []Message{f.msg("a", "wf", "e1", 1, 0, marks)})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Failures) != 0 || len(f.dl.entries) != 0 || len(f.hook.delivered) != 1 {
		t.Errorf("got failures %v, dead letters %+v, delivered %v; want the replayed event delivered", res.Failures, f.dl.entries, f.hook.delivered)
	}
}
