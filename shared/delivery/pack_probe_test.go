package delivery

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flowbus/flowbus/shared/event"
	"github.com/flowbus/flowbus/shared/route"
	"github.com/flowbus/flowbus/shared/webhook"
)

// syncBuffer is a log sink for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func logTo(f *fixture) *syncBuffer {
	buf := &syncBuffer{}
	f.d.log = slog.New(slog.NewTextHandler(buf, nil))
	return buf
}

// Bodies the router never writes, in one group ahead of a good message:
// each is dropped with a log naming what is wrong, none panics or holds
// the group, and the good message is delivered.
func TestPackProbeMalformedBodiesAreDropped(t *testing.T) {
	f := newFixture(t, httpSub("a"))
	logs := logTo(f)
	ev := `{"specversion":"1.0","id":"x","source":"t","type":"t","workflowid":"wf1"}`
	bad := map[string]string{
		"not json":              `{"subscription":"a",`,
		"no pack id":            `{"subscription":"a","workflow_id":"wf1","events":[{"event_id":"x","event":` + ev + `}]}`,
		"no events":             `{"subscription":"a","workflow_id":"wf1","pack":"a/=p","events":[]}`,
		"a null event":          `{"subscription":"a","workflow_id":"wf1","pack":"a/=p","events":[null]}`,
		"an event without id":   `{"subscription":"a","workflow_id":"wf1","pack":"a/=p","events":[{"event":` + ev + `}]}`,
		"events not a list":     `{"subscription":"a","workflow_id":"wf1","pack":"a/=p","events":{"event_id":"x"}}`,
		"an id not a string":    `{"subscription":"a","workflow_id":"wf1","pack":"a/=p","events":[{"event_id":7}]}`,
		"no workflow":           `{"subscription":"a","pack":"a/=p","events":[{"event_id":"x","event":` + ev + `}]}`,
		"a position not object": `{"subscription":"a","workflow_id":"wf1","pack":"a/=p","events":[{"event_id":"x","position":"p"}]}`,
	}
	var msgs []Message
	for what, body := range bad {
		msgs = append(msgs, Message{ID: what, ReceiptHandle: "rh-" + what, Body: body, GroupID: "a/wf1", ReceiveCount: 1, SentAt: f.now})
	}
	good := f.msg("a", "wf1", "good", 1, time.Second)
	msgs = append(msgs, good)
	res, err := f.d.Deliver(context.Background(), msgs)
	if err != nil || len(res.Failures) != 0 {
		t.Fatalf("Deliver = %+v, %v: want every message handled", res, err)
	}
	if diff := cmp.Diff([]string{"good"}, f.hook.delivered); diff != "" {
		t.Errorf("delivered (-want +got):\n%s", diff)
	}
	if n := strings.Count(logs.String(), "undeliverable message dropped"); n != len(bad) {
		t.Errorf("%d drops logged, want %d:\n%s", n, len(bad), logs)
	}
	if len(f.dl.entries) != 0 {
		t.Errorf("dead letters %+v for bodies that name nothing deliverable", f.dl.entries)
	}
}

// packOf builds a packed message of sub for workflow wf whose events are
// the given CloudEvents (ids from them), the n-th receive.
func (f *fixture) packOf(sub, wf, pack string, n int, events ...string) Message {
	b := route.Pointer{Subscription: sub, WorkflowID: wf, Pack: pack}
	for i, ce := range events {
		var head struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal([]byte(ce), &head); err != nil {
			panic(err)
		}
		b.Events = append(b.Events, route.PackedEvent{EventID: head.ID, Position: route.Position{Shard: "s", Seq: "1", Sub: i}, Event: json.RawMessage(ce)})
	}
	raw, _ := json.Marshal(b)
	return Message{ID: "m-" + pack, ReceiptHandle: "rh-" + pack, Body: string(raw), GroupID: route.GroupID(sub, wf), ReceiveCount: n, SentAt: f.now.Add(-time.Second)}
}

