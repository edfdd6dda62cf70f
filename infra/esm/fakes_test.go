package esm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// fakeKinesis is an in-memory stream behind KinesisAPI: shards with parents,
// records with increasing sequence numbers, iterators, and injected errors.
type fakeKinesis struct {
	mu        sync.Mutex
	shards    []*fakeShard
	iters     map[string]fakeIter
	nextIter  int
	nextSeq   int
	expire    int // next GetRecords calls failing with ExpiredIteratorException
	throttle  int // next GetRecords calls failing with ProvisionedThroughputExceededException
	getCalls  int
	served    int // records GetRecords returned
	iterCalls []types.ShardIteratorType
	created   time.Time // the stream's creation timestamp
	gone      bool      // the stream is deleted
	down      bool      // every call fails as if the engine were not running
}

type fakeShard struct {
	id, parent, adjacent string
	recs                 []types.Record
	closed               bool
}

type fakeIter struct {
	shard *fakeShard
	pos   int
}

func newFakeKinesis(shardIDs ...string) *fakeKinesis {
	k := &fakeKinesis{iters: map[string]fakeIter{}, created: time.Now().Add(-time.Hour).Truncate(time.Millisecond)}
	for _, id := range shardIDs {
		k.shards = append(k.shards, &fakeShard{id: id})
	}
	return k
}

// deleteStream deletes the stream: every call answers ResourceNotFound.
func (k *fakeKinesis) deleteStream() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.gone = true
	k.shards = nil
	k.iters = map[string]fakeIter{}
}

// createStream creates the stream again with fresh shards of these ids;
// sequence numbers go on increasing, as Kinesis's do.
func (k *fakeKinesis) createStream(shardIDs ...string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.gone = false
	k.created = time.Now().Truncate(time.Millisecond)
	for _, id := range shardIDs {
		k.shards = append(k.shards, &fakeShard{id: id})
	}
}

var errEngineDown = errors.New("dial tcp 127.0.0.1:4567: connect: connection refused")

// setDown stops or restarts the engine; the stream and its records stay (an
// engine that persists them).
func (k *fakeKinesis) setDown(down bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.down = down
}

var errStreamGone = &types.ResourceNotFoundException{Message: aws.String("Stream not found")}

func (k *fakeKinesis) DescribeStreamSummary(context.Context, *kinesis.DescribeStreamSummaryInput, ...func(*kinesis.Options)) (*kinesis.DescribeStreamSummaryOutput, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.down {
		return nil, errEngineDown
	}
	if k.gone {
		return nil, errStreamGone
	}
	return &kinesis.DescribeStreamSummaryOutput{StreamDescriptionSummary: &types.StreamDescriptionSummary{
		StreamCreationTimestamp: aws.Time(k.created),
	}}, nil
}

func (k *fakeKinesis) shard(id string) *fakeShard {
	for _, s := range k.shards {
		if s.id == id {
			return s
		}
	}
	return nil
}

// addShard adds a child shard.
func (k *fakeKinesis) addShard(id, parent, adjacent string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.shards = append(k.shards, &fakeShard{id: id, parent: parent, adjacent: adjacent})
}

func (k *fakeKinesis) closeShard(id string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.shard(id).closed = true
}

// put appends a record arriving now and returns its sequence number.
func (k *fakeKinesis) put(shardID, key, data string) string {
	return k.putAt(shardID, key, data, time.Now())
}

func (k *fakeKinesis) putAt(shardID, key, data string, arrival time.Time) string {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.nextSeq++
	seq := fmt.Sprintf("49%054d", k.nextSeq)
	s := k.shard(shardID)
	s.recs = append(s.recs, types.Record{
		SequenceNumber: aws.String(seq), PartitionKey: aws.String(key), Data: []byte(data),
		ApproximateArrivalTimestamp: aws.Time(arrival.Truncate(time.Millisecond)),
	})
	return seq
}

func (k *fakeKinesis) ListShards(_ context.Context, in *kinesis.ListShardsInput, _ ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.down {
		return nil, errEngineDown
	}
	if k.gone {
		return nil, errStreamGone
	}
	out := &kinesis.ListShardsOutput{}
	for _, s := range k.shards {
		sh := types.Shard{ShardId: aws.String(s.id)}
		if s.parent != "" {
			sh.ParentShardId = aws.String(s.parent)
		}
		if s.adjacent != "" {
			sh.AdjacentParentShardId = aws.String(s.adjacent)
		}
		out.Shards = append(out.Shards, sh)
	}
	return out, nil
}

func (k *fakeKinesis) GetShardIterator(_ context.Context, in *kinesis.GetShardIteratorInput, _ ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.iterCalls = append(k.iterCalls, in.ShardIteratorType)
	if k.down {
		return nil, errEngineDown
	}
	if k.gone {
		return nil, errStreamGone
	}
	s := k.shard(aws.ToString(in.ShardId))
	if s == nil {
		return nil, &types.ResourceNotFoundException{Message: aws.String("no shard")}
	}
	pos := 0
	switch in.ShardIteratorType {
	case types.ShardIteratorTypeTrimHorizon:
	case types.ShardIteratorTypeLatest:
		pos = len(s.recs)
	case types.ShardIteratorTypeAtTimestamp:
		pos = len(s.recs)
		for i, r := range s.recs {
			if !r.ApproximateArrivalTimestamp.Before(aws.ToTime(in.Timestamp)) {
				pos = i
				break
			}
		}
	case types.ShardIteratorTypeAfterSequenceNumber, types.ShardIteratorTypeAtSequenceNumber:
		i := slices.IndexFunc(s.recs, func(r types.Record) bool {
			return aws.ToString(r.SequenceNumber) == aws.ToString(in.StartingSequenceNumber)
		})
		if i < 0 {
			// kinesis-mock's answer; Kinesis answers InvalidArgumentException
			// for a trimmed one.
			return nil, &types.ResourceNotFoundException{Message: aws.String("Unable to find record with provided SequenceNumber")}
		}
		pos = i
		if in.ShardIteratorType == types.ShardIteratorTypeAfterSequenceNumber {
			pos++
		}
	}
	return &kinesis.GetShardIteratorOutput{ShardIterator: aws.String(k.newIter(s, pos))}, nil
}

