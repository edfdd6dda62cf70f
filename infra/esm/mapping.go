package esm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"
)

// KinesisAPI is the part of the Kinesis client a mapping reads the stream with.
type KinesisAPI interface {
	ListShards(ctx context.Context, in *kinesis.ListShardsInput, optFns ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error)
	GetShardIterator(ctx context.Context, in *kinesis.GetShardIteratorInput, optFns ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error)
	GetRecords(ctx context.Context, in *kinesis.GetRecordsInput, optFns ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error)
	// DescribeStreamSummary tells one stream from another of the same name:
	// a stream deleted and created again has a new creation timestamp.
	DescribeStreamSummary(ctx context.Context, in *kinesis.DescribeStreamSummaryInput, optFns ...func(*kinesis.Options)) (*kinesis.DescribeStreamSummaryOutput, error)
}

// Invoker runs the function once; payload is the Lambda event JSON. A
// function error (the function returned an error, or the runtime reported
// one) is an err of type *FunctionError; any other error means the function
// could not be reached, and the mapping retries without counting an attempt.
type Invoker interface {
	Invoke(ctx context.Context, payload []byte) ([]byte, error)
}

// FunctionError is an error the function itself reported, as the runtime's
// errorType and errorMessage.
type FunctionError struct {
	Type    string
	Message string
}

func (e *FunctionError) Error() string {
	if e.Type == "" {
		return e.Message
	}
	return e.Type + ": " + e.Message
}

// Destination receives what the mapping gives up on: the on-failure
// destination (an SQS queue in flowbus). body is the invocation record AWS
// sends an SQS or SNS destination.
type Destination interface {
	Send(ctx context.Context, body []byte) error
}

// Checkpoints stores the last sequence number each shard is done with.
// Load returns an error wrapping ErrNoCheckpoint for a key never saved.
type Checkpoints interface {
	Load(ctx context.Context, key string) (string, error)
	Save(ctx context.Context, key, seq string) error
}

// ErrNoCheckpoint is what Checkpoints.Load returns for a key never saved.
var ErrNoCheckpoint = errors.New("no checkpoint")

// ShardEnd is the checkpoint of a shard read to its end and fully processed.
const ShardEnd = "SHARD_END"

// Conditions of an on-failure record.
const (
	RetryAttemptsExhausted = "RetryAttemptsExhausted"
	RecordAgeExceeded      = "RecordAgeExceeded"
)

// Report describes one invocation, or one batch given up on, for a runtime
// that prints a line for each. A report with no Shard is a notice about the
// stream itself (gone, back, created again), which Result says.
type Report struct {
	Function string
	Shard    string
	Records  int
	Duration time.Duration
	// Result is "ok", "partial (n failed)", "error: <why>", or for records
	// given up on "gave up → destination (<condition>)" (or "gave up →
	// discarded (<condition>)" without a destination).
	Result string
}

// Mapping is one running event source mapping. Build it with New.
type Mapping struct {
	cfg       Config
	stream    string // name
	streamARN string
	filters   *recordFilter
	kinesis   KinesisAPI
	fn        Invoker
	dest      Destination
	cp        Checkpoints
	log       *slog.Logger

	hookMu   sync.Mutex
	onInvoke func(Report)

	recheck chan struct{} // a poller lost its stream: the supervisor looks again

	now func() time.Time // for record age and failure record timestamps
}

// New checks cfg and returns a mapping. dest may be nil (records given up on
// are then only logged); cp nil keeps checkpoints in memory; log nil discards
// logs.
func New(cfg Config, k KinesisAPI, fn Invoker, dest Destination, cp Checkpoints, log *slog.Logger) (*Mapping, error) {
	var errs []error
	if err := cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	if k == nil {
		errs = append(errs, errors.New("a Kinesis client is required"))
	}
	if fn == nil {
		errs = append(errs, errors.New("an Invoker is required"))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("event source mapping %s: %w", cfg.FunctionName, errors.Join(errs...))
	}
	cfg = cfg.withDefaults()
	if cp == nil {
		cp = NewMemoryCheckpoints()
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	filters, err := compileFilters(cfg.FilterCriteria)
	if err != nil {
		return nil, fmt.Errorf("event source mapping %s: %w", cfg.FunctionName, err)
	}
	m := &Mapping{
		cfg: cfg, filters: filters, kinesis: k, fn: fn, dest: dest, cp: cp, now: time.Now,
		recheck: make(chan struct{}, 1),
	}
	m.stream, m.streamARN = cfg.stream()
	m.log = log.With("function", functionShortName(cfg.FunctionName), "stream", m.stream)
	for _, name := range filters.unknownFields() {
		m.log.Warn("filter tests a field Kinesis records do not have; it never matches a value", "field", name)
	}
	return m, nil
}

// OnInvoke sets a hook called once per invocation and once per batch given
// up on. Calls are serialised, so the hook needs no locking of its own, but it
// runs on the mapping's goroutines: keep it fast.
func (m *Mapping) OnInvoke(f func(Report)) {
	m.hookMu.Lock()
	defer m.hookMu.Unlock()
	m.onInvoke = f
}

func (m *Mapping) report(r Report) {
	m.hookMu.Lock()
	defer m.hookMu.Unlock()
	if m.onInvoke != nil {
		r.Function = functionShortName(m.cfg.FunctionName)
		m.onInvoke(r)
	}
}

// Run polls the stream until ctx is done, with one poller per shard; a
// shard's children start once it has been read to its end and processed.
// Errors reaching Kinesis, the function, the checkpoints or the destination
// are logged and retried with backoff, so Run returns nil once ctx is done
// and every in-flight invocation has returned. A disabled mapping only
// waits for ctx.
func (m *Mapping) Run(ctx context.Context) error {
	if !m.cfg.Enabled {
		m.log.Info("event source mapping disabled")
		<-ctx.Done()
		return nil
	}
	m.log.Info("event source mapping started", "batchSize", m.cfg.BatchSize,
		"parallelizationFactor", m.cfg.ParallelizationFactor, "startingPosition", m.cfg.StartingPosition)
	m.supervise(ctx)
	return nil
}

// checkpointKey names a shard's checkpoint.
func (m *Mapping) checkpointKey(shardID string) string {
	return functionShortName(m.cfg.FunctionName) + "/" + m.stream + "/" + shardID
}

// streamKey names the checkpoint that records which stream the shard
// checkpoints belong to: its creation timestamp.
func (m *Mapping) streamKey() string {
	return functionShortName(m.cfg.FunctionName) + "/" + m.stream
}
