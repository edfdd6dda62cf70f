package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"golang.org/x/sync/errgroup"

	"github.com/flowbus/flowbus/shared/backoff"
	"github.com/flowbus/flowbus/shared/event"
)

// Kinesis limits for one PutRecords call.
const (
	MaxCallRecords = 500
	MaxCallBytes   = 5 << 20 // data plus partition keys
)

// Error codes a Result can carry.
const (
	CodeThroughputExceeded = "ProvisionedThroughputExceededException"
	CodeInternalFailure    = "InternalFailure"
	CodeEarlierFailed      = "EarlierEventFailed" // an earlier event of the workflow was not sent, so this one was held back
	CodeTooLarge           = "EventTooLarge"
	CodeStreamError        = "StreamError"
	CodeCancelled          = "Cancelled"
)

// KinesisAPI is the part of the Kinesis client the publisher uses.
type KinesisAPI interface {
	PutRecords(ctx context.Context, in *kinesis.PutRecordsInput, optFns ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error)
}

// Result is the outcome for one event, in the order events were given.
type Result struct {
	SequenceNumber string // Kinesis sequence number of the record holding the event
	SubSequence    int    // the event's index inside that record
	ShardID        string
	Err            *Error // nil when the event is on the stream
}

// Error says why an event is not on the stream.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Options tunes a Publisher; zero values take the defaults.
type Options struct {
	MaxAttempts    int           // per record, first try included; default 8
	BaseBackoff    time.Duration // default 50ms
	MaxBackoff     time.Duration // default 2s
	MaxRecordBytes int           // record data plus partition key; default event.MaxRecordBytes
	Concurrency    int           // PutRecords calls in flight at once; default 4
}

func (o *Options) setDefaults() {
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 8
	}
	if o.BaseBackoff <= 0 {
		o.BaseBackoff = 50 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 2 * time.Second
	}
	if o.MaxRecordBytes <= 0 || o.MaxRecordBytes > event.MaxRecordBytes {
		o.MaxRecordBytes = event.MaxRecordBytes
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
}

// Publisher puts events on one stream. Build it once per cold start.
type Publisher struct {
	client KinesisAPI
	stream string
	opts   Options
	sleep  func(context.Context, time.Duration) error
}

// NewPublisher returns a publisher for stream, a name or an ARN.
func NewPublisher(client KinesisAPI, stream string, opts Options) *Publisher {
	opts.setDefaults()
	return &Publisher{client: client, stream: stream, opts: opts, sleep: backoff.Sleep}
}

// record is one Kinesis record: consecutive events of one workflow.
type record struct {
	key      string
	data     []byte
	events   []int // indexes into the caller's slice, in order
	attempts int
	lastErr  *Error
}

// workflow is the queue of one workflow's records; only its head is ever in
// flight.
type workflow struct {
	records []*record
	next    int
}

// Encoded is an event already written as record data (event.Append with
// wire set), with its workflow id.
type Encoded struct {
	WorkflowID string
	Data       []byte
}

// Publish puts events on the stream and returns one Result per event in the
// same order; it is PublishEncoded for the events encoded.
func (p *Publisher) Publish(ctx context.Context, events []*event.Event) []Result {
	size := 0
	for _, e := range events {
		size += 512 + len(e.Data)
	}
	arena := make([]byte, 0, size)
	enc := make([]Encoded, len(events))
	for i, e := range events {
		start := len(arena)
		arena = event.Append(arena, e, true)
		enc[i] = Encoded{WorkflowID: e.WorkflowID, Data: arena[start:len(arena):len(arena)]}
	}
	return p.PublishEncoded(ctx, enc)
}

// PublishEncoded puts events on the stream and returns one Result per event
// in the same order. Events of one workflow reach the stream in the order
// given: they are aggregated into records, a workflow never has two records
// in flight, and a record that finally fails holds back the rest of its
// workflow. It never returns an error of its own; every problem is in a
// Result.
func (p *Publisher) PublishEncoded(ctx context.Context, events []Encoded) []Result {
	results := make([]Result, len(events))
	flows := p.aggregate(events, results)

	for round := 0; ; round++ {
		var heads []*record
		for _, wf := range flows {
			if wf.next < len(wf.records) {
				heads = append(heads, wf.records[wf.next])
			}
		}
		if len(heads) == 0 {
			return results
		}
		if round > 0 {
			if err := p.sleep(ctx, backoff.FullJitter(p.opts.BaseBackoff, p.opts.MaxBackoff, round-1)); err != nil {
				p.failRest(flows, results, &Error{Code: CodeCancelled, Message: err.Error()})
				return results
			}
		}
		p.sendRound(ctx, heads, results)
		for _, wf := range flows {
			if wf.next >= len(wf.records) {
				continue
			}
			r := wf.records[wf.next]
			switch {
			case r.lastErr == nil: // sent
				wf.next++
			case r.attempts >= p.opts.MaxAttempts || !retryable(r.lastErr.Code):
				failRecord(r, r.lastErr, results)
				held := &Error{Code: CodeEarlierFailed, Message: "not sent: an earlier event of this workflow failed with " + r.lastErr.Code}
				for _, later := range wf.records[wf.next+1:] {
					failRecord(later, held, results)
				}
				wf.next = len(wf.records)
			}
		}
	}
}

