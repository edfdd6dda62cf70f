package eventstoretest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flowbus/flowbus/shared/event"
	"github.com/flowbus/flowbus/shared/eventstore"
)

// Run runs the contract against stores newStore builds: each test gets a new,
// empty store of its own, and tests run in parallel.
func Run(t *testing.T, newStore func(t *testing.T) eventstore.Store) {
	tests := []struct {
		name string
		fn   func(*testing.T, eventstore.Store)
	}{
		{"AppendKeepsOrderAtGapFreePositions", testAppendOrder},
		{"RedeliveredEntriesAreDuplicates", testRedelivered},
		{"ProducerIDsAreStoredOnce", testProducerIDs},
		{"ReadFiltersAndPages", testReadFiltersAndPages},
		{"ReadFiltersByTime", testReadTimeWindow},
		{"ReadPagesByDefaultLimit", testReadDefaultLimit},
		{"LargeEventReadsBackWhole", testLargeEvent},
		{"ParkAndResumeWithReplace", testParkAndResume},
		{"ResumeWithSkip", testResumeSkip},
		{"ResumeThatFailsAgainStaysParked", testResumeParksAgain},
		{"ListParkedListsEveryParkedWorkflow", testListParked},
		{"ConcurrentAppendsKeepPositionsGapFree", testConcurrentAppends},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, newStore(t))
		})
	}
}

// base is the time of the first event incoming builds; each next position
// is a minute later.
var base = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

// incoming builds entries for events of wf at consecutive positions of one
// shard, starting at record seq: ids are wf-<seq> unless given.
func incoming(wf string, seq, count int, ids ...string) []eventstore.Incoming {
	var in []eventstore.Incoming
	for i := range count {
		id := fmt.Sprintf("%s-%04d", wf, seq+i)
		if i < len(ids) {
			id = ids[i]
		}
		e := &event.Event{ID: id, Source: "/t", Type: "step.done", WorkflowID: wf,
			Data: []byte(fmt.Sprintf(`{"n":%d}`, seq+i)), Time: base.Add(time.Duration(seq+i) * time.Minute)}
		in = append(in, eventstore.Incoming{Event: e, Raw: event.Append(nil, e, true), Pos: pos(seq + i)})
	}
	return in
}

func pos(seq int) eventstore.Position {
	return eventstore.Position{Shard: "shardId-000000000000", Seq: fmt.Sprintf("%030d", seq)}
}

// poison is an entry that can never be stored, at record seq.
func poison(seq int) eventstore.Incoming {
	return eventstore.Incoming{Raw: []byte(`{not json`), Pos: pos(seq), Problem: errors.New("undecodable record")}
}

// reraw encodes each entry's event again after a test changed it, as the
// publisher would have put it on the stream.
func reraw(in []eventstore.Incoming) []eventstore.Incoming {
	for i := range in {
		if in[i].Event != nil {
			in[i].Raw = event.Append(nil, in[i].Event, true)
		}
	}
	return in
}

func ids(in []eventstore.Incoming) []string {
	var out []string
	for _, x := range in {
		if x.Event != nil {
			out = append(out, x.Event.ID)
		}
	}
	return out
}

// readAll follows a query's pages to the end and returns the events; it
// fails the test unless positions grow and every event matches the query.
func readAll(t *testing.T, st eventstore.Store, wf string, q eventstore.Query) []event.Event {
	t.Helper()
	var all []event.Event
	for pages := 0; ; pages++ {
		if pages > 10_000 {
			t.Fatalf("Read %s: no end to the pages", wf)
		}
		page, err := st.Read(context.Background(), wf, q)
		if err != nil {
			t.Fatalf("Read %s: %v", wf, err)
		}
		for _, e := range page.Events {
			if e.Sequence <= q.After || (len(all) > 0 && e.Sequence <= all[len(all)-1].Sequence) {
				t.Fatalf("Read %s: event %s at position %d after %d", wf, e.ID, e.Sequence, q.After)
			}
			if !eventstore.Matches(q.Types, e.Type) || !q.MatchesTime(e.Time) {
				t.Fatalf("Read %s: event %s (%s at %s) does not match %+v", wf, e.ID, e.Type, e.Time, q)
			}
			all = append(all, e)
		}
		if page.Next == 0 {
			return all
		}
		if page.Next <= q.After {
			t.Fatalf("Read %s: next %d does not move past %d", wf, page.Next, q.After)
		}
		q.After = page.Next
	}
}