func (k *fakeKinesis) newIter(s *fakeShard, pos int) string {
	k.nextIter++
	id := "it-" + strconv.Itoa(k.nextIter)
	k.iters[id] = fakeIter{shard: s, pos: pos}
	return id
}

func (k *fakeKinesis) GetRecords(_ context.Context, in *kinesis.GetRecordsInput, _ ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.getCalls++
	if k.down {
		return nil, errEngineDown
	}
	if k.gone {
		return nil, errStreamGone
	}
	it, ok := k.iters[aws.ToString(in.ShardIterator)]
	if !ok {
		// An iterator of a deleted stream, as kinesis-mock answers it.
		return nil, &types.ResourceNotFoundException{Message: aws.String("Record for provided SequenceNumber not found")}
	}
	if k.expire > 0 {
		k.expire--
		return nil, &types.ExpiredIteratorException{Message: aws.String("Iterator expired")}
	}
	if k.throttle > 0 {
		k.throttle--
		return nil, &types.ProvisionedThroughputExceededException{Message: aws.String("slow down")}
	}
	delete(k.iters, aws.ToString(in.ShardIterator))
	end := min(len(it.shard.recs), it.pos+int(aws.ToInt32(in.Limit)))
	out := &kinesis.GetRecordsOutput{Records: slices.Clone(it.shard.recs[it.pos:end]), MillisBehindLatest: aws.Int64(0)}
	k.served += end - it.pos
	if end < len(it.shard.recs) {
		out.MillisBehindLatest = aws.Int64(1000)
	}
	if !(it.shard.closed && end == len(it.shard.recs)) {
		out.NextShardIterator = aws.String(k.newIter(it.shard, end))
	}
	return out, nil
}

// call is one invocation the fake function saw.
type call struct {
	records []events.KinesisEventRecord
	payload []byte
	at      time.Time
}

func (c call) seqs() []string {
	out := make([]string, len(c.records))
	for i, r := range c.records {
		out[i] = r.Kinesis.SequenceNumber
	}
	return out
}

// fakeFunction records invocations and answers with handle (nil: success).
type fakeFunction struct {
	mu     sync.Mutex
	calls  []call
	handle func(ctx context.Context, c call) ([]byte, error)
}

func (f *fakeFunction) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	var ev events.KinesisEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return nil, fmt.Errorf("fake function: bad event: %w", err)
	}
	c := call{records: ev.Records, payload: payload, at: time.Now()}
	f.mu.Lock()
	f.calls = append(f.calls, c)
	handle := f.handle
	f.mu.Unlock()
	if handle == nil {
		return []byte("null"), nil
	}
	return handle(ctx, c)
}

func (f *fakeFunction) seen() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// sizes returns the batch size of each call.
func (f *fakeFunction) sizes() []int {
	var out []int
	for _, c := range f.seen() {
		out = append(out, len(c.records))
	}
	return out
}

// delivered returns every record data seen, in call order.
func (f *fakeFunction) delivered() []string {
	var out []string
	for _, c := range f.seen() {
		for _, r := range c.records {
			out = append(out, string(r.Kinesis.Data))
		}
	}
	return out
}

type fakeDestination struct {
	mu     sync.Mutex
	bodies [][]byte
}

func (d *fakeDestination) Send(_ context.Context, body []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.bodies = append(d.bodies, body)
	return nil
}

func (d *fakeDestination) records(t *testing.T) []failureRecord {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []failureRecord
	for _, b := range d.bodies {
		var fr failureRecord
		if err := json.Unmarshal(b, &fr); err != nil {
			t.Fatalf("destination got %s: %v", b, err)
		}
		out = append(out, fr)
	}
	return out
}

// testConfig is a fast mapping reading from the start of the stream.
func testConfig() Config {
	return Config{
		FunctionName: "consume", StreamName: "events", StartingPosition: TrimHorizon,
		Enabled: true, MaximumRetryAttempts: -1, PollInterval: 5 * time.Millisecond,
	}
}

// start runs m until the test ends or stop is called.
func start(t *testing.T, m *Mapping) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run() = %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Error("Run did not return within 10s of cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// eventually waits until cond holds, failing the test after timeout.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func newMapping(t *testing.T, cfg Config, k KinesisAPI, fn Invoker, dest Destination, cp Checkpoints) *Mapping {
	t.Helper()
	if dest == nil {
		dest = &fakeDestination{}
	}
	m, err := New(cfg, k, fn, dest, cp, nil)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func checkpoint(t *testing.T, cp Checkpoints, m *Mapping, shardID string) string {
	t.Helper()
	seq, _ := cp.Load(context.Background(), m.checkpointKey(shardID))
	return seq
}
