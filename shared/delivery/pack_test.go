package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/google/go-cmp/cmp"

	"github.com/flowbus/flowbus/shared/event"
	"github.com/flowbus/flowbus/shared/route"
	"github.com/flowbus/flowbus/shared/webhook"
)

// fakeProgress is a ProgressKeeper in memory.
type fakeProgress struct {
	mu     sync.Mutex
	done   map[string]int
	sets   int
	err    error
	clears int
}

func (f *fakeProgress) Progress(_ context.Context, sub, pack string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.done[sub+"|"+pack], f.err
}

func (f *fakeProgress) SetProgress(_ context.Context, sub, pack string, done int, _ time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sets++
	f.done[sub+"|"+pack] = done
	return nil
}

func (f *fakeProgress) ClearProgress(_ context.Context, sub, pack string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.clears++
	delete(f.done, sub+"|"+pack)
	return nil
}

// pack is a packed message of workflow wf's events ids for sub, the n-th
// receive.
func (f *fixture) pack(sub, wf string, ids []string, n int) Message {
	b := route.Pointer{Subscription: sub, WorkflowID: wf, Pack: sub + "/=" + ids[0]}
	for i, id := range ids {
		var one route.Pointer
		if err := json.Unmarshal([]byte(f.msg(sub, wf, id, n, time.Second).Body), &one); err != nil {
			panic(err)
		}
		b.Events = append(b.Events, route.PackedEvent{EventID: id, Position: route.Position{Shard: "s", Seq: "1", Sub: i}, Event: one.Event})
	}
	raw, _ := json.Marshal(b)
	return Message{ID: "m-" + sub + "-" + ids[0], ReceiptHandle: "rh-" + ids[0], Body: string(raw), GroupID: route.GroupID(sub, wf),
		ReceiveCount: n, SentAt: f.now.Add(-time.Second)}
}

func withProgress(t *testing.T, f *fixture) *fakeProgress {
	t.Helper()
	p := &fakeProgress{done: map[string]int{}}
	f.d.progress = p
	return p
}

// A pack whose third event fails delivers the first two once: the retries
// start at the third, and the pack's later events follow once it is
// through.
func TestPackRetriesFromTheFailedEvent(t *testing.T) {
	f := newFixture(t, httpSub("a"))
	p := withProgress(t, f)
	ids := []string{"e1", "e2", "e3", "e4", "e5"}
	f.hook.answers["e3"] = webhook.Result{Outcome: webhook.Retry, Status: 503, Err: errors.New("503")}
	behind := f.msg("a", "wf1", "e6", 1, time.Second)
	for receive := 1; receive <= 3; receive++ {
		if receive == 3 {
			delete(f.hook.answers, "e3")
		}
		m := f.pack("a", "wf1", ids, receive)
		res, err := f.d.Deliver(context.Background(), []Message{m, behind})
		if err != nil {
			t.Fatal(err)
		}
		if receive < 3 {
			if diff := cmp.Diff([]string{m.ID, behind.ID}, res.Failures); diff != "" {
				t.Errorf("receive %d: failures (-want +got):\n%s", receive, diff)
			}
			if got := p.done["a|a/=e1"]; got != 2 {
				t.Errorf("receive %d: progress %d, want 2", receive, got)
			}
			if a := res.Figures["a"]; a.Retrying != 1 || a.Delivered != 2*boolInt(receive == 1) {
				t.Errorf("receive %d: figures %+v", receive, a)
			}
			continue
		}
		if len(res.Failures) != 0 {
			t.Errorf("receive 3: failures %v", res.Failures)
		}
	}
	if diff := cmp.Diff([]string{"e1", "e2", "e3", "e4", "e5", "e6"}, f.hook.delivered); diff != "" {
		t.Errorf("delivered (-want +got):\n%s", diff)
	}
	if p.sets != 1 || p.clears != 1 || len(p.done) != 0 {
		t.Errorf("progress written %d times, cleared %d, left %v: want once, once, nothing", p.sets, p.clears, p.done)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Without a ProgressKeeper a retried pack starts over: its delivered
// events go again (at least once), in order.
func TestPackWithoutProgressStartsOver(t *testing.T) {
	f := newFixture(t, httpSub("a"))
	f.hook.answers["e2"] = webhook.Result{Outcome: webhook.Retry, Status: 503, Err: errors.New("503")}
	if _, err := f.d.Deliver(context.Background(), []Message{f.pack("a", "wf1", []string{"e1", "e2"}, 1)}); err != nil {
		t.Fatal(err)
	}
	delete(f.hook.answers, "e2")
	if _, err := f.d.Deliver(context.Background(), []Message{f.pack("a", "wf1", []string{"e1", "e2"}, 2)}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"e1", "e1", "e2"}, f.hook.delivered); diff != "" {
		t.Errorf("delivered (-want +got):\n%s", diff)
	}
}

// An event of a pack that is dead-lettered lets the pack go on.
func TestPackDeadLetterGoesOn(t *testing.T) {
	f := newFixture(t, httpSub("a"))
	p := withProgress(t, f)
	f.hook.answers["e2"] = webhook.Result{Outcome: webhook.DeadLetter, Status: 400, Err: errors.New("400")}
	res, err := f.d.Deliver(context.Background(), []Message{f.pack("a", "wf1", []string{"e1", "e2", "e3"}, 1)})
	if err != nil || len(res.Failures) != 0 {
		t.Fatalf("Deliver = %+v, %v", res, err)
	}
	if diff := cmp.Diff([]string{"e1", "e3"}, f.hook.delivered); diff != "" {
		t.Errorf("delivered (-want +got):\n%s", diff)
	}
	if len(f.dl.entries) != 1 || f.dl.entries[0].EventID != "e2" || len(f.dl.entries[0].Event) == 0 {
		t.Errorf("dead letters %+v, want e2 with its event", f.dl.entries)
	}
	if a := res.Figures["a"]; a.Delivered != 2 || a.DeadLettered != 1 {
		t.Errorf("figures %+v", a)
	}
	if p.sets != 0 {
		t.Errorf("progress written %d times for a pack that went through", p.sets)
	}
}

// A pack whose progress cannot be read is retried soon, nothing delivered.
func TestPackProgressUnreadable(t *testing.T) {
	f := newFixture(t, httpSub("a"))
	p := withProgress(t, f)
	p.err = errors.New("throttled")
	m := f.pack("a", "wf1", []string{"e1", "e2"}, 2)
	res, err := f.d.Deliver(context.Background(), []Message{m})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{m.ID}, res.Failures); diff != "" || len(f.hook.delivered) != 0 || f.queue.vis["rh-e1"] != 1 {
		t.Errorf("failures %v, delivered %v, visibility %d: want the pack retried in 1 s, nothing delivered", res.Failures, f.hook.delivered, f.queue.vis["rh-e1"])
	}
}

