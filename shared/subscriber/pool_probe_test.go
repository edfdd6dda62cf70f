package subscriber

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"

	"github.com/flowbus/flowbus/shared/event"
	"github.com/flowbus/flowbus/shared/kinesisevent"
)

// Probes of the pooled items slice and the per-batch interner (e4bd9ff,
// 67a5830): a batch's events are decoded into one slice taken from a pool
// and cleared when the batch ends, so nothing the function sees may depend
// on that slice after it returns, nor on another batch decoded at the same
// time.

// full is a test event with data, metadata and an extension, all derived
// from its id, so that a value seen can be checked against the id alone.
func full(wf, id, typ string) *event.Event {
	e := ev(wf, id, typ)
	e.Source = "/src/" + wf
	e.Data = []byte(`{"id":"` + id + `","pad":"` + strings.Repeat(id, 3) + `"}`)
	e.DataContentType = "application/json"
	e.Metadata = []byte(`{"m":"` + id + `"}`)
	e.Extensions = []event.Extension{{Name: "probe", Value: []byte(`"` + id + `"`)}}
	return e
}

// checkFull reports how e differs from full(wf, id, typ) for its own id.
func checkFull(e event.Event, typ string) string {
	want := full(e.WorkflowID, e.ID, typ)
	switch {
	case e.Source != want.Source:
		return fmt.Sprintf("event %s: source %q, want %q", e.ID, e.Source, want.Source)
	case e.Type != typ:
		return fmt.Sprintf("event %s: type %q, want %q", e.ID, e.Type, typ)
	case string(e.Data) != string(want.Data):
		return fmt.Sprintf("event %s: data %s, want %s", e.ID, e.Data, want.Data)
	case string(e.Metadata) != string(want.Metadata):
		return fmt.Sprintf("event %s: metadata %s, want %s", e.ID, e.Metadata, want.Metadata)
	case len(e.Extensions) != 1 || e.Extensions[0].Name != "probe" || string(e.Extensions[0].Value) != `"`+e.ID+`"`:
		return fmt.Sprintf("event %s: extensions %+v, want probe=%q", e.ID, e.Extensions, e.ID)
	}
	return ""
}

// kinesisPayload is the Lambda Kinesis event of recs, as Invoke reads it.
func kinesisPayload(t *testing.T, recs []kinesisevent.Record) []byte {
	t.Helper()
	var ke events.KinesisEvent
	for _, r := range recs {
		ke.Records = append(ke.Records, events.KinesisEventRecord{
			EventID: "shardId-000000000000:" + r.SequenceNumber, EventSource: "aws:kinesis",
			EventSourceArn: "arn:aws:kinesis:us-east-1:000000000000:stream/flowbus-events",
			Kinesis:        events.KinesisRecord{Data: r.Data, PartitionKey: r.PartitionKey, SequenceNumber: r.SequenceNumber},
		})
	}
	payload, err := json.Marshal(ke)
	if err != nil {
		t.Fatal(err)
	}
	return payload
}

// callerBatch is caller c's batch: workflows c-w0..c-w3 interleaved, some
// records aggregated, type "t-<c>"; it returns the ids per workflow.
func callerBatch(c, round int) ([]kinesisevent.Record, map[string][]string) {
	want := map[string][]string{}
	var recs []kinesisevent.Record
	typ := fmt.Sprint("t-", c)
	for r := range 12 {
		wf := fmt.Sprintf("c%d-w%d", c, r%4)
		var evs []*event.Event
		for k := range 1 + r%3 {
			id := fmt.Sprintf("c%d-r%d-%d-%d", c, round, r, k)
			evs = append(evs, full(wf, id, typ))
			want[wf] = append(want[wf], id)
		}
		recs = append(recs, rec(r+1, evs...))
	}
	return recs, want
}

type callerKey struct{}

