package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/flowbus/flowbus/shared/event"
	"github.com/flowbus/flowbus/shared/eventstore"
	"github.com/flowbus/flowbus/shared/kinesisevent"
	"github.com/flowbus/flowbus/shared/metrics"
	"github.com/flowbus/flowbus/shared/stats"
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
	// Latency is publish-to-store latency (event time to stored time) of the
	// events stored.
	Latency *metrics.Sketch
	// StoredByType counts the events stored, by event type.
	StoredByType map[string]int
}

// StatsRecorder takes one batch's figures.
type StatsRecorder interface {
	RecordBatch(ctx context.Context, b stats.Batch) error
}

// Consumer stores batches. Build it once per cold start.
type Consumer struct {
	store       eventstore.Store
	stats       StatsRecorder
	concurrency int
	log         *slog.Logger
	now         func() time.Time
}

// New returns a consumer writing to store.
func New(store eventstore.Store, log *slog.Logger) *Consumer {
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

// Handle stores a batch. Workflows run concurrently, each strictly in order.
// A workflow whose append fails for a reason that may pass (throttling, a
// busy lease, an engine down) is reported by its first record's sequence
// number: Lambda checkpoints at the lowest one reported and sends the rest
// again, which the store's idempotency makes safe.
func (c *Consumer) Handle(ctx context.Context, records []kinesisevent.Record) (events.KinesisEventResponse, Stats) {
	st := Stats{Records: len(records), StoredByType: map[string]int{}}
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
	var failures []events.KinesisBatchItemFailure
	var sizes []stats.WorkflowSize
	latency := &metrics.Sketch{}
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
		}()
	}
	wg.Wait()
	st.Latency = latency
	if c.stats != nil && len(records) > 0 {
		c.recordStats(ctx, records, st, failures, sizes, latency, published)
	}
	return events.KinesisEventResponse{BatchItemFailures: failures}, st
}

// recordStats writes the batch's figures; a failure costs figures, never
// events, so it is logged and the batch goes on.
func (c *Consumer) recordStats(ctx context.Context, records []kinesisevent.Record, st Stats, failures []events.KinesisBatchItemFailure, sizes []stats.WorkflowSize, latency *metrics.Sketch, published map[int64]int) {
	b := stats.Batch{
		Consumed: st.Events, Stored: st.Stored, Duplicates: st.Duplicates, Parked: st.Parked, Replayed: st.Replayed, Bytes: st.Bytes,
		Latency: latency, Workflows: sizes, Now: c.now(), Published: published,
	}
	if len(failures) == 0 {
		last := records[len(records)-1]
		b.Shard, b.LastSeq, b.LastArrival = last.ShardID, last.SequenceNumber, last.ArrivalTime
	}
	if err := c.stats.RecordBatch(ctx, b); err != nil {
		c.log.WarnContext(ctx, "batch figures not recorded", "error", err)
	}
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
