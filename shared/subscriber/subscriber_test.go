package subscriber

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/google/go-cmp/cmp"

	"github.com/flowbus/flowbus/shared/event"
	"github.com/flowbus/flowbus/shared/kinesisevent"
	"github.com/flowbus/flowbus/shared/pattern"
)

// ev is a test event: its workflow, id and type, and optional data.
func ev(wf, id, typ string) *event.Event {
	return &event.Event{ID: id, Source: "/test", Type: typ, WorkflowID: wf, Time: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), IDGenerated: true}
}

// rec is a record of one workflow holding evs as flowbus writes them: one
// CloudEvent, or a CloudEvents batch when there are several.
func rec(seq int, evs ...*event.Event) kinesisevent.Record {
	var data []byte
	if len(evs) == 1 {
		data = event.Append(nil, evs[0], true)
	} else {
		data = append(data, '[')
		for i, e := range evs {
			if i > 0 {
				data = append(data, ',')
			}
			data = event.Append(data, e, true)
		}
		data = append(data, ']')
	}
	return kinesisevent.Record{PartitionKey: evs[0].WorkflowID, SequenceNumber: fmt.Sprintf("4960%016d", seq), Data: data, ShardID: "shardId-000000000000"}
}

// recorder is a Func that remembers the events it finished, per workflow,
// and fails those fail says to.
type recorder struct {
	mu    sync.Mutex
	calls map[string][]string // event ids per workflow, every call
	done  map[string][]string // event ids per workflow, calls that returned nil
	fail  func(e event.Event) error
}

func newRecorder(fail func(event.Event) error) *recorder {
	return &recorder{calls: map[string][]string{}, done: map[string][]string{}, fail: fail}
}

func (r *recorder) fn(_ context.Context, e event.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls[e.WorkflowID] = append(r.calls[e.WorkflowID], e.ID)
	if r.fail != nil {
		if err := r.fail(e); err != nil {
			return err
		}
	}
	r.done[e.WorkflowID] = append(r.done[e.WorkflowID], e.ID)
	return nil
}

// batch is three workflows interleaved on one shard, some records
// aggregated: a holds a1..a6, b holds b1..b5, c holds c1..c4.
func batch() ([]kinesisevent.Record, map[string][]string) {
	recs := []kinesisevent.Record{
		rec(1, ev("a", "a1", "t"), ev("a", "a2", "t")),
		rec(2, ev("b", "b1", "t")),
		rec(3, ev("c", "c1", "t"), ev("c", "c2", "t"), ev("c", "c3", "t")),
		rec(4, ev("a", "a3", "t")),
		rec(5, ev("b", "b2", "t"), ev("b", "b3", "t")),
		rec(6, ev("a", "a4", "t"), ev("a", "a5", "t")),
		rec(7, ev("b", "b4", "t")),
		rec(8, ev("c", "c4", "t")),
		rec(9, ev("b", "b5", "t")),
		rec(10, ev("a", "a6", "t")),
	}
	want := map[string][]string{
		"a": {"a1", "a2", "a3", "a4", "a5", "a6"},
		"b": {"b1", "b2", "b3", "b4", "b5"},
		"c": {"c1", "c2", "c3", "c4"},
	}
	return recs, want
}

func failOn(ids ...string) func(event.Event) error {
	return func(e event.Event) error {
		for _, id := range ids {
			if e.ID == id {
				return fmt.Errorf("injected failure at %s", id)
			}
		}
		return nil
	}
}

func identifiers(res Result) []string {
	var out []string
	for _, f := range res.Response().BatchItemFailures {
		out = append(out, f.ItemIdentifier)
	}
	return out
}