// Concurrent Invoke calls on one Subscriber (run with -race) each see their
// own batch's events only, whole and in order per workflow.
func TestProbeConcurrentInvokes(t *testing.T) {
	const callers, rounds = 8, 25
	var (
		mu   sync.Mutex
		got  = map[string][]string{}
		errs []string
	)
	fn := func(ctx context.Context, e event.Event) error {
		c := ctx.Value(callerKey{}).(int)
		mu.Lock()
		defer mu.Unlock()
		if !strings.HasPrefix(e.WorkflowID, fmt.Sprintf("c%d-", c)) || !strings.HasPrefix(e.ID, fmt.Sprintf("c%d-", c)) {
			errs = append(errs, fmt.Sprintf("caller %d got event %s of workflow %s", c, e.ID, e.WorkflowID))
		}
		if msg := checkFull(e, fmt.Sprint("t-", c)); msg != "" {
			errs = append(errs, fmt.Sprintf("caller %d: %s", c, msg))
		}
		got[e.WorkflowID] = append(got[e.WorkflowID], e.ID)
		return nil
	}
	s := New(fn, Options{Concurrency: 3})
	want := map[string][]string{}
	payloads := make([][][]byte, callers)
	for c := range callers {
		for round := range rounds {
			recs, w := callerBatch(c, round)
			for wf, ids := range w {
				want[wf] = append(want[wf], ids...)
			}
			payloads[c] = append(payloads[c], kinesisPayload(t, recs))
		}
	}
	var wg sync.WaitGroup
	for c := range callers {
		wg.Go(func() {
			ctx := context.WithValue(context.Background(), callerKey{}, c)
			for _, p := range payloads[c] {
				out, err := s.Invoke(ctx, p)
				if err != nil || string(out) != `{"batchItemFailures":null}` && string(out) != `{}` {
					mu.Lock()
					errs = append(errs, fmt.Sprintf("caller %d: Invoke = %s, %v", c, out, err))
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	for _, e := range errs {
		t.Error(e)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events per workflow (-want +got):\n%s", diff)
	}
}

// A function that keeps the events it is given (the Event, its id, data
// and extension values) still reads them right after many later batches,
// some larger and some smaller, were decoded into the pooled slice.
func TestProbeKeptEventsSurviveLaterBatches(t *testing.T) {
	type kept struct {
		e    event.Event
		id   string
		data []byte
		typ  string
	}
	var (
		mu   sync.Mutex
		keep []kept
	)
	fn := func(_ context.Context, e event.Event) error {
		mu.Lock()
		defer mu.Unlock()
		keep = append(keep, kept{e: e, id: e.ID, data: e.Data, typ: e.Type})
		return nil
	}
	s := New(fn, Options{})
	for round := range 40 {
		c := round % 5 // the type differs between rounds: t-<c>
		recs, _ := callerBatch(c, round)
		if round%3 == 0 {
			recs = recs[:2] // a smaller batch after larger ones
		}
		if res := s.Handle(context.Background(), recs); len(res.Failures) != 0 {
			t.Fatalf("round %d: failures %v", round, res.Failures)
		}
	}
	if len(keep) == 0 {
		t.Fatal("no event kept")
	}
	seen := map[string]bool{}
	for _, k := range keep {
		if k.e.ID != k.id || string(k.e.Data) != string(k.data) || k.e.Type != k.typ {
			t.Errorf("kept event %s changed: id %q data %s type %q", k.id, k.e.ID, k.e.Data, k.e.Type)
		}
		var c int
		if _, err := fmt.Sscanf(k.id, "c%d-", &c); err != nil {
			t.Fatalf("kept id %q: %v", k.id, err)
		}
		if msg := checkFull(k.e, fmt.Sprint("t-", c)); msg != "" {
			t.Error(msg)
		}
		if seen[k.id] {
			t.Errorf("event %s handed twice", k.id)
		}
		seen[k.id] = true
	}
}

// Records that fail to decode, or decode to no event, in the middle of a
// batch shift no other record's events; workflows interleaved across the
// batch keep their order.
func TestProbeInvalidRecordsInTheMiddle(t *testing.T) {
	bad := func(seq int, wf, data string) kinesisevent.Record {
		return kinesisevent.Record{PartitionKey: wf, SequenceNumber: fmt.Sprintf("4960%016d", seq), Data: []byte(data), ShardID: "shardId-000000000000"}
	}
	// A valid first element, then malformed JSON: the record fails whole,
	// after the decoder appended its first element.
	half := string(event.Append(nil, full("w2", "never", "t"), true))
	recs := []kinesisevent.Record{
		rec(1, full("w1", "a1", "t"), full("w1", "a2", "t")),
		bad(2, "w2", `{"not json`),
		rec(3, full("w2", "b1", "t"), full("w2", "b2", "t"), full("w2", "b3", "t")),
		bad(4, "w3", `[]`),
		rec(5, full("w1", "a3", "t")),
		bad(6, "w2", `[`+half+`,{"id":`),
		bad(7, "w1", ``),
		rec(8, full("w3", "c1", "t"), full("w3", "c2", "t")),
		bad(9, "w3", `[`+half+`,[`+strings.Repeat(half+",", 40)+half+`], 7`),
		rec(10, full("w1", "a4", "t"), full("w1", "a5", "t")),
		bad(11, "w2", `[1, "x", null]`),
		rec(12, full("w2", "b4", "t")),
	}
	var (
		mu   sync.Mutex
		got  = map[string][]string{}
		errs []string
	)
	fn := func(_ context.Context, e event.Event) error {
		mu.Lock()
		defer mu.Unlock()
		if msg := checkFull(e, "t"); msg != "" {
			errs = append(errs, msg)
		}
		got[e.WorkflowID] = append(got[e.WorkflowID], e.ID)
		return nil
	}
	var invalid []string
	s := New(fn, Options{OnInvalid: func(_ context.Context, r kinesisevent.Record, _ error) error {
		mu.Lock()
		defer mu.Unlock()
		invalid = append(invalid, r.SequenceNumber[len(r.SequenceNumber)-2:])
		return nil
	}})
	// Twice: the second batch decodes into the slice the first left in
	// the pool.
	for round := range 2 {
		got, errs, invalid = map[string][]string{}, nil, nil
		res := s.Handle(context.Background(), recs)
		for _, e := range errs {
			t.Errorf("round %d: %s", round, e)
		}
		want := map[string][]string{"w1": {"a1", "a2", "a3", "a4", "a5"}, "w2": {"b1", "b2", "b3", "b4"}, "w3": {"c1", "c2"}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("round %d: events per workflow (-want +got):\n%s", round, diff)
		}
		// Records 2, 4, 6, 7 and 9 fail whole; record 11's three
		// elements each fail.
		if len(res.Failures) != 0 || res.Handled != 11 || res.Invalid != 8 {
			t.Errorf("round %d: failures %v, handled %d, invalid %d; want none, 11, 8", round, res.Failures, res.Handled, res.Invalid)
		}
		if len(invalid) != 8 {
			t.Errorf("round %d: OnInvalid for records %v, want 02 04 06 07 09 11 11 11", round, invalid)
		}
	}
}
