package deadletter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/flowbus/flowbus/shared/backoff"
	"github.com/flowbus/flowbus/shared/consumer"
	"github.com/flowbus/flowbus/shared/event"
	"github.com/flowbus/flowbus/shared/eventstore"
	"github.com/flowbus/flowbus/shared/kinesisevent"
)

// ErrLost means records given up on are no longer on the stream (trimmed
// after the retention period, or their shard is gone): what was still there
// is parked, the rest cannot be brought back. It never passes by itself, but
// the message is kept (see Result.Lost) so that an operator sees it.
var ErrLost = errors.New("records given up on are no longer on the stream")

// KinesisAPI is what reading records back needs of Kinesis.
type KinesisAPI interface {
	GetShardIterator(ctx context.Context, in *kinesis.GetShardIteratorInput, optFns ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error)
	GetRecords(ctx context.Context, in *kinesis.GetRecordsInput, optFns ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error)
}

// Store parks a workflow's given-up entries (dynamostore.Store does).
type Store interface {
	ParkUndelivered(ctx context.Context, workflowID string, in []eventstore.Incoming, g eventstore.GivenUp) (eventstore.UndeliveredResult, error)
}

// Result counts what one on-failure record came to.
type Result struct {
	Records       int // records read back from the stream
	Events        int // entries they decoded to (replayed events left out)
	Workflows     int
	Parked        int // entries parked now
	Duplicates    int // entries already stored: not parked
	AlreadyParked int // entries parked by an earlier run of the same record
	OrderBroken   int // entries parked behind later events of their workflow
	Replayed      int
	// Lost is how many of the batch's records were not found on the stream
	// (at least 1 when any is missing; with ParallelizationFactor above 1
	// the range also holds records of other lanes, so it is an estimate).
	Lost int
}

// Redriver reads given-up records back and parks them. Build it once per
// cold start.
type Redriver struct {
	kin         KinesisAPI
	store       Store
	log         *slog.Logger
	concurrency int
	maxCalls    int // GetRecords calls for one record, a bound on a runaway read
}

// New returns a Redriver reading kin and parking in store.
func New(kin KinesisAPI, store Store, log *slog.Logger) *Redriver {
	return &Redriver{kin: kin, store: store, log: log, concurrency: 8, maxCalls: 1000}
}