// TestReportsExactlyTheFailedWorkflows: each failing workflow is reported
// once, by the record it failed at, and nothing else is; its later events
// never reach the function, and the other workflows run to the end.
func TestReportsExactlyTheFailedWorkflows(t *testing.T) {
	recs, want := batch()
	for _, tc := range []struct {
		name     string
		fail     []string
		reported []string // sequence numbers, in record order
		calls    map[string][]string
	}{
		{name: "none", calls: want},
		{name: "single event record", fail: []string{"b2"}, reported: []string{recs[4].SequenceNumber},
			calls: map[string][]string{"a": want["a"], "b": {"b1", "b2"}, "c": want["c"]}},
		{name: "second event of an aggregated record", fail: []string{"a5"}, reported: []string{recs[5].SequenceNumber},
			calls: map[string][]string{"a": {"a1", "a2", "a3", "a4", "a5"}, "b": want["b"], "c": want["c"]}},
		{name: "first record", fail: []string{"a1"}, reported: []string{recs[0].SequenceNumber},
			calls: map[string][]string{"a": {"a1"}, "b": want["b"], "c": want["c"]}},
		{name: "two workflows", fail: []string{"c4", "b1"}, reported: []string{recs[1].SequenceNumber, recs[7].SequenceNumber},
			calls: map[string][]string{"a": want["a"], "b": {"b1"}, "c": want["c"]}},
		{name: "a workflow's last event", fail: []string{"a6"}, reported: []string{recs[9].SequenceNumber},
			calls: want},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRecorder(failOn(tc.fail...))
			res := New(r.fn, Options{Concurrency: 2}).Handle(context.Background(), recs)
			if diff := cmp.Diff(tc.reported, identifiers(res)); diff != "" {
				t.Errorf("reported (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.calls, r.calls); diff != "" {
				t.Errorf("calls per workflow (-want +got):\n%s", diff)
			}
			for _, f := range res.Failures {
				if f.Err == nil || f.EventID == "" || f.WorkflowID == "" {
					t.Errorf("failure %+v: want the workflow, event and error", f)
				}
			}
		})
	}
}

// lambdaRetries delivers recs to s as Lambda does with
// ReportBatchItemFailures: after a batch with failures, everything from the
// lowest reported sequence number is delivered again. It returns the
// batches delivered.
func lambdaRetries(t *testing.T, s *Subscriber, recs []kinesisevent.Record, maxRounds int) int {
	t.Helper()
	b := recs
	for round := 1; ; round++ {
		if round > maxRounds {
			t.Fatalf("still failing after %d deliveries", maxRounds)
		}
		res := s.Handle(context.Background(), b)
		if len(res.Failures) == 0 {
			return round
		}
		lowest := -1
		for _, id := range identifiers(res) {
			for i, r := range b {
				if r.SequenceNumber == id && (lowest < 0 || i < lowest) {
					lowest = i
				}
			}
		}
		if lowest < 0 {
			t.Fatalf("reported %v: not records of the batch", identifiers(res))
		}
		b = b[lowest:]
	}
}

// TestOrderUnderInjectedFailures fails calls at random and redelivers as
// Lambda does: every workflow's events are finished in stream order, each
// at least once; with an idempotency store each exactly once.
func TestOrderUnderInjectedFailures(t *testing.T) {
	recs, want := batch()
	retried := 0
	t.Cleanup(func() {
		if retried == 0 {
			t.Error("no run needed a second delivery: the failures were not injected")
		}
	})
	for _, withStore := range []bool{false, true} {
		for seed := range uint64(20) {
			t.Run(fmt.Sprintf("store=%v/seed=%d", withStore, seed), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(seed, 7))
				var rmu sync.Mutex
				r := newRecorder(func(event.Event) error {
					rmu.Lock()
					defer rmu.Unlock()
					if rng.IntN(4) == 0 {
						return errors.New("injected")
					}
					return nil
				})
				opts := Options{Concurrency: 1 + int(seed%3)}
				var store *memStore
				if withStore {
					store = &memStore{state: map[string]string{}}
					opts.Idempotency = store
				}
				if lambdaRetries(t, New(r.fn, opts), recs, 200) > 1 {
					retried++
				}
				for wf, ids := range want {
					got := firstTimes(r.done[wf])
					if diff := cmp.Diff(ids, got); diff != "" {
						t.Errorf("%s finished, first time each (-want +got):\n%s", wf, diff)
					}
					if withStore && len(r.done[wf]) != len(ids) {
						t.Errorf("%s finished %v: want each event once with the store", wf, r.done[wf])
					}
					// A workflow's events are finished in order: a
					// repeat (without the store) restarts from an
					// earlier event and goes forward again.
					assertRestartsOnly(t, wf, r.done[wf], ids)
				}
			})
		}
	}
}