// aggregate groups events by workflow, keeping their order, and packs each
// workflow's events into records that fit the record limit. All record data
// lives in one arena.
func (p *Publisher) aggregate(events []Encoded, results []Result) []*workflow {
	var order []string
	members := make(map[string][]int)
	size := 0
	for i, e := range events {
		size += len(e.Data) + 1
		if _, ok := members[e.WorkflowID]; !ok {
			order = append(order, e.WorkflowID)
		}
		members[e.WorkflowID] = append(members[e.WorkflowID], i)
	}

	type span struct {
		r          *record
		start, end int
	}
	var spans []span
	arena := make([]byte, 0, size+2*len(order))
	flows := make([]*workflow, 0, len(order))
	for _, key := range order {
		wf := &workflow{}
		flows = append(flows, wf)
		limit := p.opts.MaxRecordBytes - len(key)
		var cur *record
		start := 0
		flush := func() {
			if cur == nil {
				return
			}
			if len(cur.events) == 1 { // one event: the object itself, without '['
				spans = append(spans, span{cur, start + 1, len(arena)})
			} else {
				arena = append(arena, ']')
				spans = append(spans, span{cur, start, len(arena)})
			}
			wf.records = append(wf.records, cur)
			cur = nil
		}
		for _, i := range members[key] {
			mark := len(arena)
			if cur != nil {
				arena = append(append(arena, ','), events[i].Data...)
				if len(arena)-start+1 <= limit {
					cur.events = append(cur.events, i)
					continue
				}
				arena = arena[:mark]
				flush()
				mark = len(arena)
			}
			arena = append(append(arena, '['), events[i].Data...)
			if size := len(arena) - mark - 1; size > limit {
				arena = arena[:mark]
				results[i].Err = &Error{Code: CodeTooLarge, Message: fmt.Sprintf("encoded event is %d bytes, more than the %d bytes a Kinesis record leaves with this workflow id", size, limit)}
				continue
			}
			cur = &record{key: key, events: []int{i}}
			start = mark
		}
		flush()
	}
	for _, s := range spans {
		s.r.data = arena[s.start:s.end]
	}
	return flows
}

// sendRound sends the given records, one per workflow, in as few calls as
// the limits allow, several calls at once.
func (p *Publisher) sendRound(ctx context.Context, recs []*record, results []Result) {
	var calls [][]*record
	var call []*record
	size := 0
	for _, r := range recs {
		n := len(r.data) + len(r.key)
		if len(call) == MaxCallRecords || (len(call) > 0 && size+n > MaxCallBytes) {
			calls = append(calls, call)
			call, size = nil, 0
		}
		call = append(call, r)
		size += n
	}
	if len(call) > 0 {
		calls = append(calls, call)
	}

	// A failed call fails only its records (send records why), never the
	// round: the group has no context to cancel and its calls return nil.
	var g errgroup.Group
	g.SetLimit(p.opts.Concurrency)
	for _, c := range calls {
		g.Go(func() error {
			p.send(ctx, c, results)
			return nil
		})
	}
	_ = g.Wait()
}

func (p *Publisher) send(ctx context.Context, recs []*record, results []Result) {
	entries := make([]types.PutRecordsRequestEntry, len(recs))
	for i, r := range recs {
		entries[i] = types.PutRecordsRequestEntry{Data: r.data, PartitionKey: aws.String(r.key)}
		r.attempts++
	}
	in := &kinesis.PutRecordsInput{Records: entries}
	if isARN(p.stream) {
		in.StreamARN = aws.String(p.stream)
	} else {
		in.StreamName = aws.String(p.stream)
	}
	out, err := p.client.PutRecords(ctx, in)
	if err == nil && len(out.Records) != len(recs) {
		err = fmt.Errorf("put records: %d results for %d records", len(out.Records), len(recs))
	}
	if err != nil {
		e := classify(err)
		for _, r := range recs {
			r.lastErr = e
		}
		return
	}
	for i, r := range recs {
		res := out.Records[i]
		if res.ErrorCode != nil {
			r.lastErr = &Error{Code: aws.ToString(res.ErrorCode), Message: aws.ToString(res.ErrorMessage)}
			continue
		}
		r.lastErr = nil
		for sub, idx := range r.events {
			results[idx] = Result{SequenceNumber: aws.ToString(res.SequenceNumber), ShardID: aws.ToString(res.ShardId), SubSequence: sub}
		}
	}
}

func isARN(s string) bool { return len(s) > 4 && s[:4] == "arn:" }

// classify turns a whole-call error into a Result error.
func classify(err error) *Error {
	var tput *types.ProvisionedThroughputExceededException
	var limit *types.LimitExceededException
	var kms *types.KMSThrottlingException
	switch {
	case errors.As(err, &tput), errors.As(err, &limit), errors.As(err, &kms):
		return &Error{Code: CodeThroughputExceeded, Message: "the stream is throttling writes"}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &Error{Code: CodeCancelled, Message: err.Error()}
	}
	var notFound *types.ResourceNotFoundException
	var invalid *types.InvalidArgumentException
	if errors.As(err, &notFound) || errors.As(err, &invalid) {
		return &Error{Code: CodeStreamError, Message: "the stream refused the write"}
	}
	// Network errors and 5xx the SDK already retried: worth another round.
	return &Error{Code: CodeInternalFailure, Message: "the stream could not be reached"}
}

func retryable(code string) bool {
	return code == CodeThroughputExceeded || code == CodeInternalFailure
}

func failRecord(r *record, e *Error, results []Result) {
	for _, idx := range r.events {
		results[idx] = Result{Err: e}
	}
}

func (p *Publisher) failRest(flows []*workflow, results []Result, e *Error) {
	for _, wf := range flows {
		for _, r := range wf.records[wf.next:] {
			failRecord(r, e, results)
		}
		wf.next = len(wf.records)
	}
}
