package subscriber

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"golang.org/x/sync/errgroup"

	"github.com/flowbus/flowbus/shared/event"
	"github.com/flowbus/flowbus/shared/kinesisevent"
	"github.com/flowbus/flowbus/shared/pattern"
)

// DefaultConcurrency is how many workflows of one batch are handled at once.
const DefaultConcurrency = 16

// Func handles one event. Returning an error stops the event's workflow for
// this batch at the event's record: Lambda delivers that record again, with
// everything after it.
//
// e is the caller's own copy; Data, Metadata and extension values are slices
// of the record's data, which nothing else writes to.
type Func func(ctx context.Context, e event.Event) error

// ErrInvalidRecord wraps the reason a record, or an event in it, cannot be
// handed to the function: data that is not an event or a batch of events, an
// event that breaks the CloudEvents rules, has no id or names another
// workflow than its record's partition key. flowbus writes only valid
// events, so this means someone else wrote to the stream.
var ErrInvalidRecord = errors.New("invalid record")

// ErrPanic wraps the value of a panic in the function; the event fails as if
// the function had returned an error.
var ErrPanic = errors.New("the function panicked")

// ErrInProgress is what a workflow fails with when the idempotency store says
// another invocation holds the event and its mark has not expired.
var ErrInProgress = errors.New("event in progress elsewhere")

// Idempotency remembers which events the function finished. DynamoStore is
// the DynamoDB one.
type Idempotency interface {
	// Start claims key before the function runs. done is true when the
	// event was finished before (skip it); an error (ErrInProgress among
	// them) fails the workflow at this record.
	Start(ctx context.Context, key string) (done bool, err error)
	// Complete records that the function finished key.
	Complete(ctx context.Context, key string) error
	// Release drops the claim after the function failed, so the retry
	// runs it again at once.
	Release(ctx context.Context, key string) error
}

// Options configure a Subscriber; the zero value hands every event, replayed
// ones included, with no idempotency store.
type Options struct {
	// Pattern, when set, selects the events handed to the function; the
	// others are passed over as handled. It is matched against each event
	// as a CloudEvent in structured JSON, exactly as a subscription's
	// pattern is (type, source, workflowid, replayid, data.…), one event at
	// a time: a FilterCriteria pattern matches an aggregated record when
	// any of its events matches, so it can only narrow what Lambda sends.
	Pattern *pattern.Pattern
	// SkipReplayed passes over events that carry the replay marker
	// (replayid). By default they are handed to the function.
	SkipReplayed bool
	// Idempotency, when set, is asked before each event and told after it,
	// so an event the function finished is not handed again when its
	// record is delivered again.
	Idempotency Idempotency
	// Concurrency bounds the workflows handled at once; default
	// DefaultConcurrency.
	Concurrency int
	// OnInvalid decides about an invalid record or event (its error wraps
	// ErrInvalidRecord): nil goes on past it, an error fails the workflow
	// there. Unset, the workflow fails there, so the record is retried
	// and, once the mapping's MaximumRetryAttempts are spent, goes to its
	// on-failure destination: never skipped silently.
	OnInvalid func(ctx context.Context, r kinesisevent.Record, err error) error
	// StopBefore is how long before the invocation's deadline (the
	// context's) no further event is started, so the answer goes out with
	// the progress made: a timed-out invocation fails its whole batch, and
	// Lambda delivers all of it again. Default DefaultStopBefore; negative
	// never stops early.
	StopBefore time.Duration
	// Log gets one line per failed workflow; default discards.
	Log *slog.Logger
}

// DefaultStopBefore is Options.StopBefore's default.
const DefaultStopBefore = time.Second

// ErrDeadline is what the workflows not finished when the invocation's
// deadline came near (Options.StopBefore) stop with.
var ErrDeadline = errors.New("stopped before the invocation's deadline")

// Subscriber is the handler. Build it once per cold start; it is safe for
// concurrent use.
type Subscriber struct {
	fn        Func
	opts      Options
	matchData bool // the pattern tests data: match against the whole event
	log       *slog.Logger
}

// New returns a Subscriber calling fn.
func New(fn Func, opts Options) *Subscriber {
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	if opts.StopBefore == 0 {
		opts.StopBefore = DefaultStopBefore
	}
	s := &Subscriber{fn: fn, opts: opts, log: opts.Log}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if p := opts.Pattern; p != nil {
		s.matchData = p.HasField("data") || p.HasField("data_base64")
	}
	return s
}

// Failure is one workflow stopped in a batch.
type Failure struct {
	WorkflowID     string
	SequenceNumber string // the record it stopped at: the itemIdentifier reported
	EventID        string // the event it stopped at, "" when the record as a whole failed
	Err            error
}

// Result is what a batch came to.
type Result struct {
	// Failures lists each stopped workflow once, in the order of the
	// records they stopped at.
	Failures []Failure
	// Handled events went through the function; Filtered did not match
	// the pattern; Replayed were skipped for their replay marker;
	// Duplicates were finished before, by the idempotency store;
	// Invalid were passed over by OnInvalid.
	Handled, Filtered, Replayed, Duplicates, Invalid int
}