// slowHook delivers after a pause.
type slowHook struct {
	fakeHook
	pause time.Duration
}

func (s *slowHook) Deliver(ctx context.Context, t webhook.Target, e *event.Event) webhook.Result {
	time.Sleep(s.pause)
	return s.fakeHook.Deliver(ctx, t, e)
}

// A pack stops where the invocation has too little time left for its next
// event, keeps its progress and comes back at once.
func TestPackStopsBeforeTheInvocationsEnd(t *testing.T) {
	f := newFixture(t, httpSub("a"))
	p := withProgress(t, f)
	hook := &slowHook{fakeHook: fakeHook{answers: map[string]webhook.Result{}}, pause: 300 * time.Millisecond}
	f.d.targets.Webhook = hook
	ctx, cancel := context.WithTimeout(context.Background(), PackReserve+200*time.Millisecond)
	defer cancel()
	m := f.pack("a", "wf1", []string{"e1", "e2", "e3"}, 1)
	res, err := f.d.Deliver(ctx, []Message{m})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"e1"}, hook.delivered); diff != "" {
		t.Errorf("delivered (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{m.ID}, res.Failures); diff != "" || f.queue.vis["rh-e1"] != 0 || p.done["a|a/=e1"] != 1 {
		t.Errorf("failures %v, visibility %d, progress %v: want the pack back at once from its second event", res.Failures, f.queue.vis["rh-e1"], p.done)
	}

	// With time enough, the next receive finishes it.
	res, err = f.d.Deliver(context.Background(), []Message{f.pack("a", "wf1", []string{"e1", "e2", "e3"}, 2)})
	if err != nil || len(res.Failures) != 0 {
		t.Fatalf("Deliver = %+v, %v", res, err)
	}
	if diff := cmp.Diff([]string{"e1", "e2", "e3"}, hook.delivered); diff != "" {
		t.Errorf("delivered (-want +got):\n%s", diff)
	}
}

// Packed bodies as the router writes them parse to their events, in order.
func TestPackedBodyItems(t *testing.T) {
	f := newFixture(t, httpSub("a"))
	b, err := parseBody(f.pack("a", "wf1", []string{"e1", "e2"}, 1).Body)
	if err != nil {
		t.Fatal(err)
	}
	items := bodyItems(&b)
	if len(items) != 2 || items[0].EventID != "e1" || items[1].EventID != "e2" || items[1].Position.Sub != 1 ||
		items[1].Subscription != "a" || items[1].WorkflowID != "wf1" || len(items[1].Event) == 0 {
		t.Errorf("items %+v", items)
	}
	for _, bad := range []string{
		`{"subscription":"a","workflow_id":"w","pack":"p","events":[{"position":{"sub":0}}]}`,
		`{"subscription":"a","workflow_id":"w","events":[{"event_id":"e"}]}`,
		`{"subscription":"a","workflow_id":"w","pack":"p","events":[]}`,
	} {
		if _, err := parseBody(bad); err == nil {
			t.Errorf("parseBody(%s) = nil error", bad)
		}
	}
}

// orderedQueue checks, when a pack's backoff is set, that its progress is
// already written: the message must not come back before it.
type orderedQueue struct {
	*fakeQueue
	progress *fakeProgress
	key      string
	seen     []int // the progress at each ChangeMessageVisibility
}

func (q *orderedQueue) ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, o ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error) {
	q.progress.mu.Lock()
	q.seen = append(q.seen, q.progress.done[q.key])
	q.progress.mu.Unlock()
	return q.fakeQueue.ChangeMessageVisibility(ctx, in, o...)
}

func TestPackProgressBeforeItsBackoff(t *testing.T) {
	f := newFixture(t, httpSub("a"))
	p := withProgress(t, f)
	q := &orderedQueue{fakeQueue: f.queue, progress: p, key: "a|a/=e1"}
	f.d.queue = q
	f.hook.answers["e3"] = webhook.Result{Outcome: webhook.Retry, Status: 503, Err: errors.New("503")}
	if _, err := f.d.Deliver(context.Background(), []Message{f.pack("a", "wf1", []string{"e1", "e2", "e3"}, 1)}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int{2}, q.seen); diff != "" || f.queue.vis["rh-e1"] != 1 {
		t.Errorf("progress seen at each visibility change (-want +got):\n%s\nvisibility %d s, want 1", diff, f.queue.vis["rh-e1"])
	}
}
