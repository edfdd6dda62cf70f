package loadgen

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/flowbus/flowbus/shared/dynamostore"
	"github.com/flowbus/flowbus/shared/event"
	"github.com/flowbus/flowbus/shared/eventstore"
	"github.com/flowbus/flowbus/shared/testenv"
)

// The checker reads what the real store wrote: the layout it assumes is the
// one shared/dynamostore writes, on dynalite.
func TestCheckerReadsTheStore(t *testing.T) {
	db, table := testenv.Table(t, testenv.AWS(t))
	st := dynamostore.New(db, table, dynamostore.Options{})
	ctx := context.Background()
	l := NewLedger()
	in := func(wf string, from, count int) []eventstore.Incoming {
		var out []eventstore.Incoming
		for k := from; k < from+count; k++ {
			e := &event.Event{ID: fmt.Sprintf("%s-%d", wf, k), Source: "/t", Type: "load.tick", WorkflowID: wf,
				Data: fmt.Appendf(nil, `{"k":%d,"t":%d}`, k, time.Now().UnixMilli()), Time: time.Now()}
			out = append(out, eventstore.Incoming{Event: e, Raw: event.Append(nil, e, true),
				Pos: eventstore.Position{Shard: "shardId-000000000000", Seq: fmt.Sprintf("%030d", k+1)}})
			l.ack(wf, Ack{ID: e.ID, K: k, SentAt: time.Now()})
		}
		return out
	}
	// good: 30 events in three appends, one re-delivered.
	first := in("good", 0, 10)
	for _, batch := range [][]eventstore.Incoming{first, in("good", 10, 10), first, in("good", 20, 10)} {
		if _, err := st.Append(ctx, "good", batch); err != nil {
			t.Fatal(err)
		}
	}
	// poisoned: 2 stored, then a poison record and 3 good events parked behind it.
	p := in("poisoned", 0, 5)
	p[2] = eventstore.Incoming{Raw: []byte(`{not json`), Pos: p[2].Pos, Problem: errors.New("undecodable record")}
	l.Acked["poisoned"] = append(l.Acked["poisoned"][:2], l.Acked["poisoned"][3:]...)
	if _, err := st.Append(ctx, "poisoned", p); err != nil {
		t.Fatal(err)
	}
	// lost: acknowledged, never appended.
	l.ack("lost", Ack{ID: "lost-0", K: 0, SentAt: time.Now()})

	c := &Checker{DB: db, Table: table}
	rep, err := c.Check(ctx, l, CheckOptions{Wait: 100 * time.Millisecond, Poll: 50 * time.Millisecond, Prefix: "",
		Expect: Expect{Parked: map[string]bool{"poisoned": true}}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Stored != 32 || rep.ParkedExpected != 2 || rep.Missing != 1 || rep.Duplicates != 0 || rep.OutOfOrder != 0 || rep.Gaps != 0 || rep.ParkedWrong != 0 {
		t.Errorf("report: %s\n%s", rep.Summary(), rep.Details(10))
	}
	if len(rep.Problems) != 1 || rep.Problems[0].Kind != "missing" || rep.Problems[0].ID != "lost-0" {
		t.Errorf("problems:\n%s\nwant only lost-0 missing", rep.Details(10))
	}
	if len(rep.Latency) != 32 {
		t.Errorf("%d latencies, want one per stored event", len(rep.Latency))
	}
}
