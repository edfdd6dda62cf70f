package consumer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flowbus/flowbus/shared/event"
	"github.com/flowbus/flowbus/shared/eventstore"
	"github.com/flowbus/flowbus/shared/eventstore/memstore"
	"github.com/flowbus/flowbus/shared/kinesisevent"
	"github.com/flowbus/flowbus/shared/stats"
)

// throttledStore is an event store in memory that fails the appends of the
// workflows it is told to, as throttling would.
type throttledStore struct {
	*memstore.Store
	mu   sync.Mutex
	fail map[string]bool
}

func (f *throttledStore) Append(ctx context.Context, wf string, in []eventstore.Incoming) (eventstore.AppendResult, error) {
	f.mu.Lock()
	fail := f.fail[wf]
	f.mu.Unlock()
	if fail {
		return eventstore.AppendResult{}, errors.New("throttled")
	}
	return f.Store.Append(ctx, wf, in)
}

// stored returns the ids of the events the store holds, by workflow.
func (f *throttledStore) stored(t *testing.T, wfs ...string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, wf := range wfs {
		page, err := f.Read(context.Background(), wf, eventstore.Query{Limit: eventstore.MaxLimit})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Events {
			out[wf] = append(out[wf], e.ID)
		}
	}
	return out
}

type fakeStats struct{ batches []stats.Batch }

func (f *fakeStats) RecordBatch(_ context.Context, b stats.Batch) error {
	f.batches = append(f.batches, b)
	return nil
}

func record(seq int, wf string, evs ...string) kinesisevent.Record {
	var data []byte
	if len(evs) > 1 {
		data = append(data, '[')
	}
	for i, id := range evs {
		if i > 0 {
			data = append(data, ',')
		}
		e := &event.Event{ID: id, Source: "/t", Type: "t", WorkflowID: wf, Time: time.Unix(1700000000, 0)}
		if id == "replayed" {
			e.Extensions = []event.Extension{{Name: event.AttrReplayID, Value: []byte(`"r1"`)}}
		}
		data = event.Append(data, e, true)
	}
	if len(evs) > 1 {
		data = append(data, ']')
	}
	return kinesisevent.Record{PartitionKey: wf, SequenceNumber: fmt.Sprintf("%05d", seq), ShardID: "shardId-0", Data: data, ArrivalTime: time.Unix(1700000060, 0)}
}

func TestHandleKeepsEachWorkflowInOrderAndReportsFailures(t *testing.T) {
	store := &throttledStore{Store: memstore.New(), fail: map[string]bool{"b": true}}
	st := &fakeStats{}
	c := New(store, slog.New(slog.NewTextHandler(io.Discard, nil))).WithStats(st)
	c.now = func() time.Time { return time.Unix(1700000100, 0) }
	recs := []kinesisevent.Record{
		record(1, "a", "a1", "a2"), record(2, "b", "b1"), record(3, "a", "a3", "replayed"),
		record(4, "c", "c1"), record(5, "b", "b2"), record(6, "c"), // an empty record: parks c
	}
	recs[5].Data = []byte("not json")
	retry, got := c.Handle(context.Background(), recs)
	if diff := cmp.Diff(map[string][]string{"a": {"a1", "a2", "a3"}, "c": {"c1"}}, store.stored(t, "a", "b", "c")); diff != "" {
		t.Errorf("stored (-want +got):\n%s", diff)
	}
	if h, err := store.Head(context.Background(), "c"); err != nil || h.ParkedCount != 1 {
		t.Errorf("head of c = %+v, %v; want parked behind its undecodable record", h, err)
	}
	// b failed: Lambda must resume at b's first record in the batch.
	if diff := cmp.Diff([]string{"00002"}, retry); diff != "" {
		t.Errorf("retry (-want +got):\n%s", diff)
	}
	if got.Stored != 4 || got.Replayed != 1 || got.Parked != 1 || got.Failed != 1 || got.StoredByType["t"] != 4 {
		t.Errorf("stats %+v", got)
	}
	if len(st.batches) != 1 {
		t.Fatalf("%d figure writes, want one per batch", len(st.batches))
	}
	b := st.batches[0]
	if b.Stored != 4 || b.Shard != "" || b.Published[1700000060/60] != 4 || b.Latency.Count() != 4 {
		t.Errorf("figures %+v: want 4 stored, published by arrival minute, and no shard position while a workflow failed", b)
	}
	// Lambda sends the batch again from b's first record: a's record
	// before it comes again too, and is not stored twice.
	store.fail = nil
	retry, got = c.Handle(context.Background(), recs[:2])
	if len(retry) != 0 || got.Stored != 1 || got.Duplicates != 2 {
		t.Errorf("second batch: retry %v, stats %+v; want b1 stored, a1 and a2 duplicates", retry, got)
	}
	if st.batches[1].LastSeq != "00002" || st.batches[1].Shard != "shardId-0" {
		t.Errorf("figures %+v: want the shard position after a clean batch", st.batches[1])
	}
}
