package dynamostore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/google/go-cmp/cmp"

	"github.com/flowbus/flowbus/shared/dynamostore"
	"github.com/flowbus/flowbus/shared/event"
	"github.com/flowbus/flowbus/shared/eventstore"
	"github.com/flowbus/flowbus/shared/eventstore/eventstoretest"
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

// TestContract runs the contract every event store passes.
func TestContract(t *testing.T) {
	eventstoretest.Run(t, func(t *testing.T) eventstore.Store {
		st, _ := newStore(t)
		return st
	})
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
