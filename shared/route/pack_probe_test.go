package route

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/flowbus/flowbus/shared/kinesisevent"
)

// packIDs routes records and returns the pack ids sent, by group, in order.
func packIDs(t *testing.T, recs ...kinesisevent.Record) map[string][]string {
	t.Helper()
	src := &fakeSource{subs: subs(t, "s", `{"type":["x"]}`)}
	q := &fakeQueue{}
	if _, st, err := newRouter(t, src, q).Route(context.Background(), recs); err != nil || st.Stopped != 0 {
		t.Fatalf("Route: %+v, %v", st, err)
	}
	out := map[string][]string{}
	for _, s := range q.sent {
		if s.Body.Pack == "" {
			t.Fatalf("message %s is not a pack", s.Dedup)
		}
		out[s.Group] = append(out[s.Group], s.Body.Pack)
	}
	return out
}

// Event ids are unique within a workflow only (the store's id marker is
// w#<workflow>/i#<id>): two workflows whose packs hold the same ids must
// not share a pack id, which keys the deliverer's progress
// (sub#<name>/pk#<pack>) — shared, a retry of one workflow's pack would
// start where the other's stopped and skip events.
func TestPackIDsOfWorkflowsWithTheSameEventIDsDiffer(t *testing.T) {
	ids := packIDs(t, rec("1", "wf-a", events("e", "wf-a", 3, 5)...), rec("2", "wf-b", events("e", "wf-b", 3, 5)...))
	a, b := ids["s/wf-a"], ids["s/wf-b"]
	if len(a) != 1 || len(b) != 1 {
		t.Fatalf("packs %v, want one per workflow", ids)
	}
	if a[0] == b[0] {
		t.Errorf("wf-a and wf-b both packed as %s", a[0])
	}
}

// Two packs of one workflow with the same first and last events and the
// same size but another event between (a publish sent again with one event
// changed) are different messages: one pack id for both would have the
// queue drop the second within its deduplication window, and its new
// event never reach the subscription.
func TestPackIDCoversEveryEvent(t *testing.T) {
	one := []string{ev("a", "wf", "x"), ev("b", "wf", "x"), ev("c", "wf", "x")}
	two := []string{ev("a", "wf", "x"), ev("new", "wf", "x"), ev("c", "wf", "x")}
	ids := packIDs(t, rec("1", "wf", one...), rec("2", "wf", two...))["s/wf"]
	if len(ids) != 2 || ids[0] == ids[1] {
		t.Errorf("pack ids %v, want two different ones", ids)
	}
}

// Packs of events whose ids are awkward for SQS tokens (starting with "=",
// non-ASCII, the longest allowed) are valid tokens and keep every id intact
// in the body.
func TestPackOfAwkwardIDs(t *testing.T) {
	awkward := []string{"=x", "=", "é-ü-日本", strings.Repeat("z", 256), "a b", `q"uote`, "<&>"}
	var evs []string
	for _, id := range awkward {
		raw, _ := json.Marshal(id)
		evs = append(evs, `{"specversion":"1.0","id":`+string(raw)+`,"source":"test","type":"x","workflowid":"wf","data":{}}`)
	}
	src := &fakeSource{subs: subs(t, "s", `{"type":["x"]}`)}
	q := &fakeQueue{}
	if _, st, err := newRouter(t, src, q).Route(context.Background(), []kinesisevent.Record{rec("1", "wf", evs...)}); err != nil || st.Stopped != 0 {
		t.Fatalf("Route: %+v, %v", st, err)
	}
	if len(q.sent) != 1 {
		t.Fatalf("%d messages, want one pack", len(q.sent))
	}
	s := q.sent[0]
	if len(s.Dedup) > maxToken || !printableASCII(s.Dedup) || !strings.HasPrefix(s.Dedup, "s/=") || !utf8.ValidString(s.Dedup) {
		t.Errorf("deduplication id %q is not a valid pack token", s.Dedup)
	}
	var got []string
	for _, e := range s.Body.Events {
		got = append(got, e.EventID)
		if len(e.Event) == 0 {
			t.Errorf("event %q went without its event", e.EventID)
		}
	}
	if strings.Join(got, "\x00") != strings.Join(awkward, "\x00") {
		t.Errorf("pack ids %q, want %q", got, awkward)
	}
}

// A record holding one event id twice (a request that repeats an event)
// is routed once per subscription: as single messages the second took the
// first's deduplication id and the queue dropped it; in a pack it would
// be delivered twice.
func TestPackHoldsAnIDOnce(t *testing.T) {
	src := &fakeSource{subs: subs(t, "s", `{"type":["x"]}`)}
	q := &fakeQueue{}
	recs := []kinesisevent.Record{rec("1", "wf", ev("a", "wf", "x"), ev("b", "wf", "x"), ev("a", "wf", "x"), ev("c", "wf", "x"), ev("b", "wf", "x"))}
	if _, st, err := newRouter(t, src, q).Route(context.Background(), recs); err != nil || st.Stopped != 0 {
		t.Fatalf("Route: %+v, %v", st, err)
	}
	if got, want := q.byGroup()["s/wf"], []string{"a", "b", "c"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("sent %v, want %v", got, want)
	}
}
