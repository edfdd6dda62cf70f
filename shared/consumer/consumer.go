package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/aws/aws-lambda-go/events"

	"github.com/flowbus/flowbus/shared/event"
	"github.com/flowbus/flowbus/shared/eventstore"
	"github.com/flowbus/flowbus/shared/kinesisevent"
)

// DefaultConcurrency is how many workflows of one batch are stored at once.
const DefaultConcurrency = 16

// Stats counts what one batch did.
type Stats struct {
	Records    int
	Events     int
	Stored     int
	Duplicates int
	Parked     int
	Failed     int // workflows left for Lambda to retry
	Bytes      int
	Replayed   int // replayed events seen: already stored, never stored again
}

// Consumer stores batches. Build it once per cold start.
type Consumer struct {
	store       eventstore.Store
	concurrency int
	log         *slog.Logger
}

// New returns a consumer writing to store.
func New(store eventstore.Store, log *slog.Logger) *Consumer {
	return &Consumer{store: store, concurrency: DefaultConcurrency, log: log}
}

// group is one workflow's share of a batch, in stream order.
type group struct {
	key      string
	firstSeq string // Kinesis sequence number of its first record in the batch
	in       []eventstore.Incoming
}

// Decode turns record data into the store's entries. It never fails: what
// cannot be decoded or validated becomes an entry with a Problem, which
// parks the workflow rather than blocking the shard. Replayed events (they
// carry the replay marker) are left out and counted: the store holds them
// already.
func Decode(r kinesisevent.Record, intern *event.Interner) (in []eventstore.Incoming, replayed int) {
	pos := eventstore.Position{Shard: r.ShardID, Seq: r.SequenceNumber}
	items, err := event.DecodeBatch(r.Data, event.DecodeOptions{Wire: true, Intern: intern}, false, 0)
	if err != nil {
		return []eventstore.Incoming{{Raw: r.Data, Pos: pos, Problem: fmt.Errorf("undecodable record: %w", err)}}, 0
	}
	if len(items) == 0 {
		return []eventstore.Incoming{{Raw: r.Data, Pos: pos, Problem: errors.New("undecodable record: no events")}}, 0
	}
	in = make([]eventstore.Incoming, 0, len(items))
	for i := range items {
		it := &items[i]
		x := eventstore.Incoming{Raw: it.Raw, Pos: pos}
		x.Pos.Sub = i
		switch {
		case it.Err != nil:
			x.Problem = it.Err
		case it.Event.WorkflowID != r.PartitionKey:
			x.Problem = fmt.Errorf("event %s has workflow id %q but its record's partition key is %q", it.Event.ID, it.Event.WorkflowID, r.PartitionKey)
		case it.Event.ID == "":
			x.Problem = errors.New("event has no id")
		case it.Event.Replayed():
			replayed++
			continue
		default:
			x.Event = &it.Event
		}
		in = append(in, x)
	}
	return in, replayed
}

// Handle stores a batch. Workflows run concurrently, each strictly in order.
// A workflow whose append fails for a reason that may pass (throttling, a
// busy lease, an engine down) is reported by its first record's sequence
// number: Lambda checkpoints at the lowest one reported and sends the rest
// again, which the store's idempotency makes safe.
func (c *Consumer) Handle(ctx context.Context, records []kinesisevent.Record) (events.KinesisEventResponse, Stats) {
	st := Stats{Records: len(records)}
	var groups []*group
	byKey := make(map[string]*group)
	intern := event.NewInterner()
	for _, r := range records {
		g := byKey[r.PartitionKey]
		if g == nil {
			g = &group{key: r.PartitionKey, firstSeq: r.SequenceNumber}
			byKey[r.PartitionKey] = g
			groups = append(groups, g)
		}
		in, replayed := Decode(r, intern)
		g.in = append(g.in, in...)
		st.Replayed += replayed
	}

	var mu sync.Mutex
	var failures []events.KinesisBatchItemFailure
	sem := make(chan struct{}, c.concurrency)
	var wg sync.WaitGroup
	for _, g := range groups {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			res, err := c.store.Append(ctx, g.key, g.in)
			mu.Lock()
			defer mu.Unlock()
			st.Events += len(g.in)
			if err != nil {
				st.Failed++
				failures = append(failures, events.KinesisBatchItemFailure{ItemIdentifier: g.firstSeq})
				c.log.WarnContext(ctx, "append failed; Lambda will retry from this record",
					"workflow_id", g.key, "sequence_number", g.firstSeq, "error", err)
				return
			}
			st.Stored += res.Stored
			st.Duplicates += res.Duplicates
			st.Parked += res.Parked
			st.Bytes += res.Bytes
			if res.Parked > 0 {
				c.log.WarnContext(ctx, "workflow parked", "workflow_id", g.key, "parked", res.Parked)
			}
		}()
	}
	wg.Wait()
	return events.KinesisEventResponse{BatchItemFailures: failures}, st
}
