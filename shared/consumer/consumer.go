package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/flowbus/flowbus/shared/event"
	"github.com/flowbus/flowbus/shared/eventstore"
	"github.com/flowbus/flowbus/shared/kinesisevent"
	"github.com/flowbus/flowbus/shared/metrics"
	"github.com/flowbus/flowbus/shared/stats"
)

// DefaultConcurrency is how many workflows of one batch are stored at once.
const DefaultConcurrency = 16

// Appender stores a workflow's incoming events in order, idempotently: the
// one method of eventstore.Store the consumer uses.
type Appender interface {
	Append(ctx context.Context, workflowID string, in []eventstore.Incoming) (eventstore.AppendResult, error)
}

// StatsRecorder takes one batch's figures.
type StatsRecorder interface {
	RecordBatch(ctx context.Context, b stats.Batch) error
}

// Consumer stores batches. Build it once per cold start.
type Consumer struct {
	store       Appender
	stats       StatsRecorder
	concurrency int
	log         *slog.Logger
	now         func() time.Time
}

// New returns a consumer writing to store.
func New(store Appender, log *slog.Logger) *Consumer {
	return &Consumer{store: store, concurrency: DefaultConcurrency, log: log, now: time.Now}
}

// WithStats makes the consumer write each batch's figures to r, once per
// batch.
func (c *Consumer) WithStats(r StatsRecorder) *Consumer {
	c.stats = r
	return c
}

// group is one workflow's share of a batch, in stream order.
type group struct {
	key      string
	firstSeq string // Kinesis sequence number of its first record in the batch
	in       []eventstore.Incoming
}

// Decode appends the store's entries for a record's data to dst. It never fails: what
// cannot be decoded or validated becomes an entry with a Problem, which
// parks the workflow rather than blocking the shard. Replayed events (they
// carry the replay marker) are left out and counted: the store holds them
// already.
func Decode(dst []eventstore.Incoming, r kinesisevent.Record, intern *event.Interner) (in []eventstore.Incoming, replayed int) {
	pos := eventstore.Position{Shard: r.ShardID, Seq: r.SequenceNumber}
	items, err := event.DecodeBatch(r.Data, event.DecodeOptions{Wire: true, Intern: intern}, false, 0)
	if err != nil {
		return append(dst, eventstore.Incoming{Raw: r.Data, Pos: pos, Arrival: r.ArrivalTime, Problem: fmt.Errorf("undecodable record: %w", err)}), 0
	}
	if len(items) == 0 {
		return append(dst, eventstore.Incoming{Raw: r.Data, Pos: pos, Arrival: r.ArrivalTime, Problem: errors.New("undecodable record: no events")}), 0
	}
	in = dst
	for i := range items {
		it := &items[i]
		x := eventstore.Incoming{Raw: it.Raw, Pos: pos, Arrival: r.ArrivalTime}
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

// Handle stores a batch and returns its figures. Workflows run concurrently,
// each strictly in order. A workflow whose append fails for a reason that may
// pass (throttling, a busy lease, an engine down) is reported in retry by the
// sequence number of its first record in the batch: the caller asks Lambda to
// checkpoint at the lowest one and send the rest again, which the store's
// idempotency makes safe.
func (c *Consumer) Handle(ctx context.Context, records []kinesisevent.Record) (retry []string, st stats.Batch) {
	st = stats.Batch{Records: len(records), StoredByType: map[string]int{}}
	var groups []*group
	byKey := make(map[string]*group)
	intern := event.NewInterner()
	published := map[int64]int{} // events by the minute their record reached the stream
	for _, r := range records {
		g := byKey[r.PartitionKey]
		if g == nil {
			g = &group{key: r.PartitionKey, firstSeq: r.SequenceNumber}
			byKey[r.PartitionKey] = g
			groups = append(groups, g)
		}
		var replayed int
		g.in, replayed = Decode(g.in, r, intern)
		st.Replayed += replayed
	}

	var mu sync.Mutex
	var sizes []stats.WorkflowSize
	latency := &metrics.Sketch{}
	// A failed append is reported in retry, never ends the batch: the group
	// has no context to cancel and its calls return nil.
	var eg errgroup.Group
	eg.SetLimit(c.concurrency)
	for _, g := range groups {
		eg.Go(func() error {
			res, err := c.store.Append(ctx, g.key, g.in)
			mu.Lock()
			defer mu.Unlock()
			st.Consumed += len(g.in)
			if err != nil {
				st.Failed++
				retry = append(retry, g.firstSeq)
				c.log.WarnContext(ctx, "append failed; Lambda will retry from this record",
					"workflow_id", g.key, "sequence_number", g.firstSeq, "error", err)
				return nil
			}
			st.Stored += res.Stored
			st.Duplicates += res.Duplicates
			st.Parked += res.Parked
			st.Bytes += res.Bytes
			if res.TotalEvents > 0 {
				sizes = append(sizes, stats.WorkflowSize{WorkflowID: g.key, Events: res.TotalEvents, Bytes: res.TotalBytes})
			}
			// Redelivered entries come first in a group, so the events
			// stored are the last res.Stored decoded ones.
			now := c.now()
			stored := 0
			for i := len(g.in) - 1; i >= 0 && stored < res.Stored; i-- {
				if e := g.in[i].Event; e != nil {
					latency.Add(now.Sub(e.Time))
					st.StoredByType[e.Type]++
					published[g.in[i].Arrival.Unix()/60]++ // counted once: when first stored
					stored++
				}
			}
			if res.Parked > 0 {
				c.log.WarnContext(ctx, "workflow parked", "workflow_id", g.key, "parked", res.Parked)
			}
			return nil
		})
	}
	_ = eg.Wait()
	st.Latency, st.Workflows, st.Published = latency, sizes, published
	if len(records) == 0 {
		return retry, st
	}
	st.Now = c.now()
	if len(retry) == 0 {
		last := records[len(records)-1]
		st.Shard, st.LastSeq, st.LastArrival = last.ShardID, last.SequenceNumber, last.ArrivalTime
	}
	if c.stats != nil {
		// A failure costs figures, never events: it is logged and the
		// batch goes on.
		if err := c.stats.RecordBatch(ctx, st); err != nil {
			c.log.WarnContext(ctx, "batch figures not recorded", "error", err)
		}
	}
	return retry, st
}

// ResumeDecoder returns the eventstore.DecodeFunc that resuming workflow wf
// needs: parked records read exactly as the consumer reads the stream, with
// today's rules, so a fix in the rules (or a corrected record) unparks it.
func ResumeDecoder(wf string) eventstore.DecodeFunc {
	return func(raw []byte) ([]*event.Event, error) {
		in, _ := Decode(nil, kinesisevent.Record{PartitionKey: wf, Data: raw}, nil)
		evs := make([]*event.Event, 0, len(in))
		for _, x := range in {
			if x.Problem != nil {
				return nil, x.Problem
			}
			evs = append(evs, x.Event)
		}
		return evs, nil
	}
}