// firstTimes keeps the first occurrence of each id.
func firstTimes(ids []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// assertRestartsOnly checks that got, the finished events of a workflow,
// only ever moves to the next event of want or back to an earlier one
// (a redelivery), never skipping forward.
func assertRestartsOnly(t *testing.T, wf string, got, want []string) {
	t.Helper()
	pos := map[string]int{}
	for i, id := range want {
		pos[id] = i
	}
	high := -1 // the furthest event finished so far
	for _, id := range got {
		p := pos[id]
		if p > high+1 {
			t.Errorf("%s: %s finished before %s: %v", wf, id, want[high+1], got)
			return
		}
		high = max(high, p)
	}
}

// memStore is an in-memory Idempotency for the unit tests; the DynamoDB one
// runs against dynalite in idempotency_test.go.
type memStore struct {
	mu    sync.Mutex
	state map[string]string
}

func (m *memStore) Start(_ context.Context, key string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch m.state[key] {
	case StatusDone:
		return true, nil
	case StatusRunning:
		return false, ErrInProgress
	}
	m.state[key] = StatusRunning
	return false, nil
}

func (m *memStore) Complete(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.state[key] = StatusDone
	return nil
}

func (m *memStore) Release(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.state, key)
	return nil
}

// TestAggregatedRecordsWithFilter: a FilterCriteria on data.type lets an
// aggregated record through when one of its events matches; the pattern
// then picks the matching events one by one, on attributes or on data.
func TestAggregatedRecordsWithFilter(t *testing.T) {
	withData := func(e *event.Event, data string) *event.Event { e.Data = []byte(data); return e }
	recs := []kinesisevent.Record{
		rec(1, ev("a", "a1", "workflow.started"), ev("a", "a2", "workflow.step.completed"), withData(ev("a", "a3", "workflow.completed"), `{"amount":150}`)),
		rec(2, withData(ev("b", "b1", "workflow.completed"), `{"amount":50}`), ev("b", "b2", "workflow.started")),
		rec(3, ev("c", "c1", "workflow.step.completed")),
	}
	for _, tc := range []struct {
		name, pattern string
		calls         map[string][]string
		filtered      int
	}{
		{"type", `{"type":["workflow.started","workflow.completed"]}`,
			map[string][]string{"a": {"a1", "a3"}, "b": {"b1", "b2"}}, 1},
		{"prefix", `{"type":[{"prefix":"workflow.step."}]}`,
			map[string][]string{"a": {"a2"}, "c": {"c1"}}, 2},
		{"data", `{"data":{"amount":[{"numeric":[">",100]}]}}`,
			map[string][]string{"a": {"a3"}}, 2},
		{"workflow and type", `{"workflowid":["b"],"type":["workflow.started"]}`,
			map[string][]string{"b": {"b2"}}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// What Lambda's filter would let through: records whose
			// data (the event or the batch) matches {"data": pattern}.
			lambdaFilter := pattern.MustCompile(`{"data":`+tc.pattern+`}`, pattern.Lambda)
			var passed []kinesisevent.Record
			for _, r := range recs {
				doc, err := pattern.DecodeJSON(r.Data)
				if err != nil {
					t.Fatal(err)
				}
				if lambdaFilter.Match(map[string]any{"data": doc}) {
					passed = append(passed, r)
				}
			}
			r := newRecorder(nil)
			res := New(r.fn, Options{Pattern: pattern.MustCompile(tc.pattern, pattern.EventBridge)}).Handle(context.Background(), passed)
			if diff := cmp.Diff(tc.calls, r.calls); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
			if res.Filtered != tc.filtered || len(res.Failures) != 0 {
				t.Errorf("filtered %d, failures %v; want %d, none", res.Filtered, res.Failures, tc.filtered)
			}
		})
	}
}