// history reads all of a workflow's events and returns their ids, checking
// positions run 1, 2, 3 … with no gap.
func history(t *testing.T, st eventstore.Store, wf string) []string {
	t.Helper()
	var out []string
	for i, e := range readAll(t, st, wf, eventstore.Query{Limit: 7}) {
		if e.Sequence != uint64(i+1) {
			t.Fatalf("%s: event %s at position %d, want %d", wf, e.ID, e.Sequence, i+1)
		}
		out = append(out, e.ID)
	}
	return out
}

func head(t *testing.T, st eventstore.Store, wf string) eventstore.Head {
	t.Helper()
	h, err := st.Head(context.Background(), wf)
	if err != nil {
		t.Fatalf("Head %s: %v", wf, err)
	}
	return h
}

func mustAppend(t *testing.T, st eventstore.Store, wf string, in []eventstore.Incoming) eventstore.AppendResult {
	t.Helper()
	res, err := st.Append(context.Background(), wf, in)
	if err != nil {
		t.Fatalf("Append %s: %v", wf, err)
	}
	return res
}

// decode reads a parked record back as the consumer would.
func decode(raw []byte) ([]*event.Event, error) {
	items, err := event.DecodeBatch(raw, event.DecodeOptions{Wire: true}, false, 0)
	if err != nil {
		return nil, err
	}
	var evs []*event.Event
	for i := range items {
		if items[i].Err != nil {
			return nil, items[i].Err
		}
		evs = append(evs, &items[i].Event)
	}
	return evs, nil
}

func testAppendOrder(t *testing.T, st eventstore.Store) {
	ctx := context.Background()
	if res, err := st.Append(ctx, "wf", nil); err != nil || res != (eventstore.AppendResult{}) {
		t.Errorf("empty append = %+v, %v; want nothing done", res, err)
	}
	if h := head(t, st, "wf"); h.Last != 0 || h.Bytes != 0 || h.ParkedReason != "" || h.ParkedCount != 0 {
		t.Errorf("head of an unknown workflow = %+v, want zero", h)
	}
	first := incoming("wf", 1, 5)
	res := mustAppend(t, st, "wf", first)
	if res.Stored != 5 || res.Duplicates != 0 || res.Parked != 0 || res.First != 1 || res.Last != 5 || res.TotalEvents != 5 {
		t.Errorf("first append = %+v, want 5 stored at 1..5", res)
	}
	if res.Bytes <= 0 || res.TotalBytes != int64(res.Bytes) {
		t.Errorf("first append = %+v, want its bytes counted and the total equal to them", res)
	}
	total := res.TotalBytes
	second := incoming("wf", 6, 3)
	res = mustAppend(t, st, "wf", second)
	if res.Stored != 3 || res.First != 6 || res.Last != 8 || res.TotalEvents != 8 || res.TotalBytes != total+int64(res.Bytes) {
		t.Errorf("second append = %+v, want 3 stored at 6..8, totals 8 events and %d+%d bytes", res, total, res.Bytes)
	}
	h := head(t, st, "wf")
	if h.Last != 8 || h.Bytes != res.TotalBytes || h.Position != second[2].Pos || h.ParkedReason != "" {
		t.Errorf("head = %+v, want last 8, %d bytes, position %s", h, res.TotalBytes, second[2].Pos)
	}
	// Another workflow has positions of its own.
	if res := mustAppend(t, st, "other", incoming("other", 9, 2)); res.First != 1 || res.Last != 2 {
		t.Errorf("other workflow = %+v, want stored at 1..2", res)
	}
	all := append(first, second...)
	if diff := cmp.Diff(ids(all), history(t, st, "wf")); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}
	// Events read back as they were appended.
	got := readAll(t, st, "wf", eventstore.Query{})
	for i, e := range got {
		w := all[i].Event
		if e.ID != w.ID || e.Source != w.Source || e.Type != w.Type || e.WorkflowID != w.WorkflowID || string(e.Data) != string(w.Data) || !e.Time.Equal(w.Time) {
			t.Errorf("event %d = %+v, want %+v", i+1, e, *w)
		}
	}
}

