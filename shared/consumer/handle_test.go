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
	"github.com/flowbus/flowbus/shared/kinesisevent"
	"github.com/flowbus/flowbus/shared/stats"
)

// fakeStore records the appends it gets and fails the workflows it is told to.
type fakeStore struct {
	mu      sync.Mutex
	appends map[string][]string // workflow → event ids, in call order
	fail    map[string]bool
}

func (f *fakeStore) Append(_ context.Context, wf string, in []eventstore.Incoming) (eventstore.AppendResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail[wf] {
		return eventstore.AppendResult{}, errors.New("throttled")
	}
	res := eventstore.AppendResult{TotalEvents: uint64(len(in))}
	for _, x := range in {
		if x.Event == nil {
			res.Parked++
			continue
		}
		f.appends[wf] = append(f.appends[wf], x.Event.ID)
		res.Stored++
	}
	return res, nil
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
	store := &fakeStore{appends: map[string][]string{}, fail: map[string]bool{"b": true}}
	st := &fakeStats{}
	c := New(store, slog.New(slog.NewTextHandler(io.Discard, nil))).WithStats(st)
	c.now = func() time.Time { return time.Unix(1700000100, 0) }
	recs := []kinesisevent.Record{
		record(1, "a", "a1", "a2"), record(2, "b", "b1"), record(3, "a", "a3", "replayed"),
		record(4, "c", "c1"), record(5, "b", "b2"), record(6, "c"), // an empty record: parks c
	}
	recs[5].Data = []byte("not json")
	retry, got := c.Handle(context.Background(), recs)
	if diff := cmp.Diff(map[string][]string{"a": {"a1", "a2", "a3"}, "c": {"c1"}}, store.appends); diff != "" {
		t.Errorf("appends (-want +got):\n%s", diff)
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
	store.fail = nil
	if retry, _ = c.Handle(context.Background(), recs[:2]); len(retry) != 0 || st.batches[1].LastSeq != "00002" || st.batches[1].Shard != "shardId-0" {
		t.Errorf("figures %+v: want the shard position after a clean batch", st.batches[1])
	}
}