func TestReplayedEvents(t *testing.T) {
	replayed := ev("a", "a2", "t")
	replayed.Extensions = []event.Extension{{Name: event.AttrReplayID, Value: []byte(`"r-1"`)}, {Name: event.AttrReplayedAt, Value: []byte(`"2026-12-01T00:00:00Z"`)}}
	recs := []kinesisevent.Record{rec(1, ev("a", "a1", "t"), replayed), rec(2, ev("a", "a3", "t"))}
	for _, skip := range []bool{false, true} {
		r := newRecorder(nil)
		res := New(r.fn, Options{SkipReplayed: skip}).Handle(context.Background(), recs)
		want := []string{"a1", "a2", "a3"}
		if skip {
			want = []string{"a1", "a3"}
		}
		if diff := cmp.Diff(want, r.calls["a"]); diff != "" || (res.Replayed == 1) != skip {
			t.Errorf("SkipReplayed %v: replayed %d, calls (-want +got):\n%s", skip, res.Replayed, diff)
		}
	}
	// A replay is handed again although the original is finished: its key
	// carries the replay id.
	if Key(replayed) == Key(ev("a", "a2", "t")) {
		t.Error("a replayed event has its original's idempotency key")
	}
}

func TestKeysDoNotCollide(t *testing.T) {
	if Key(ev("a#b", "c", "t")) == Key(ev("a", "b#c", "t")) || Key(ev("a1", "2", "t")) == Key(ev("a", "12", "t")) {
		t.Error("two events share a key")
	}
}

// TestInvalidRecords: by default an invalid record stops its workflow (the
// mapping retries it, then gives it to its on-failure destination); with
// OnInvalid answering nil it is passed over.
func TestInvalidRecords(t *testing.T) {
	other := rec(3, ev("b", "b1", "t"))
	other.PartitionKey = "a" // an event of b in a record of a
	recs := []kinesisevent.Record{
		rec(1, ev("a", "a1", "t")),
		{PartitionKey: "a", SequenceNumber: "49600000000000000002", Data: []byte(`{"not":"an event"`)},
		other,
		rec(4, ev("a", "a2", "t")),
		rec(5, ev("c", "c1", "t")),
	}
	r := newRecorder(nil)
	res := New(r.fn, Options{}).Handle(context.Background(), recs)
	if diff := cmp.Diff([]string{recs[1].SequenceNumber}, identifiers(res)); diff != "" {
		t.Errorf("reported (-want +got):\n%s", diff)
	}
	if len(res.Failures) != 1 || !errors.Is(res.Failures[0].Err, ErrInvalidRecord) {
		t.Errorf("failures %v: want one wrapping ErrInvalidRecord", res.Failures)
	}
	if diff := cmp.Diff(map[string][]string{"a": {"a1"}, "c": {"c1"}}, r.calls); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}

	var seen []error
	r = newRecorder(nil)
	res = New(r.fn, Options{OnInvalid: func(_ context.Context, _ kinesisevent.Record, err error) error {
		seen = append(seen, err)
		return nil
	}}).Handle(context.Background(), recs)
	if len(res.Failures) != 0 || res.Invalid != 2 || len(seen) != 2 {
		t.Errorf("failures %v, invalid %d, OnInvalid called %d times: want none, 2, 2", res.Failures, res.Invalid, len(seen))
	}
	if diff := cmp.Diff(map[string][]string{"a": {"a1", "a2"}, "c": {"c1"}}, r.calls); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}