func testRedelivered(t *testing.T, st eventstore.Store) {
	first := incoming("wf", 1, 10)
	mustAppend(t, st, "wf", first)
	// The same batch again (Lambda re-delivery).
	if res := mustAppend(t, st, "wf", first); res.Stored != 0 || res.Duplicates != 10 {
		t.Errorf("same batch again = %+v, want 10 duplicates", res)
	}
	// A batch overlapping the first: 6..15.
	if res := mustAppend(t, st, "wf", incoming("wf", 6, 10)); res.Stored != 5 || res.Duplicates != 5 || res.First != 11 || res.Last != 15 {
		t.Errorf("overlapping batch = %+v, want 5 stored at 11..15, 5 duplicates", res)
	}
	// A batch from before the last one, with ids of its own: the position
	// says it was applied, whatever its ids.
	if res := mustAppend(t, st, "wf", incoming("wf", 3, 3, "x", "y", "z")); res.Stored != 0 || res.Duplicates != 3 {
		t.Errorf("older batch = %+v, want 3 duplicates", res)
	}
	if diff := cmp.Diff(ids(incoming("wf", 1, 15)), history(t, st, "wf")); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}
	if h := head(t, st, "wf"); h.Last != 15 || h.Position != pos(15) {
		t.Errorf("head = %+v, want last 15 at %s", h, pos(15))
	}
}

func testProducerIDs(t *testing.T, st eventstore.Store) {
	mustAppend(t, st, "wf", incoming("wf", 1, 5))
	// A producer re-sends event wf-0003 with its id: a new stream record.
	if res := mustAppend(t, st, "wf", incoming("wf", 100, 2, "wf-0003", "new-one")); res.Stored != 1 || res.Duplicates != 1 || res.First != 6 {
		t.Errorf("re-sent id = %+v, want 1 stored at 6, 1 duplicate", res)
	}
	// The same id twice inside one batch.
	if res := mustAppend(t, st, "wf", incoming("wf", 200, 2, "dup-in-batch", "dup-in-batch")); res.Stored != 1 || res.Duplicates != 1 {
		t.Errorf("id twice in a batch = %+v, want 1 stored, 1 duplicate", res)
	}
	// Ids are per workflow: another workflow may use the same one.
	if res := mustAppend(t, st, "other", incoming("other", 300, 1, "wf-0003")); res.Stored != 1 {
		t.Errorf("another workflow's id = %+v, want stored", res)
	}
	want := append(ids(incoming("wf", 1, 5)), "new-one", "dup-in-batch")
	if diff := cmp.Diff(want, history(t, st, "wf")); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}
	if h := head(t, st, "wf"); h.Last != 7 {
		t.Errorf("head = %+v, want last 7", h)
	}
}

