package route

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/go-cmp/cmp"

	"github.com/flowbus/flowbus/shared/kinesisevent"
	"github.com/flowbus/flowbus/shared/pattern"
)

// fakeSource serves a fixed set of subscriptions and counts its loads.
type fakeSource struct {
	mu    sync.Mutex
	subs  []Sub
	err   error
	loads int
}

func (f *fakeSource) Subscriptions(context.Context) ([]Sub, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.loads++
	return f.subs, f.err
}

func subs(t testing.TB, kv ...string) []Sub {
	t.Helper()
	var out []Sub
	for i := 0; i < len(kv); i += 2 {
		p, err := pattern.Compile(kv[i+1], pattern.EventBridge)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, Sub{Name: kv[i], Pattern: p})
	}
	return out
}

// sent is one entry the fake queue accepted.
type sent struct {
	Call  int
	Group string
	Dedup string
	Body  Pointer
	size  int // of the body
}

// fakeQueue records calls; fail decides per entry (nil: all succeed).
type fakeQueue struct {
	mu    sync.Mutex
	calls int
	sent  []sent
	fail  func(e types.SendMessageBatchRequestEntry, attempt int) bool
	tries map[string]int // by dedup id
	err   error
}

func (q *fakeQueue) SendMessageBatch(_ context.Context, in *sqs.SendMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.calls++
	if q.err != nil {
		return nil, q.err
	}
	if q.tries == nil {
		q.tries = map[string]int{}
	}
	if len(in.Entries) > MaxBatchEntries {
		return nil, fmt.Errorf("%d entries", len(in.Entries))
	}
	groups := map[string]bool{}
	out := &sqs.SendMessageBatchOutput{}
	for _, e := range in.Entries {
		g := aws.ToString(e.MessageGroupId)
		if groups[g] {
			return nil, fmt.Errorf("two entries of group %s in one call", g)
		}
		groups[g] = true
		d := aws.ToString(e.MessageDeduplicationId)
		q.tries[d]++
		if q.fail != nil && q.fail(e, q.tries[d]) {
			out.Failed = append(out.Failed, types.BatchResultErrorEntry{Id: e.Id, Code: aws.String("InternalError")})
			continue
		}
		var p Pointer
		if err := json.Unmarshal([]byte(aws.ToString(e.MessageBody)), &p); err != nil {
			return nil, err
		}
		q.sent = append(q.sent, sent{Call: q.calls, Group: g, Dedup: d, Body: p, size: len(aws.ToString(e.MessageBody))})
		out.Successful = append(out.Successful, types.SendMessageBatchResultEntry{Id: e.Id})
	}
	return out, nil
}

// byGroup lists the event ids sent per group, in order.
func (q *fakeQueue) byGroup() map[string][]string {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := map[string][]string{}
	for _, s := range q.sent {
		if len(s.Body.Events) == 0 {
			out[s.Group] = append(out[s.Group], s.Body.EventID)
		}
		for _, e := range s.Body.Events {
			out[s.Group] = append(out[s.Group], e.EventID)
		}
	}
	return out
}