// TestInvoke runs a Lambda Kinesis event through the handler as the runtime
// does, and checks the partial batch response's JSON.
func TestInvoke(t *testing.T) {
	recs, _ := batch()
	payload := kinesisPayload(t, recs)
	var ke events.KinesisEvent
	if err := json.Unmarshal(payload, &ke); err != nil {
		t.Fatal(err)
	}
	if got := New(newRecorder(failOn("b3")).fn, Options{}).HandleEvent(context.Background(), ke); len(got.BatchItemFailures) != 1 ||
		got.BatchItemFailures[0].ItemIdentifier != recs[4].SequenceNumber {
		t.Errorf("HandleEvent: %+v, want b3's record", got)
	}
	r := newRecorder(failOn("b3"))
	out, err := lambda.NewHandler(New(r.fn, Options{})).Invoke(context.Background(), payload)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"batchItemFailures":[{"itemIdentifier":"` + recs[4].SequenceNumber + `"}]}`
	if string(out) != want {
		t.Errorf("response %s, want %s", out, want)
	}
	if _, err := New(r.fn, Options{}).Invoke(context.Background(), []byte(`{"Records":[{"kinesis":{"data":"`+base64.StdEncoding.EncodeToString([]byte("x"))[:3]+`"}}]}`)); err == nil {
		t.Error("a payload with bad base64 was accepted")
	}
}

// TestCancelledContext: a context that ends stops each workflow before its
// next event, and reports it.
func TestCancelledContext(t *testing.T) {
	recs, _ := batch()
	ctx, cancel := context.WithCancel(context.Background())
	var once sync.Once
	r := newRecorder(func(event.Event) error { once.Do(cancel); return nil })
	res := New(r.fn, Options{Concurrency: 1}).Handle(ctx, recs)
	if len(res.Failures) != 3 || res.Handled != 1 {
		t.Errorf("handled %d, failures %v: want 1 and every workflow stopped", res.Handled, res.Failures)
	}
	for _, f := range res.Failures {
		if !errors.Is(f.Err, context.Canceled) {
			t.Errorf("failure %v: want context.Canceled", f)
		}
	}
}

// TestPanic: a panic in the function fails its workflow at that event, like
// an error; the other workflows finish.
func TestPanic(t *testing.T) {
	recs, want := batch()
	r := newRecorder(func(e event.Event) error {
		if e.ID == "c2" {
			panic("boom")
		}
		return nil
	})
	res := New(r.fn, Options{}).Handle(context.Background(), recs)
	if len(res.Failures) != 1 || !errors.Is(res.Failures[0].Err, ErrPanic) || res.Failures[0].SequenceNumber != recs[2].SequenceNumber {
		t.Fatalf("failures %v: want c's record 3 failing with ErrPanic", res.Failures)
	}
	if diff := cmp.Diff(map[string][]string{"a": want["a"], "b": want["b"], "c": {"c1"}}, r.done); diff != "" {
		t.Errorf("finished (-want +got):\n%s", diff)
	}
}

// TestStopBeforeTheDeadline: with the deadline nearer than StopBefore no
// event is started and every workflow is reported from its first record;
// with it further, everything runs.
func TestStopBeforeTheDeadline(t *testing.T) {
	recs, want := batch()
	near, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r := newRecorder(nil)
	res := New(r.fn, Options{StopBefore: time.Hour}).Handle(near, recs)
	if len(r.calls) != 0 || len(res.Failures) != 3 {
		t.Fatalf("calls %v, failures %v: want none and every workflow reported", r.calls, res.Failures)
	}
	for _, f := range res.Failures {
		if !errors.Is(f.Err, ErrDeadline) {
			t.Errorf("failure %v: want ErrDeadline", f)
		}
	}
	if diff := cmp.Diff([]string{recs[0].SequenceNumber, recs[1].SequenceNumber, recs[2].SequenceNumber}, identifiers(res)); diff != "" {
		t.Errorf("reported (-want +got):\n%s", diff)
	}
	r = newRecorder(nil)
	if res := New(r.fn, Options{StopBefore: time.Second}).Handle(near, recs); len(res.Failures) != 0 {
		t.Errorf("failures %v with a minute left", res.Failures)
	}
	if diff := cmp.Diff(want, r.done); diff != "" {
		t.Errorf("finished (-want +got):\n%s", diff)
	}
}