func testReadFiltersAndPages(t *testing.T, st eventstore.Store) {
	ctx := context.Background()
	in := incoming("wf", 1, 30)
	for i, x := range in {
		x.Event.Type = []string{"workflow.started", "workflow.step", "task.done"}[i%3]
	}
	mustAppend(t, st, "wf", reraw(in))
	page, err := st.Read(ctx, "wf", eventstore.Query{Types: []string{"workflow.*"}, Limit: 15})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Events) != 15 || page.Next == 0 {
		t.Fatalf("first page: %d events, next %d; want 15 and a cursor", len(page.Events), page.Next)
	}
	for _, e := range page.Events {
		if !strings.HasPrefix(e.Type, "workflow.") {
			t.Errorf("event of type %s passed the filter", e.Type)
		}
	}
	rest, err := st.Read(ctx, "wf", eventstore.Query{Types: []string{"workflow.*"}, After: page.Next, Limit: 15})
	if err != nil {
		t.Fatal(err)
	}
	if len(rest.Events) != 5 || rest.Next != 0 {
		t.Errorf("second page: %d events, next %d; want 5 and no cursor", len(rest.Events), rest.Next)
	}
	if got := readAll(t, st, "wf", eventstore.Query{Types: []string{"task.done"}, Limit: 4}); len(got) != 10 {
		t.Errorf("exact type: %d events, want 10", len(got))
	}
	if got := readAll(t, st, "wf", eventstore.Query{Types: []string{"task.done", "workflow.started"}}); len(got) != 20 {
		t.Errorf("two types: %d events, want 20", len(got))
	}
	if got := readAll(t, st, "wf", eventstore.Query{After: 25}); len(got) != 5 || got[0].Sequence != 26 {
		t.Errorf("after 25: %d events, want 5 from 26", len(got))
	}
	for _, after := range []uint64{30, 31} {
		if page, err := st.Read(ctx, "wf", eventstore.Query{After: after}); err != nil || len(page.Events) != 0 || page.Next != 0 {
			t.Errorf("after %d: %+v, %v; want an empty page", after, page, err)
		}
	}
	if none, err := st.Read(ctx, "unknown-workflow", eventstore.Query{}); err != nil || len(none.Events) != 0 || none.Next != 0 {
		t.Errorf("unknown workflow: %+v, %v; want an empty page", none, err)
	}
}

func testReadTimeWindow(t *testing.T, st eventstore.Store) {
	in := incoming("wf", 0, 30) // event i at base + i minutes
	for i, x := range in {
		x.Event.Type = []string{"workflow.step", "task.done"}[i%2]
	}
	mustAppend(t, st, "wf", reraw(in))
	from, to := base.Add(10*time.Minute), base.Add(20*time.Minute)
	var got []string
	for _, e := range readAll(t, st, "wf", eventstore.Query{From: from, To: to, Limit: 3}) {
		got = append(got, e.ID)
	}
	if diff := cmp.Diff(ids(in[10:20]), got); diff != "" {
		t.Errorf("[from, to) (-want +got):\n%s", diff)
	}
	if got := readAll(t, st, "wf", eventstore.Query{From: from}); len(got) != 20 || got[0].Sequence != 11 {
		t.Errorf("from only: %d events, want 20 from position 11", len(got))
	}
	if got := readAll(t, st, "wf", eventstore.Query{To: to}); len(got) != 20 || got[19].Sequence != 20 {
		t.Errorf("to only: %d events, want positions 1..20", len(got))
	}
	if got := readAll(t, st, "wf", eventstore.Query{From: from, To: to, Types: []string{"task.*"}}); len(got) != 5 {
		t.Errorf("time and type: %d events, want 5", len(got))
	}
}

func testReadDefaultLimit(t *testing.T, st eventstore.Store) {
	ctx := context.Background()
	n := eventstore.DefaultLimit + 1
	mustAppend(t, st, "wf", incoming("wf", 1, n))
	page, err := st.Read(ctx, "wf", eventstore.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Events) != eventstore.DefaultLimit || page.Next == 0 {
		t.Fatalf("page without a limit: %d events, next %d; want %d and a cursor", len(page.Events), page.Next, eventstore.DefaultLimit)
	}
	rest, err := st.Read(ctx, "wf", eventstore.Query{After: page.Next})
	if err != nil || len(rest.Events) != 1 || rest.Events[0].Sequence != uint64(n) || rest.Next != 0 {
		t.Errorf("last page: %+v, %v; want position %d alone", rest, err, n)
	}
}