// ev is a CloudEvent as the stream carries it.
func ev(id, wf, typ string, extra ...string) string {
	s := fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"test","type":%q,"workflowid":%q`, id, typ, wf)
	for _, x := range extra {
		s += "," + x
	}
	return s + `,"data":{"n":1}}`
}

// rec is a record of a workflow's events, at sequence number seq.
func rec(seq, wf string, events ...string) kinesisevent.Record {
	data := events[0]
	if len(events) > 1 {
		data = "[" + strings.Join(events, ",") + "]"
	}
	return kinesisevent.Record{PartitionKey: wf, SequenceNumber: seq, Data: []byte(data), ShardID: "shardId-000000000000"}
}

func newRouter(t *testing.T, src Source, q Sender) *Router {
	t.Helper()
	r, err := New(Config{QueueURL: "http://q/000000000000/delivery.fifo"}, src, q, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.pause = func(context.Context, int) error { return nil }
	return r
}

func TestRouteOrderPerGroup(t *testing.T) {
	src := &fakeSource{subs: subs(t, "all", `{"source":["test"]}`, "started", `{"type":["started"]}`, "none", `{"type":["never"]}`)}
	q := &fakeQueue{}
	r := newRouter(t, src, q)
	records := []kinesisevent.Record{
		rec("1", "wf-a", ev("a1", "wf-a", "started"), ev("a2", "wf-a", "step")),
		rec("2", "wf-b", ev("b1", "wf-b", "started")),
		rec("3", "wf-a", ev("a3", "wf-a", "started")),
		rec("4", "wf-b", ev("b2", "wf-b", "step"), `{"not":"an event"}`),
		rec("5", "wf-c", ev("c1", "wf-other", "step")), // partition key differs: the store parks it
	}
	retry, st, err := r.Route(context.Background(), records)
	if err != nil || len(retry) != 0 {
		t.Fatalf("Route = %v, %v, want no retry and no error", retry, err)
	}
	want := map[string][]string{
		"all/wf-a":     {"a1", "a2", "a3"},
		"all/wf-b":     {"b1", "b2"},
		"started/wf-a": {"a1", "a3"},
		"started/wf-b": {"b1"},
	}
	if diff := cmp.Diff(want, q.byGroup()); diff != "" {
		t.Errorf("sent per group (-want +got):\n%s", diff)
	}
	// all/wf-a's a1 and a2 share record 1: one packed message.
	if diff := cmp.Diff(Stats{Records: 5, Events: 5, Skipped: 2, Matched: 8, MatchedBy: map[string]int{"all": 5, "started": 3}, Sent: 8, Messages: 7, Calls: 2}, st); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}
	first := q.sent[0]
	if !strings.HasPrefix(first.Dedup, "all/=") || first.Body.Pack != first.Dedup || first.Body.Subscription != "all" || first.Body.WorkflowID != "wf-a" ||
		first.Body.EventID != "" || len(first.Body.Events) != 2 ||
		first.Body.Events[1].Position != (Position{Shard: "shardId-000000000000", Seq: "1", Sub: 1}) {
		t.Errorf("first entry %+v, want the pack of a1 and a2", first)
	}
	var e map[string]any
	if err := json.Unmarshal(first.Body.Events[0].Event, &e); err != nil || e["id"] != "a1" || e["workflowid"] != "wf-a" {
		t.Errorf("inline event %s (%v), want the CloudEvent", first.Body.Events[0].Event, err)
	}
	single := q.sent[1]
	if single.Dedup != "started/a1" || single.Body.EventID != "a1" || single.Body.Pack != "" ||
		single.Body.Position != (Position{Shard: "shardId-000000000000", Seq: "1", Sub: 0}) {
		t.Errorf("second entry %+v, want started's a1 alone", single)
	}
	if err := json.Unmarshal(single.Body.Event, &e); err != nil || e["id"] != "a1" {
		t.Errorf("inline event %s (%v), want the CloudEvent", single.Body.Event, err)
	}
}

func TestRouteFailureStopsOnlyItsGroup(t *testing.T) {
	src := &fakeSource{subs: subs(t, "s1", `{"source":["test"]}`, "s2", `{"source":["test"]}`)}
	q := &fakeQueue{fail: func(e types.SendMessageBatchRequestEntry, _ int) bool {
		return aws.ToString(e.MessageDeduplicationId) == "s1/a2" // always
	}}
	r := newRouter(t, src, q)
	records := []kinesisevent.Record{
		rec("10", "wf-a", ev("a1", "wf-a", "x")),
		rec("11", "wf-b", ev("b1", "wf-b", "x")),
		rec("12", "wf-a", ev("a2", "wf-a", "x")),
		rec("13", "wf-a", ev("a3", "wf-a", "x")),
		rec("14", "wf-b", ev("b2", "wf-b", "x")),
	}
	retry, st, err := r.Route(context.Background(), records)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"12"}, retry); diff != "" {
		t.Errorf("retry (-want +got):\n%s", diff)
	}
	want := map[string][]string{"s1/wf-a": {"a1"}, "s1/wf-b": {"b1", "b2"}, "s2/wf-a": {"a1", "a2", "a3"}, "s2/wf-b": {"b1", "b2"}}
	if diff := cmp.Diff(want, q.byGroup()); diff != "" {
		t.Errorf("sent per group (-want +got):\n%s", diff)
	}
	if st.Stopped != 1 || q.tries["s1/a2"] != defaultAttempts || q.tries["s1/a3"] != 0 {
		t.Errorf("stopped %d, tries %v: want one group stopped after %d attempts and a3 never sent", st.Stopped, q.tries, defaultAttempts)
	}

	// Lambda retries from record 12: a2 and a3 of s1 go, the rest again
	// (the FIFO queue deduplicates them).
	q.fail = nil
	retry, _, err = r.Route(context.Background(), records[2:])
	if err != nil || len(retry) != 0 {
		t.Fatalf("retry Route = %v, %v", retry, err)
	}
	if got := q.byGroup()["s1/wf-a"]; !cmp.Equal(got, []string{"a1", "a2", "a3"}) {
		t.Errorf("s1/wf-a after the retry = %v, want a1 a2 a3", got)
	}
}

func TestRouteTransientFailureRetriesInPlace(t *testing.T) {
	src := &fakeSource{subs: subs(t, "s", `{"source":["test"]}`)}
	q := &fakeQueue{fail: func(e types.SendMessageBatchRequestEntry, attempt int) bool {
		return strings.Contains(aws.ToString(e.MessageBody), `"a1"`) && attempt == 1
	}}
	r := newRouter(t, src, q)
	retry, st, err := r.Route(context.Background(), []kinesisevent.Record{rec("1", "wf-a", ev("a1", "wf-a", "x"), ev("a2", "wf-a", "x"))})
	if err != nil || len(retry) != 0 || st.Sent != 2 {
		t.Fatalf("Route = %v, %+v, %v", retry, st, err)
	}
	if diff := cmp.Diff(map[string][]string{"s/wf-a": {"a1", "a2"}}, q.byGroup()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}

	// A whole call failing stops every group at its entry once attempts run out.
	q2 := &fakeQueue{err: errors.New("throttled")}
	r2 := newRouter(t, src, q2)
	retry, _, err = r2.Route(context.Background(), []kinesisevent.Record{rec("1", "wf-a", ev("a1", "wf-a", "x")), rec("2", "wf-b", ev("b1", "wf-b", "x"))})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"1", "2"}, retry); diff != "" {
		t.Errorf("retry (-want +got):\n%s", diff)
	}
}

func TestRouteReplayedEvents(t *testing.T) {
	src := &fakeSource{subs: subs(t, "s", `{"type":["x"]}`, "replays", `{"replayid":[{"exists":true}]}`)}
	q := &fakeQueue{}
	r := newRouter(t, src, q)
	_, st, err := r.Route(context.Background(), []kinesisevent.Record{
		rec("1", "wf", ev("e1", "wf", "x")),
		rec("2", "wf", ev("e1", "wf", "x", `"replayid":"r-7"`, `"replayedat":"2026-01-01T00:00:00Z"`)),
	})
	if err != nil || st.Sent != 3 {
		t.Fatalf("Route: %+v, %v; want the event, its replay and the replay to the replays subscription", st, err)
	}
	var dedups []string
	for _, s := range q.sent {
		dedups = append(dedups, s.Dedup)
	}
	slices.Sort(dedups)
	if diff := cmp.Diff([]string{"replays/e1/r-7", "s/e1", "s/e1/r-7"}, dedups); diff != "" {
		t.Errorf("dedup ids (-want +got):\n%s", diff)
	}
}

func TestRouteRefresh(t *testing.T) {
	src := &fakeSource{subs: subs(t, "old", `{"type":["x"]}`)}
	q := &fakeQueue{}
	r := newRouter(t, src, q)
	now := time.Unix(1000, 0)
	r.now = func() time.Time { return now }
	batch := []kinesisevent.Record{rec("1", "wf", ev("e1", "wf", "x"))}
	route := func() []string {
		q.sent = nil
		if _, _, err := r.Route(context.Background(), batch); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, s := range q.sent {
			out = append(out, s.Body.Subscription)
		}
		return out
	}
	if got := route(); !cmp.Equal(got, []string{"old"}) {
		t.Fatalf("first = %v", got)
	}
	src.subs = subs(t, "new", `{"type":["x"]}`)
	now = now.Add(MaxRefresh - time.Millisecond)
	if got := route(); !cmp.Equal(got, []string{"old"}) {
		t.Errorf("before the refresh = %v, want old", got)
	}
	now = now.Add(time.Millisecond)
	if got := route(); !cmp.Equal(got, []string{"new"}) {
		t.Errorf("after %s = %v, want new", MaxRefresh, got)
	}
	// A failed reload keeps the set it has.
	src.err = errors.New("table down")
	now = now.Add(MaxRefresh)
	if got := route(); !cmp.Equal(got, []string{"new"}) {
		t.Errorf("after a failed reload = %v, want new", got)
	}
	if src.loads != 3 {
		t.Errorf("loads = %d, want 3", src.loads)
	}
	// With no set at all, the batch fails.
	r2 := newRouter(t, &fakeSource{err: errors.New("table down")}, q)
	if _, _, err := r2.Route(context.Background(), batch); err == nil {
		t.Error("Route with no subscription set succeeded")
	}
}

func TestRouteLargeEventGoesAsPointer(t *testing.T) {
	src := &fakeSource{subs: subs(t, "s", `{"type":["x"]}`)}
	q := &fakeQueue{}
	r := newRouter(t, src, q)
	big := fmt.Sprintf(`{"specversion":"1.0","id":"big","source":"test","type":"x","workflowid":"wf","data":{"s":%q}}`, strings.Repeat("x", MaxBatchBytes))
	_, st, err := r.Route(context.Background(), []kinesisevent.Record{rec("1", "wf", big, ev("small", "wf", "x"))})
	if err != nil || st.Sent != 2 || st.Pointers != 1 {
		t.Fatalf("Route: %+v, %v", st, err)
	}
	if q.sent[0].Body.Event != nil || q.sent[0].Body.EventID != "big" || q.sent[1].Body.Event == nil {
		t.Errorf("sent %+v, want the big event as a pointer and the small one inline", q.sent)
	}
}

func TestTokens(t *testing.T) {
	long := strings.Repeat("w", 200)
	for _, tt := range []struct{ sub, wf string }{{"s", long}, {"s", "has space"}, {"s", "é"}} {
		g := GroupID(tt.sub, tt.wf)
		if len(g) > maxToken || !printableASCII(g) || !strings.HasPrefix(g, tt.sub+"/#") {
			t.Errorf("GroupID(%q, %q) = %q, want a valid hashed token", tt.sub, tt.wf, g)
		}
	}
	if GroupID("s", "wf-1") != "s/wf-1" {
		t.Errorf("GroupID(s, wf-1) = %q", GroupID("s", "wf-1"))
	}
	if GroupID("s", long) == GroupID("s", long+"x") {
		t.Error("two long workflow ids share a group")
	}
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