// Response is the partial batch response Lambda reads: one itemIdentifier per
// failed workflow, the sequence number of the record it stopped at. Lambda
// checkpoints before the lowest of them and delivers everything from there
// again.
func (r Result) Response() events.KinesisEventResponse {
	var resp events.KinesisEventResponse
	for _, f := range r.Failures {
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.KinesisBatchItemFailure{ItemIdentifier: f.SequenceNumber})
	}
	return resp
}

// Invoke handles one Lambda Kinesis event and answers its partial batch
// response; it makes the Subscriber a lambda.Handler, so lambda.Start(s)
// runs it. A payload that is not a Kinesis event fails the invocation.
func (s *Subscriber) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	records, err := kinesisevent.Decode(payload)
	if err != nil {
		return nil, fmt.Errorf("decode Kinesis event: %w", err)
	}
	res := s.Handle(ctx, records)
	return json.Marshal(res.Response())
}

// HandleEvent is Handle for a Kinesis event already decoded into
// aws-lambda-go's types, for a handler that does more than the subscriber
// (lambda.Start(func(ctx, events.KinesisEvent) (events.KinesisEventResponse,
// error))). Invoke, which decodes the payload itself, is several times
// cheaper.
func (s *Subscriber) HandleEvent(ctx context.Context, ev events.KinesisEvent) events.KinesisEventResponse {
	records := make([]kinesisevent.Record, len(ev.Records))
	for i, r := range ev.Records {
		shard, _, _ := strings.Cut(r.EventID, ":")
		records[i] = kinesisevent.Record{PartitionKey: r.Kinesis.PartitionKey, SequenceNumber: r.Kinesis.SequenceNumber,
			Data: r.Kinesis.Data, ArrivalTime: r.Kinesis.ApproximateArrivalTimestamp.UTC(), ShardID: shard, EventSourceARN: r.EventSourceArn}
	}
	return s.Handle(ctx, records).Response()
}

// itemPool holds the slices Handle decodes a batch's events into; a slice
// grown past maxPooledItems (a batch of many small events) is left to the
// garbage collector.
var itemPool = sync.Pool{New: func() any { return new([]event.Item) }}

const maxPooledItems = 1 << 13

// workflow is one workflow's records in a batch, in stream order, decoded.
type workflow struct {
	key  string
	recs []decoded
}

// decoded is a record's events, or why it has none.
type decoded struct {
	index int // in the batch
	items []event.Item
	err   error
}

// Handle hands a batch's events to the function, each workflow in stream
// order, several workflows at once. A workflow stops at its first failure:
// none of its later events in the batch reach the function.
func (s *Subscriber) Handle(ctx context.Context, records []kinesisevent.Record) Result {
	// Every record is decoded first, on this goroutine, as flowbus's own
	// consumer does: one interner serves the batch, and the workflows'
	// goroutines do not grow their stacks in the decoder.
	var order []*workflow
	byKey := make(map[string]*workflow)
	intern := event.NewInterner()
	// Every record's items go into one slice taken from a pool and given
	// back, cleared, when the batch is done: the function gets each event
	// by value, so nothing outlives the batch in it.
	buf := itemPool.Get().(*[]event.Item)
	items := (*buf)[:0]
	defer func() {
		if cap(items) <= maxPooledItems {
			clear(items)
			*buf = items[:0]
			itemPool.Put(buf)
		}
	}()
	for i := range records {
		w := byKey[records[i].PartitionKey]
		if w == nil {
			w = &workflow{key: records[i].PartitionKey}
			byKey[w.key] = w
			order = append(order, w)
		}
		start := len(items)
		var err error
		items, err = event.AppendBatch(items, records[i].Data, event.DecodeOptions{Wire: true, Intern: intern}, false, 0)
		if err == nil && len(items) == start {
			err = errors.New("no events")
		}
		w.recs = append(w.recs, decoded{index: i, items: items[start:len(items):len(items)], err: err})
	}
	var (
		mu    sync.Mutex
		total Result
		at    []int // record index of each failure
	)
	// stop ends StopBefore ahead of the invocation's deadline: checked
	// before each event, never given to the function.
	stop := ctx
	if d, ok := ctx.Deadline(); ok && s.opts.StopBefore > 0 {
		var cancel context.CancelFunc
		stop, cancel = context.WithDeadlineCause(ctx, d.Add(-s.opts.StopBefore), ErrDeadline)
		defer cancel()
	}
	// A failure is reported, never ends the batch: the group has no
	// context to cancel and its calls return nil.
	var eg errgroup.Group
	eg.SetLimit(s.opts.Concurrency)
	for _, w := range order {
		eg.Go(func() error {
			var r Result
			f, rec := s.workflow(ctx, stop, w, records, &r)
			mu.Lock()
			defer mu.Unlock()
			total.Handled += r.Handled
			total.Filtered += r.Filtered
			total.Replayed += r.Replayed
			total.Duplicates += r.Duplicates
			total.Invalid += r.Invalid
			if f != nil {
				total.Failures = append(total.Failures, *f)
				at = append(at, rec)
			}
			return nil
		})
	}
	_ = eg.Wait()
	if len(at) > 1 {
		sort.Sort(byRecord{total.Failures, at})
	}
	return total
}