func cloudEvent(wf, id string) string {
	return fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"t","type":"order.created","workflowid":%q,"data":{}}`, id, wf)
}

// An event inside a body of another workflow (a message written by hand:
// the router skips events whose workflow is not the record's) is not
// delivered into that workflow's group, which would break both workflows'
// order: it is dead-lettered, whole, naming both workflows, and the pack
// goes on.
func TestPackProbeEventOfAnotherWorkflowIsDeadLettered(t *testing.T) {
	f := newFixture(t, httpSub("a"))
	m := f.packOf("a", "wf1", "a/=p", 1, cloudEvent("wf1", "e1"), cloudEvent("other", "o1"), cloudEvent("wf1", "e2"))
	res, err := f.d.Deliver(context.Background(), []Message{m})
	if err != nil || len(res.Failures) != 0 {
		t.Fatalf("Deliver = %+v, %v", res, err)
	}
	if diff := cmp.Diff([]string{"e1", "e2"}, f.hook.delivered); diff != "" {
		t.Errorf("delivered (-want +got):\n%s", diff)
	}
	if len(f.dl.entries) != 1 || f.dl.entries[0].EventID != "o1" || !strings.Contains(f.dl.entries[0].Error, "other") ||
		!strings.Contains(f.dl.entries[0].Error, "wf1") || len(f.dl.entries[0].Event) == 0 {
		t.Errorf("dead letters %+v, want o1 with its event and an error naming both workflows", f.dl.entries)
	}
	// A single-event message too.
	one := f.msg("a", "wf1", "o2", 1, time.Second)
	one.Body = strings.Replace(one.Body, `"workflowid":"wf1"`, `"workflowid":"other"`, 1)
	if _, err := f.d.Deliver(context.Background(), []Message{one}); err != nil {
		t.Fatal(err)
	}
	if len(f.dl.entries) != 2 || f.dl.entries[1].EventID != "o2" || len(f.hook.delivered) != 2 {
		t.Errorf("dead letters %+v, delivered %v: want o2 dead-lettered", f.dl.entries, f.hook.delivered)
	}
}

// A pack of more than route.MaxPackEvents (the router never writes one) is
// delivered whole, in order: the limit is the router's, and the deliverer
// bounds its time by PackReserve, not by the count.
func TestPackProbeMoreThanMaxPackEvents(t *testing.T) {
	f := newFixture(t, httpSub("a"))
	var evs, want []string
	for i := range route.MaxPackEvents + 1 {
		id := fmt.Sprintf("e%02d", i)
		evs = append(evs, cloudEvent("wf1", id))
		want = append(want, id)
	}
	res, err := f.d.Deliver(context.Background(), []Message{f.packOf("a", "wf1", "a/=big", 1, evs...)})
	if err != nil || len(res.Failures) != 0 {
		t.Fatalf("Deliver = %+v, %v", res, err)
	}
	if diff := cmp.Diff(want, f.hook.delivered); diff != "" {
		t.Errorf("delivered (-want +got):\n%s", diff)
	}
}

// A pack whose recorded progress is past its end (written for a longer
// pack under the same id: the router's ids now cover every event, so only
// a hand-written body can) delivers nothing again and clears the progress.
func TestPackProbeProgressPastTheEnd(t *testing.T) {
	f := newFixture(t, httpSub("a"))
	p := withProgress(t, f)
	p.done["a|a/=p"] = 9
	res, err := f.d.Deliver(context.Background(), []Message{f.packOf("a", "wf1", "a/=p", 2, cloudEvent("wf1", "e1"), cloudEvent("wf1", "e2"))})
	if err != nil || len(res.Failures) != 0 || len(f.hook.delivered) != 0 || len(p.done) != 0 {
		t.Errorf("Deliver = %+v, %v; delivered %v, progress %v: want nothing delivered and the progress cleared", res, err, f.hook.delivered, p.done)
	}
}

// randomHook fails a share of deliveries at random and records the rest
// per workflow.
type randomHook struct {
	mu    sync.Mutex
	rnd   *rand.Rand
	failP float64
	got   map[string][]string
	fails int
}

func (h *randomHook) Deliver(_ context.Context, _ webhook.Target, e *event.Event) webhook.Result {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.rnd.Float64() < h.failP {
		h.fails++
		return webhook.Result{Outcome: webhook.Retry, Status: 503, Err: fmt.Errorf("503")}
	}
	h.got[e.WorkflowID] = append(h.got[e.WorkflowID], e.ID)
	return webhook.Result{Outcome: webhook.Delivered, Status: 204}
}

// A FIFO queue simulated over Deliver: groups of packs and single messages,
// batches of up to 10 taken from the groups' heads (several per group, in
// order), a retried message and every later one of its group received
// again, with ReceiveCount counting; the hook fails 30 % of deliveries.
// With progress and attempt counts kept, every event arrives once, in
// order per workflow; run with -race, groups are delivered in parallel.
func TestPackProbeRandomFailuresSimulated(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			f := newFixture(t, httpSub("a"))
			withProgress(t, f)
			f.d.tries = &fakeAttempts{n: map[string]int{}}
			hook := &randomHook{rnd: rand.New(rand.NewPCG(seed, 7)), failP: 0.3, got: map[string][]string{}}
			f.d.targets.Webhook = hook
			rnd := rand.New(rand.NewPCG(seed, 11))
			want := map[string][]string{}
			queues := map[string][]Message{}
			var groups []string
			for w := range 6 {
				wf := fmt.Sprintf("wf%d", w)
				groups = append(groups, route.GroupID("a", wf))
				for p := range 1 + rnd.IntN(4) {
					n := 1 + rnd.IntN(route.MaxPackEvents)
					var evs []string
					for k := range n {
						id := fmt.Sprintf("%s-%d-%02d", wf, p, k)
						evs = append(evs, cloudEvent(wf, id))
						want[wf] = append(want[wf], id)
					}
					var m Message
					if n == 1 {
						m = f.msg("a", wf, fmt.Sprintf("%s-%d-00", wf, p), 0, time.Second)
					} else {
						m = f.packOf("a", wf, fmt.Sprintf("a/=%s-%d", wf, p), 0, evs...)
					}
					m.ID, m.ReceiptHandle = fmt.Sprintf("%s-%d", wf, p), fmt.Sprintf("rh-%s-%d", wf, p)
					queues[route.GroupID("a", wf)] = append(queues[route.GroupID("a", wf)], m)
				}
			}
			for round := 0; ; round++ {
				if round > 2000 {
					t.Fatal("not delivered after 2000 batches")
				}
				var batch []Message
				for _, g := range groups {
					for i := 0; i < len(queues[g]) && len(batch) < 10; i++ {
						queues[g][i].ReceiveCount++
						batch = append(batch, queues[g][i])
					}
				}
				if len(batch) == 0 {
					break
				}
				rnd.Shuffle(len(groups), func(i, j int) { groups[i], groups[j] = groups[j], groups[i] })
				res, err := f.d.Deliver(context.Background(), batch)
				if err != nil {
					t.Fatal(err)
				}
				failed := map[string]bool{}
				for _, id := range res.Failures {
					failed[id] = true
				}
				for _, m := range batch {
					if !failed[m.ID] {
						q := queues[m.GroupID]
						if q[0].ID != m.ID {
							t.Fatalf("%s handled before %s, ahead of it in its group", m.ID, q[0].ID)
						}
						queues[m.GroupID] = q[1:]
					}
				}
			}
			if diff := cmp.Diff(want, hook.got); diff != "" {
				t.Errorf("delivered (-want +got):\n%s", diff)
			}
			if hook.fails == 0 || len(f.dl.entries) != 0 {
				t.Errorf("%d failures, dead letters %v: want failures and no dead letter", hook.fails, f.dl.entries)
			}
		})
	}
}

// A deliver function whose timeout is below PackReserve (a deployment may
// lower the template's 300 s) still gets through packs: each invocation
// keeps half its time as the reserve instead, so a pack is never stopped
// at its first event on every receive, for ever, with its group held.
func TestPackProbeShortFunctionTimeout(t *testing.T) {
	f := newFixture(t, httpSub("a"))
	withProgress(t, f)
	ids := []string{"e1", "e2", "e3"}
	for receive := 1; receive <= 3 && len(f.hook.delivered) < len(ids); receive++ {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err := f.d.Deliver(ctx, []Message{f.pack("a", "wf1", ids, receive)})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff(ids, f.hook.delivered); diff != "" {
		t.Errorf("delivered with a 30 s invocation (-want +got):\n%s", diff)
	}
}

// An endpoint that answers 410 Gone in the middle of a pack disables its
// subscription: that event and the pack's later ones are dead-lettered, in
// order, whole, and the pack is handled (the group goes on).
func TestPackProbeGoneMidPack(t *testing.T) {
	f := newFixture(t, httpSub("a"))
	withProgress(t, f)
	f.hook.answers["e2"] = webhook.Result{Outcome: webhook.Disable, Status: 410, Err: fmt.Errorf("410")}
	res, err := f.d.Deliver(context.Background(), []Message{f.pack("a", "wf1", []string{"e1", "e2", "e3", "e4"}, 1)})
	if err != nil || len(res.Failures) != 0 {
		t.Fatalf("Deliver = %+v, %v", res, err)
	}
	var dl []string
	for _, e := range f.dl.entries {
		dl = append(dl, e.EventID)
		if len(e.Event) == 0 {
			t.Errorf("dead letter %s without its event", e.EventID)
		}
	}
	if diff := cmp.Diff([]string{"e2", "e3", "e4"}, dl); diff != "" || len(f.hook.delivered) != 1 {
		t.Errorf("delivered %v; dead letters (-want +got):\n%s", f.hook.delivered, diff)
	}
}

// failingProgress cannot record progress.
type failingProgress struct{ fakeProgress }

func (f *failingProgress) SetProgress(context.Context, string, string, int, time.Time) error {
	return fmt.Errorf("throttled")
}

// When a pack's progress cannot be recorded, its retry starts over: what
// was delivered is delivered again (at least once), nothing is lost, and
// the order holds.
func TestPackProbeProgressUnrecorded(t *testing.T) {
	f := newFixture(t, httpSub("a"))
	f.d.progress = &failingProgress{fakeProgress{done: map[string]int{}}}
	logs := logTo(f)
	f.hook.answers["e3"] = webhook.Result{Outcome: webhook.Retry, Status: 503, Err: fmt.Errorf("503")}
	ids := []string{"e1", "e2", "e3"}
	if _, err := f.d.Deliver(context.Background(), []Message{f.pack("a", "wf1", ids, 1)}); err != nil {
		t.Fatal(err)
	}
	delete(f.hook.answers, "e3")
	if res, err := f.d.Deliver(context.Background(), []Message{f.pack("a", "wf1", ids, 2)}); err != nil || len(res.Failures) != 0 {
		t.Fatalf("Deliver = %+v, %v", res, err)
	}
	if diff := cmp.Diff([]string{"e1", "e2", "e1", "e2", "e3"}, f.hook.delivered); diff != "" {
		t.Errorf("delivered (-want +got):\n%s", diff)
	}
	if !strings.Contains(logs.String(), "cannot record a pack's progress") {
		t.Errorf("no log of the unrecorded progress:\n%s", logs)
	}
}