func testLargeEvent(t *testing.T, st eventstore.Store) {
	in := incoming("wf", 1, 3)
	in[1].Event.Data = []byte(`"` + strings.Repeat("L", 900_000) + `"`)
	mustAppend(t, st, "wf", reraw(in))
	got := readAll(t, st, "wf", eventstore.Query{})
	if len(got) != 3 {
		t.Fatalf("read %d events, want 3", len(got))
	}
	if string(got[1].Data) != string(in[1].Event.Data) || got[2].ID != in[2].Event.ID {
		t.Errorf("large event data is %d bytes, want %d, followed by %s", len(got[1].Data), len(in[1].Event.Data), in[2].Event.ID)
	}
}

func testParkAndResume(t *testing.T, st eventstore.Store) {
	ctx := context.Background()
	in := incoming("wf", 1, 6)
	in[2] = poison(3)
	res := mustAppend(t, st, "wf", in)
	if res.Stored != 2 || res.Parked != 4 || res.Last != 2 {
		t.Errorf("append with a poison record = %+v, want 2 stored, 4 parked", res)
	}
	// Later records of the workflow wait behind it, in order.
	if res := mustAppend(t, st, "wf", incoming("wf", 7, 2)); res.Stored != 0 || res.Parked != 2 {
		t.Errorf("append while parked = %+v, want 2 parked", res)
	}
	// Records parked already are duplicates when delivered again.
	if res := mustAppend(t, st, "wf", in); res.Parked != 0 || res.Duplicates != 6 {
		t.Errorf("parked batch again = %+v, want 6 duplicates", res)
	}
	// Other workflows are not affected.
	if res := mustAppend(t, st, "other", incoming("other", 1, 3)); res.Stored != 3 {
		t.Errorf("other workflow = %+v, want 3 stored", res)
	}
	if h := head(t, st, "wf"); h.Last != 2 || h.ParkedCount != 6 || !strings.Contains(h.ParkedReason, "undecodable") || h.Position != pos(8) {
		t.Errorf("parked head = %+v, want last 2, 6 waiting, the poison's reason, position %s", h, pos(8))
	}
	parked, err := st.ListParked(ctx)
	if err != nil || len(parked) != 1 || parked[0].WorkflowID != "wf" || !strings.Contains(parked[0].ParkedReason, "undecodable") || parked[0].ParkedCount != 6 {
		t.Fatalf("ListParked = %+v, %v; want wf with its reason and 6 waiting", parked, err)
	}
	entries, err := st.Parked(ctx, "wf")
	if err != nil || len(entries) != 6 {
		t.Fatalf("Parked = %d entries, %v; want 6", len(entries), err)
	}
	for i, x := range entries {
		if i > 0 && x.N <= entries[i-1].N {
			t.Errorf("entry %d numbered %d after %d", i, x.N, entries[i-1].N)
		}
		if want := pos(3 + i); x.Pos != want || x.Reason == "" {
			t.Errorf("entry %d at %s with reason %q, want %s with a reason", i, x.Pos, x.Reason, want)
		}
	}
	if string(entries[0].Raw) != `{not json` || !strings.Contains(entries[0].Reason, "undecodable") {
		t.Errorf("first entry %q, %q; want the poison record and its reason", entries[0].Raw, entries[0].Reason)
	}
	if string(entries[1].Raw) != string(in[3].Raw) {
		t.Errorf("second entry %q, want the record as it came", entries[1].Raw)
	}
	// Resuming without a fix parks it again at the same entry.
	if _, err := st.Resume(ctx, "wf", decode, eventstore.Fix{}); err != nil {
		t.Fatal(err)
	}
	if h := head(t, st, "wf"); h.ParkedReason == "" || h.Last != 2 || h.ParkedCount != 6 {
		t.Errorf("after a resume without fix: head %+v, want still parked at 2 with 6 waiting", h)
	}
	// Replace the bad record with a corrected one: everything goes in, in order.
	fixed := incoming("wf", 3, 1)[0].Raw
	res, err = st.Resume(ctx, "wf", decode, eventstore.Fix{Replace: map[uint64][]byte{entries[0].N: fixed}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Stored != 6 || res.Parked != 0 || res.First != 3 || res.Last != 8 {
		t.Errorf("resume = %+v, want 6 stored at 3..8, none left", res)
	}
	if diff := cmp.Diff(ids(incoming("wf", 1, 8)), history(t, st, "wf")); diff != "" {
		t.Errorf("history after resume (-want +got):\n%s", diff)
	}
	if h := head(t, st, "wf"); h.ParkedReason != "" || h.ParkedCount != 0 || h.Last != 8 {
		t.Errorf("head after resume = %+v, want unparked at 8", h)
	}
	if parked, err := st.ListParked(ctx); err != nil || len(parked) != 0 {
		t.Errorf("ListParked after resume = %+v, %v; want none", parked, err)
	}
	if entries, err := st.Parked(ctx, "wf"); err != nil || len(entries) != 0 {
		t.Errorf("Parked after resume = %+v, %v; want none", entries, err)
	}
	if _, err := st.Resume(ctx, "wf", decode, eventstore.Fix{}); !errors.Is(err, eventstore.ErrNotParked) {
		t.Errorf("Resume of an unparked workflow = %v, want ErrNotParked", err)
	}
	if _, err := st.Resume(ctx, "unknown-workflow", decode, eventstore.Fix{}); !errors.Is(err, eventstore.ErrNotParked) {
		t.Errorf("Resume of an unknown workflow = %v, want ErrNotParked", err)
	}
	// New records flow normally again, after the resumed ones; those
	// resumed are duplicates if their records come again.
	if res := mustAppend(t, st, "wf", incoming("wf", 9, 1)); res.First != 9 {
		t.Errorf("append after resume = %+v, want stored at 9", res)
	}
	if res := mustAppend(t, st, "wf", incoming("wf", 1, 9)); res.Stored != 0 {
		t.Errorf("everything again after resume = %+v, want nothing stored", res)
	}
}

func testResumeSkip(t *testing.T, st eventstore.Store) {
	ctx := context.Background()
	in := incoming("wf", 1, 6)
	in[3] = poison(4)
	mustAppend(t, st, "wf", in)
	entries, err := st.Parked(ctx, "wf")
	if err != nil || len(entries) != 3 {
		t.Fatalf("Parked = %d entries, %v; want 3", len(entries), err)
	}
	res, err := st.Resume(ctx, "wf", decode, eventstore.Fix{Skip: []uint64{entries[0].N}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Stored != 2 || res.Parked != 0 || res.First != 4 || res.Last != 5 {
		t.Errorf("resume skipping the poison = %+v, want 2 stored at 4..5, none left", res)
	}
	want := append(ids(in[:3]), ids(in[4:])...)
	if diff := cmp.Diff(want, history(t, st, "wf")); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}
	if h := head(t, st, "wf"); h.ParkedReason != "" || h.ParkedCount != 0 {
		t.Errorf("head = %+v, want unparked", h)
	}
}

func testResumeParksAgain(t *testing.T, st eventstore.Store) {
	ctx := context.Background()
	// The first entry of a new workflow is poison: nothing is stored.
	in := []eventstore.Incoming{poison(1), incoming("wf", 2, 1)[0], poison(3), incoming("wf", 4, 1)[0]}
	if res := mustAppend(t, st, "wf", in); res.Stored != 0 || res.Parked != 4 {
		t.Errorf("append = %+v, want 4 parked", res)
	}
	if h := head(t, st, "wf"); h.Last != 0 || h.ParkedReason == "" || h.ParkedCount != 4 {
		t.Errorf("head = %+v, want parked with nothing stored, 4 waiting", h)
	}
	entries, err := st.Parked(ctx, "wf")
	if err != nil || len(entries) != 4 {
		t.Fatalf("Parked = %d entries, %v; want 4", len(entries), err)
	}
	// Fixing the first: the second goes in, the third parks it again.
	before := head(t, st, "wf").ParkedReason
	res, err := st.Resume(ctx, "wf", decode, eventstore.Fix{Replace: map[uint64][]byte{entries[0].N: incoming("wf", 1, 1)[0].Raw}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Stored != 2 || res.Parked != 2 {
		t.Errorf("resume = %+v, want 2 stored and 2 left", res)
	}
	h := head(t, st, "wf")
	if h.Last != 2 || h.ParkedReason == "" || h.ParkedReason == before || h.ParkedCount != 2 {
		t.Errorf("head = %+v, want parked at 2 with a new reason (was %q), 2 waiting", h, before)
	}
	left, err := st.Parked(ctx, "wf")
	if err != nil || len(left) != 2 || left[0].N != entries[2].N || left[1].N != entries[3].N {
		t.Fatalf("Parked = %+v, %v; want entries %d and %d", left, err, entries[2].N, entries[3].N)
	}
	if parked, err := st.ListParked(ctx); err != nil || len(parked) != 1 {
		t.Errorf("ListParked = %+v, %v; want wf still listed", parked, err)
	}
	if res, err := st.Resume(ctx, "wf", decode, eventstore.Fix{Skip: []uint64{left[0].N}}); err != nil || res.Stored != 1 || res.Parked != 0 {
		t.Errorf("resume skipping the second poison = %+v, %v; want 1 stored, none left", res, err)
	}
	if diff := cmp.Diff([]string{"wf-0001", "wf-0002", "wf-0004"}, history(t, st, "wf")); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}
}

func testListParked(t *testing.T, st eventstore.Store) {
	ctx := context.Background()
	if parked, err := st.ListParked(ctx); err != nil || len(parked) != 0 {
		t.Fatalf("ListParked of an empty store = %+v, %v; want none", parked, err)
	}
	for _, wf := range []string{"c", "a", "b"} {
		in := append(incoming(wf, 1, 2), poison(3))
		mustAppend(t, st, wf, in)
	}
	mustAppend(t, st, "fine", incoming("fine", 1, 2))
	parked, err := st.ListParked(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, h := range parked {
		got = append(got, h.WorkflowID)
		if h.Last != 2 || h.ParkedCount != 1 || h.ParkedReason == "" {
			t.Errorf("listed %+v, want last 2, 1 waiting, a reason", h)
		}
	}
	slices.Sort(got)
	if diff := cmp.Diff([]string{"a", "b", "c"}, got); diff != "" {
		t.Errorf("ListParked (-want +got):\n%s", diff)
	}
}

func testConcurrentAppends(t *testing.T, st eventstore.Store) {
	ctx := context.Background()
	var wg sync.WaitGroup
	var busy, ok, stored atomic.Int32
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := st.Append(ctx, "wf", incoming("wf", 1+w*10, 10))
			switch {
			case errors.Is(err, eventstore.ErrBusy):
				busy.Add(1)
			case err == nil:
				ok.Add(1)
				// A batch earlier in the stream than one already applied
				// is covered by the position: it stores nothing.
				stored.Add(int32(res.Stored))
				if res.Stored+res.Duplicates != 10 {
					t.Errorf("append accounted for %d of 10 entries", res.Stored+res.Duplicates)
				}
			default:
				t.Errorf("Append: %v", err)
			}
		}()
	}
	wg.Wait()
	h := head(t, st, "wf")
	if int(h.Last) != int(stored.Load()) || ok.Load() == 0 {
		t.Errorf("head at %d after %d successful appends that stored %d", h.Last, ok.Load(), stored.Load())
	}
	if got := history(t, st, "wf"); len(got) != int(h.Last) {
		t.Errorf("history holds %d events, head says %d", len(got), h.Last)
	}
	t.Logf("%d appends succeeded, %d found the workflow busy", ok.Load(), busy.Load())
}
