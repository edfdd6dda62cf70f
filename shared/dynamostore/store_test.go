package dynamostore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/google/go-cmp/cmp"

	"github.com/flowbus/flowbus/shared/dynamostore"
	"github.com/flowbus/flowbus/shared/event"
	"github.com/flowbus/flowbus/shared/eventstore"
	"github.com/flowbus/flowbus/shared/testenv"
)

func newStore(t *testing.T) (*dynamostore.Store, dynamostore.API) {
	t.Helper()
	db, table := testenv.Table(t, testenv.AWS(t))
	return dynamostore.New(db, table, dynamostore.Options{}), db
}

// incoming builds entries for events id0..idN-1 of wf at consecutive
// positions of one shard, starting at record seq.
func incoming(wf string, seq, count int, ids ...string) []eventstore.Incoming {
	var in []eventstore.Incoming
	for i := range count {
		id := fmt.Sprintf("%s-%04d", wf, seq+i)
		if i < len(ids) {
			id = ids[i]
		}
		e := &event.Event{ID: id, Source: "/t", Type: "step.done", WorkflowID: wf, Data: []byte(fmt.Sprintf(`{"n":%d}`, seq+i)), Time: time.Unix(1700000000, 0)}
		in = append(in, eventstore.Incoming{Event: e, Raw: event.Append(nil, e, true), Pos: eventstore.Position{Shard: "shardId-000000000000", Seq: fmt.Sprintf("%030d", seq+i)}})
	}
	return in
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

// history reads all of a workflow's events and returns their ids, checking
// positions run 1, 2, 3 … with no gap.
func history(t *testing.T, st eventstore.Store, wf string) []string {
	t.Helper()
	var ids []string
	q := eventstore.Query{Limit: 7}
	for {
		page, err := st.Read(context.Background(), wf, q)
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		for _, e := range page.Events {
			if e.Sequence != uint64(len(ids)+1) {
				t.Fatalf("event %s at position %d, want %d", e.ID, e.Sequence, len(ids)+1)
			}
			ids = append(ids, e.ID)
		}
		if page.Next == 0 {
			return ids
		}
		q.After = page.Next
	}
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

func TestAppendIsIdempotent(t *testing.T) {
	st, _ := newStore(t)
	ctx := context.Background()
	first := incoming("wf", 1, 10)
	res, err := st.Append(ctx, "wf", first)
	if err != nil {
		t.Fatal(err)
	}
	if res.Stored != 10 || res.First != 1 || res.Last != 10 {
		t.Errorf("first append = %+v, want 10 stored at 1..10", res)
	}
	// The same batch again (Lambda re-delivery).
	if res, err = st.Append(ctx, "wf", first); err != nil || res.Stored != 0 || res.Duplicates != 10 {
		t.Errorf("same batch again = %+v, %v; want 10 duplicates", res, err)
	}
	// A batch overlapping the first: 6..15.
	if res, err = st.Append(ctx, "wf", incoming("wf", 6, 10)); err != nil || res.Stored != 5 || res.Duplicates != 5 {
		t.Errorf("overlapping batch = %+v, %v; want 5 stored, 5 duplicates", res, err)
	}
	// A producer re-sends event wf-0003 with its id: a new stream record.
	resend := incoming("wf", 100, 2, "wf-0003", "new-one")
	if res, err = st.Append(ctx, "wf", resend); err != nil || res.Stored != 1 || res.Duplicates != 1 {
		t.Errorf("re-sent id = %+v, %v; want 1 stored, 1 duplicate", res, err)
	}
	// And the same id twice inside one batch.
	twice := incoming("wf", 200, 2, "dup-in-batch", "dup-in-batch")
	if res, err = st.Append(ctx, "wf", twice); err != nil || res.Stored != 1 || res.Duplicates != 1 {
		t.Errorf("id twice in a batch = %+v, %v; want 1 stored, 1 duplicate", res, err)
	}
	want := append(ids(incoming("wf", 1, 15)), "new-one", "dup-in-batch")
	if diff := cmp.Diff(want, history(t, st, "wf")); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}
	h, err := st.Head(ctx, "wf")
	if err != nil || h.Last != 17 {
		t.Errorf("Head = %+v, %v; want last 17", h, err)
	}
}

func TestReadFiltersAndPages(t *testing.T) {
	st, _ := newStore(t)
	ctx := context.Background()
	in := incoming("wf", 1, 30)
	for i, x := range in {
		x.Event.Type = []string{"workflow.started", "workflow.step", "task.done"}[i%3]
	}
	if _, err := st.Append(ctx, "wf", reraw(in)); err != nil {
		t.Fatal(err)
	}
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
	exact, err := st.Read(ctx, "wf", eventstore.Query{Types: []string{"task.done"}, Limit: 100})
	if err != nil || len(exact.Events) != 10 {
		t.Errorf("exact type: %d events, %v; want 10", len(exact.Events), err)
	}
	none, err := st.Read(ctx, "unknown-workflow", eventstore.Query{})
	if err != nil || len(none.Events) != 0 || none.Next != 0 {
		t.Errorf("unknown workflow: %+v, %v; want an empty page", none, err)
	}
}

func TestLargeEventsSpanItems(t *testing.T) {
	st, _ := newStore(t)
	ctx := context.Background()
	in := incoming("wf", 1, 3)
	in[1].Event.Data = []byte(`"` + strings.Repeat("L", 900_000) + `"`)
	if _, err := st.Append(ctx, "wf", reraw(in)); err != nil {
		t.Fatal(err)
	}
	page, err := st.Read(ctx, "wf", eventstore.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Events) != 3 {
		t.Fatalf("read %d events, want 3", len(page.Events))
	}
	if got := len(page.Events[1].Data); got != 900_002 {
		t.Errorf("large event data is %d bytes, want 900002", got)
	}
}

func TestParkAndResume(t *testing.T) {
	st, _ := newStore(t)
	ctx := context.Background()
	in := incoming("wf", 1, 6)
	in[2] = eventstore.Incoming{Raw: []byte(`{not json`), Pos: in[2].Pos, Problem: errors.New("undecodable record")}
	res, err := st.Append(ctx, "wf", in)
	if err != nil {
		t.Fatal(err)
	}
	if res.Stored != 2 || res.Parked != 4 {
		t.Errorf("append with a poison record = %+v, want 2 stored, 4 parked", res)
	}
	// Later records of the workflow wait behind it, in order.
	if res, err = st.Append(ctx, "wf", incoming("wf", 7, 2)); err != nil || res.Parked != 2 {
		t.Errorf("append while parked = %+v, %v; want 2 parked", res, err)
	}
	// Other workflows are not affected.
	if res, err = st.Append(ctx, "other", incoming("other", 1, 3)); err != nil || res.Stored != 3 {
		t.Errorf("other workflow = %+v, %v; want 3 stored", res, err)
	}
	parked, err := st.ListParked(ctx)
	if err != nil || len(parked) != 1 || parked[0].WorkflowID != "wf" || !strings.Contains(parked[0].ParkedReason, "undecodable") {
		t.Fatalf("ListParked = %+v, %v; want wf with its reason", parked, err)
	}
	entries, err := st.Parked(ctx, "wf")
	if err != nil || len(entries) != 6 {
		t.Fatalf("Parked = %d entries, %v; want 6", len(entries), err)
	}
	decode := func(raw []byte) ([]*event.Event, error) {
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
	// Resuming without a fix parks it again at the same entry.
	if _, err := st.Resume(ctx, "wf", decode, eventstore.Fix{}); err != nil {
		t.Fatal(err)
	}
	if h, _ := st.Head(ctx, "wf"); h.ParkedReason == "" || h.Last != 2 {
		t.Errorf("after a resume without fix: head %+v, want still parked at 2", h)
	}
	// Replace the bad record with a corrected one: everything goes in, in order.
	fixed := incoming("wf", 3, 1)[0].Raw
	res, err = st.Resume(ctx, "wf", decode, eventstore.Fix{Replace: map[uint64][]byte{entries[0].N: fixed}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Stored != 6 || res.Parked != 0 {
		t.Errorf("resume = %+v, want 6 stored, none left", res)
	}
	if diff := cmp.Diff(ids(incoming("wf", 1, 8)), history(t, st, "wf")); diff != "" {
		t.Errorf("history after resume (-want +got):\n%s", diff)
	}
	if parked, _ := st.ListParked(ctx); len(parked) != 0 {
		t.Errorf("ListParked after resume = %+v, want none", parked)
	}
	if _, err := st.Resume(ctx, "wf", decode, eventstore.Fix{}); !errors.Is(err, eventstore.ErrNotParked) {
		t.Errorf("Resume of an unparked workflow = %v, want ErrNotParked", err)
	}
	// New records flow normally again, after the resumed ones.
	if res, err = st.Append(ctx, "wf", incoming("wf", 9, 1)); err != nil || res.First != 9 {
		t.Errorf("append after resume = %+v, %v; want stored at 9", res, err)
	}
}

func TestConcurrentWritersExcludeEachOther(t *testing.T) {
	st, _ := newStore(t)
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
				// A batch earlier in the stream than one already committed
				// is covered by the watermark: it succeeds and stores nothing.
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
	h, err := st.Head(ctx, "wf")
	if err != nil {
		t.Fatal(err)
	}
	if int(h.Last) != int(stored.Load()) || ok.Load() == 0 {
		t.Errorf("head at %d after %d successful appends that stored %d", h.Last, ok.Load(), stored.Load())
	}
	got := history(t, st, "wf")
	if len(got) != int(h.Last) {
		t.Errorf("history holds %d events, head says %d", len(got), h.Last)
	}
	t.Logf("%d appends succeeded, %d found the workflow busy", ok.Load(), busy.Load())
}

// crashingDB fails every call from the n-th on, as a process that dies at
// that point would stop making calls.
type crashingDB struct {
	dynamostore.API
	calls, crashAt int
}

var errCrash = errors.New("injected crash")

func (c *crashingDB) step() error {
	c.calls++
	if c.crashAt > 0 && c.calls >= c.crashAt {
		return errCrash
	}
	return nil
}

func (c *crashingDB) GetItem(ctx context.Context, in *dynamodb.GetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	if err := c.step(); err != nil {
		return nil, err
	}
	return c.API.GetItem(ctx, in, o...)
}

func (c *crashingDB) Query(ctx context.Context, in *dynamodb.QueryInput, o ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	if err := c.step(); err != nil {
		return nil, err
	}
	return c.API.Query(ctx, in, o...)
}

func (c *crashingDB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	if err := c.step(); err != nil {
		return nil, err
	}
	return c.API.UpdateItem(ctx, in, o...)
}

func (c *crashingDB) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, o ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	if err := c.step(); err != nil {
		return nil, err
	}
	return c.API.BatchWriteItem(ctx, in, o...)
}

func (c *crashingDB) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	if err := c.step(); err != nil {
		return nil, err
	}
	return c.API.BatchGetItem(ctx, in, o...)
}

// TestEveryCrashPointIsSafe crashes an append after each of its calls in
// turn (the lease is left behind, as a dead process leaves it), lets the
// lease expire, delivers the batch again, and checks the history is whole:
// no gap, no duplicate, publish order.
func TestEveryCrashPointIsSafe(t *testing.T) {
	cfg := testenv.AWS(t)
	ctx := context.Background()
	// Producer-chosen ids (markers, dedup lookups), a multi-item event and
	// 60 events (several BatchWriteItem calls) exercise every kind of write.
	batch := func(wf string) []eventstore.Incoming {
		in := append(incoming(wf, 10, 20), incoming(wf, 30, 40)...)
		for i := 20; i < 60; i++ {
			in[i].Event.IDGenerated = true
		}
		in[5].Event.Data = []byte(`"` + strings.Repeat("B", 500_000) + `"`)
		return reraw(in)
	}
	db, table := testenv.Table(t, cfg)
	probe := &crashingDB{API: db}
	if _, err := dynamostore.New(probe, table, dynamostore.Options{Concurrency: 1}).Append(ctx, "probe", batch("probe")); err != nil {
		t.Fatal(err)
	}
	total := probe.calls
	if total < 5 {
		t.Fatalf("a clean append made only %d calls", total)
	}
	for crashAt := 1; crashAt <= total; crashAt++ {
		t.Run(fmt.Sprintf("crash at call %d of %d", crashAt, total), func(t *testing.T) {
			wf := fmt.Sprintf("crash-%d", crashAt)
			// A first, clean append of earlier events, so the crash hits a
			// workflow with history.
			clean := dynamostore.New(db, table, dynamostore.Options{})
			if _, err := clean.Append(ctx, wf, incoming(wf, 1, 3, "a", "b", "c")); err != nil {
				t.Fatal(err)
			}
			dying := dynamostore.New(&crashingDB{API: db, crashAt: crashAt}, table, dynamostore.Options{Concurrency: 1, LeaseDuration: time.Minute})
			if _, err := dying.Append(ctx, wf, batch(wf)); !errors.Is(err, errCrash) && err != nil {
				t.Fatalf("crashing append: %v", err)
			}
			// The retry comes after the dead writer's lease has expired.
			later := func() time.Time { return time.Now().Add(2 * time.Minute) }
			retry := dynamostore.New(db, table, dynamostore.Options{Now: later})
			if _, err := retry.Append(ctx, wf, batch(wf)); err != nil {
				t.Fatalf("retry: %v", err)
			}
			if _, err := retry.Append(ctx, wf, batch(wf)); err != nil {
				t.Fatalf("second retry: %v", err)
			}
			want := append([]string{"a", "b", "c"}, ids(batch(wf))...)
			if diff := cmp.Diff(want, history(t, clean, wf)); diff != "" {
				t.Errorf("history (-want +got):\n%s", diff)
			}
		})
	}
}