// Handle brings back one on-failure record's records: each workflow's
// entries, in stream order, are parked unless already stored. It is
// idempotent, so a message handled again parks nothing twice. An error
// other than ErrLost may pass: try again later.
func (r *Redriver) Handle(ctx context.Context, rec Record, gaveUpAt time.Time) (Result, error) {
	b := rec.KinesisBatchInfo
	var res Result
	recs, complete, err := r.read(ctx, b)
	if err != nil {
		return res, err
	}
	res.Records = len(recs)
	if !complete {
		res.Lost = max(b.BatchSize-len(recs), 1)
	}
	var order []string
	groups := map[string][]eventstore.Incoming{}
	intern := event.NewInterner()
	for _, kr := range recs {
		if _, ok := groups[kr.PartitionKey]; !ok {
			order = append(order, kr.PartitionKey)
		}
		var replayed int
		groups[kr.PartitionKey], replayed = consumer.Decode(groups[kr.PartitionKey], kr, intern)
		res.Replayed += replayed
	}
	res.Workflows = len(order)
	g := eventstore.GivenUp{Condition: rec.RequestContext.Condition, At: gaveUpAt}

	var mu sync.Mutex
	var errs []error
	sem := make(chan struct{}, r.concurrency)
	var wg sync.WaitGroup
	for _, wf := range order {
		in := groups[wf]
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			got, err := r.store.ParkUndelivered(ctx, wf, in, g)
			mu.Lock()
			defer mu.Unlock()
			res.Events += len(in)
			if err != nil {
				errs = append(errs, fmt.Errorf("park %s: %w", wf, err))
				return
			}
			res.Parked += got.Parked
			res.Duplicates += got.Duplicates
			res.AlreadyParked += got.AlreadyParked
			res.OrderBroken += got.OrderBroken
			if got.Parked > 0 {
				r.log.WarnContext(ctx, "records given up on parked", "workflow_id", wf, "parked", got.Parked,
					"condition", g.Condition, "shard", b.ShardID)
			}
			if got.OrderBroken > 0 {
				r.log.ErrorContext(ctx, "order broken: later events of the workflow were stored before these",
					"workflow_id", wf, "parked", got.Parked, "later_stored", got.LaterStored)
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return res, fmt.Errorf("on-failure record %s..%s: %w", b.StartSequenceNumber, b.EndSequenceNumber, errors.Join(errs...))
	}
	if res.Lost > 0 {
		return res, fmt.Errorf("on-failure record %s..%s of %s: %d of %d records: %w",
			b.StartSequenceNumber, b.EndSequenceNumber, b.ShardID, res.Lost, b.BatchSize, ErrLost)
	}
	return res, nil
}

// read returns the shard's records from start to end, in order, and
// whether they were all there.
func (r *Redriver) read(ctx context.Context, b BatchInfo) ([]kinesisevent.Record, bool, error) {
	it, err := r.kin.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
		StreamARN: aws.String(b.StreamARN), ShardId: aws.String(b.ShardID),
		ShardIteratorType: types.ShardIteratorTypeAtSequenceNumber, StartingSequenceNumber: aws.String(b.StartSequenceNumber),
	})
	if err != nil {
		if gone(err) {
			r.log.ErrorContext(ctx, "records given up on cannot be read back", "shard", b.ShardID, "error", err)
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("read %s from %s: %w", b.ShardID, b.StartSequenceNumber, err)
	}
	iter := it.ShardIterator
	var out []kinesisevent.Record
	last := "" // sequence number of the last record read
	for calls, attempt := 0, 0; iter != nil; calls++ {
		if calls >= r.maxCalls {
			return nil, false, fmt.Errorf("read %s: %d GetRecords calls without reaching %s", b.ShardID, calls, b.EndSequenceNumber)
		}
		got, err := r.kin.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(10000)})
		if err != nil {
			var expired *types.ExpiredIteratorException
			var throttled *types.ProvisionedThroughputExceededException
			switch {
			case errors.As(err, &expired):
				in := &kinesis.GetShardIteratorInput{StreamARN: aws.String(b.StreamARN), ShardId: aws.String(b.ShardID),
					ShardIteratorType: types.ShardIteratorTypeAtSequenceNumber, StartingSequenceNumber: aws.String(b.StartSequenceNumber)}
				if last != "" {
					in.ShardIteratorType, in.StartingSequenceNumber = types.ShardIteratorTypeAfterSequenceNumber, aws.String(last)
				}
				fresh, err := r.kin.GetShardIterator(ctx, in)
				if err != nil {
					return nil, false, fmt.Errorf("read %s: %w", b.ShardID, err)
				}
				iter = fresh.ShardIterator
				continue
			case errors.As(err, &throttled) && attempt < 5:
				attempt++
				if err := backoff.Sleep(ctx, backoff.FullJitter(200*time.Millisecond, 2*time.Second, attempt)); err != nil {
					return nil, false, fmt.Errorf("read %s: %w", b.ShardID, err)
				}
				continue
			}
			return nil, false, fmt.Errorf("read %s: %w", b.ShardID, err)
		}
		attempt = 0
		for _, kr := range got.Records {
			seq := aws.ToString(kr.SequenceNumber)
			if seqLess(b.EndSequenceNumber, seq) {
				return out, complete(out, b), nil
			}
			last = seq
			out = append(out, kinesisevent.Record{
				PartitionKey: aws.ToString(kr.PartitionKey), SequenceNumber: seq, Data: kr.Data,
				ArrivalTime: aws.ToTime(kr.ApproximateArrivalTimestamp).UTC(), ShardID: b.ShardID, EventSourceARN: b.StreamARN,
			})
			if seq == b.EndSequenceNumber {
				return out, complete(out, b), nil
			}
		}
		if len(got.Records) == 0 && aws.ToInt64(got.MillisBehindLatest) == 0 {
			break // at the tip without reaching the end
		}
		iter = got.NextShardIterator // nil at the end of a closed shard
	}
	return out, false, nil
}

// complete reports whether recs, read up to b's end, begin at its start:
// a trimmed start gives an iterator at the first record still there.
func complete(recs []kinesisevent.Record, b BatchInfo) bool {
	return len(recs) > 0 && recs[0].SequenceNumber == b.StartSequenceNumber
}

// gone reports an error saying the shard or the position no longer exists.
func gone(err error) bool {
	var nf *types.ResourceNotFoundException
	var bad *types.InvalidArgumentException
	return errors.As(err, &nf) || errors.As(err, &bad)
}