type byRecord struct {
	f  []Failure
	at []int
}

func (b byRecord) Len() int           { return len(b.f) }
func (b byRecord) Less(i, j int) bool { return b.at[i] < b.at[j] }
func (b byRecord) Swap(i, j int) {
	b.f[i], b.f[j] = b.f[j], b.f[i]
	b.at[i], b.at[j] = b.at[j], b.at[i]
}

// workflow runs one workflow's records; it returns where it stopped, if it
// did.
func (s *Subscriber) workflow(ctx, stop context.Context, w *workflow, records []kinesisevent.Record, res *Result) (*Failure, int) {
	var doc map[string]any
	if s.opts.Pattern != nil {
		doc = make(map[string]any, 16)
	}
	for _, d := range w.recs {
		ri, items, err := d.index, d.items, d.err
		r := &records[ri]
		if err != nil {
			if err := s.invalid(ctx, r, fmt.Errorf("%w: record %s: %w", ErrInvalidRecord, r.SequenceNumber, err)); err != nil {
				return s.fail(ctx, r, "", err), ri
			}
			res.Invalid++
			continue
		}
		for i := range items {
			it := &items[i]
			e := &it.Event
			var problem error
			switch {
			case it.Err != nil:
				problem = it.Err
			case e.ID == "":
				problem = errors.New("event has no id")
			case e.WorkflowID != r.PartitionKey:
				problem = fmt.Errorf("event %s has workflow id %q but its record's partition key is %q", e.ID, e.WorkflowID, r.PartitionKey)
			}
			if problem != nil {
				if err := s.invalid(ctx, r, fmt.Errorf("%w: record %s event %d: %w", ErrInvalidRecord, r.SequenceNumber, i, problem)); err != nil {
					return s.fail(ctx, r, e.ID, err), ri
				}
				res.Invalid++
				continue
			}
			if s.opts.SkipReplayed && e.Replayed() {
				res.Replayed++
				continue
			}
			if s.opts.Pattern != nil {
				ok, err := s.match(e, doc)
				if err != nil {
					// The decoder took data or an extension that
					// encoding/json refuses.
					return s.fail(ctx, r, e.ID, fmt.Errorf("match event %s: %w", e.ID, err)), ri
				}
				if !ok {
					res.Filtered++
					continue
				}
			}
			if stop.Err() != nil {
				return s.fail(ctx, r, e.ID, context.Cause(stop)), ri
			}
			done, err := s.handle(ctx, e)
			if err != nil {
				return s.fail(ctx, r, e.ID, err), ri
			}
			if done {
				res.Duplicates++
			} else {
				res.Handled++
			}
		}
	}
	return nil, 0
}

// handle runs the function on e, asking the idempotency store first when
// there is one; done reports an event finished before.
func (s *Subscriber) handle(ctx context.Context, e *event.Event) (done bool, err error) {
	idem := s.opts.Idempotency
	if idem == nil {
		return false, s.call(ctx, e)
	}
	key := Key(e)
	done, err = idem.Start(ctx, key)
	if err != nil || done {
		return done, err
	}
	if err := s.call(ctx, e); err != nil {
		if rerr := idem.Release(ctx, key); rerr != nil {
			// The mark stays until it expires; the retry waits for it.
			s.log.WarnContext(ctx, "idempotency mark not released", "event_id", e.ID, "error", rerr)
		}
		return false, err
	}
	if err := idem.Complete(ctx, key); err != nil {
		// The event is handled; only a redelivery after the in-progress
		// mark expires would hand it again.
		s.log.WarnContext(ctx, "idempotency mark not completed", "event_id", e.ID, "error", err)
	}
	return false, nil
}

// call runs the function on e. A panic fails the event like an error:
// workflows run on goroutines of their own, where a panic would end the
// process and fail the whole batch, losing the other workflows' progress.
func (s *Subscriber) call(ctx context.Context, e *event.Event) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", ErrPanic, p)
		}
	}()
	return s.fn(ctx, *e)
}

// match tests the pattern against e as a CloudEvent, without its data unless
// the pattern tests data. doc is the workflow's scratch document.
func (s *Subscriber) match(e *event.Event, doc map[string]any) (bool, error) {
	if err := document(doc, e, s.matchData); err != nil {
		return false, err
	}
	return s.opts.Pattern.Match(doc), nil
}

func (s *Subscriber) invalid(ctx context.Context, r *kinesisevent.Record, err error) error {
	if s.opts.OnInvalid == nil {
		return err
	}
	return s.opts.OnInvalid(ctx, *r, err)
}

func (s *Subscriber) fail(ctx context.Context, r *kinesisevent.Record, eventID string, err error) *Failure {
	s.log.WarnContext(ctx, "workflow stopped; Lambda will deliver it again from this record",
		"workflow_id", r.PartitionKey, "sequence_number", r.SequenceNumber, "event_id", eventID, "error", err)
	return &Failure{WorkflowID: r.PartitionKey, SequenceNumber: r.SequenceNumber, EventID: eventID, Err: err}
}
