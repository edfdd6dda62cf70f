package esm

import (
	"context"
	"errors"
	"hash/fnv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	pause "github.com/flowbus/flowbus/shared/backoff"
)

// Kinesis limits the reader works within.
const (
	maxGetRecords = 10000
	// iteratorRefresh renews a shard iterator before Kinesis's five-minute
	// expiry when the reader has been paused that long.
	iteratorRefresh = 4*time.Minute + 30*time.Second
	saveTimeout     = 10 * time.Second
)

// record is one Kinesis record read from a shard.
type record struct {
	seq      string
	key      string
	arrival  time.Time
	event    []byte    // this record in the Lambda event, encoded
	queuedAt time.Time // when it reached its lane
	done     bool      // guarded by shard.mu
}

// shard is the state of one shard's poller: the records read and not yet
// checkpointed, in shard order, and the lanes batches run on.
type shard struct {
	m       *Mapping
	id      string
	key     string    // checkpoint key
	created time.Time // the stream's creation timestamp

	mu      sync.Mutex
	pending []*record // read, not checkpointed, in shard order
	bytes   int       // encoded size of pending
	ended   bool      // the reader reached the end of a closed shard
	unsaved string    // a checkpoint not yet saved
	saved   string

	saveMu   sync.Mutex
	progress chan struct{} // a record completed: room may have freed up
	lanes    []*lane

	// The highest sequence number read, and its record's arrival: a record
	// that arrived later with a lower number means the engine handed out
	// numbers again (see backwards). Guarded by mu.
	highSeq     string
	highArrival time.Time
	backwards   int // such records seen since the numbers last went past highSeq
}

// lane runs one batch at a time; with ParallelizationFactor N a shard has N
// lanes and a partition key always maps to the same one, so per-key order
// holds while lanes run side by side.
type lane struct {
	sh    *shard
	mu    sync.Mutex
	queue []*record
	wake  chan struct{}
}

// runShard polls one shard until ctx is done or the shard is read to its end
// and every record is processed, which it reports by returning true.
func (m *Mapping) runShard(ctx context.Context, shardID string, p poller) bool {
	sh := &shard{m: m, id: shardID, key: m.checkpointKey(shardID), created: p.streamCreated, progress: make(chan struct{}, 1)}
	log := m.log.With("shard", shardID)

	seq, ok := "", true
	if !p.ignoreCheckpoint {
		seq, ok = sh.load(ctx)
	}
	if !ok {
		return false
	}
	if seq == ShardEnd {
		return true
	}
	sh.saved = seq

	var wg sync.WaitGroup
	sh.lanes = make([]*lane, m.cfg.ParallelizationFactor)
	for i := range sh.lanes {
		l := &lane{sh: sh, wake: make(chan struct{}, 1)}
		sh.lanes[i] = l
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.run(ctx)
		}()
	}

	ended := sh.read(ctx, seq, p.initial)
	sh.mu.Lock()
	sh.ended = true
	sh.mu.Unlock()
	for _, l := range sh.lanes {
		l.signal()
	}
	wg.Wait()
	if !ended || ctx.Err() != nil {
		sh.flush(ctx)
		return false
	}
	sh.mu.Lock()
	left := len(sh.pending)
	sh.mu.Unlock()
	if left > 0 {
		return false
	}
	sh.flush(ctx)
	if !sh.saveWithRetry(ctx, ShardEnd) {
		return false
	}
	log.Info("shard read to its end")
	return true
}

// load reads the shard's checkpoint, retrying storage errors; "" means none.
func (sh *shard) load(ctx context.Context) (string, bool) {
	bo := sh.m.serviceBackoff()
	for {
		seq, err := sh.m.cp.Load(ctx, sh.key)
		if err == nil || errors.Is(err, ErrNoCheckpoint) {
			return seq, true
		}
		sh.m.log.Warn("cannot load checkpoint; retrying", "shard", sh.id, "err", err)
		if bo.wait(ctx) != nil {
			return "", false
		}
	}
}

// position is where a shard iterator starts.
type position struct {
	typ types.ShardIteratorType
	seq string
	at  time.Time
}

func (sh *shard) startPosition(checkpoint string, initial bool) position {
	cfg := sh.m.cfg
	switch {
	case checkpoint != "":
		return position{typ: types.ShardIteratorTypeAfterSequenceNumber, seq: checkpoint}
	case !initial:
		// A shard born after the mapping started (a child of a split or
		// merge) is read from its start, or its first records would be lost.
		return position{typ: types.ShardIteratorTypeTrimHorizon}
	case cfg.StartingPosition == Latest:
		return position{typ: types.ShardIteratorTypeLatest}
	case cfg.StartingPosition == AtTimestamp:
		return position{typ: types.ShardIteratorTypeAtTimestamp, at: cfg.StartingPositionTimestamp}
	default:
		return position{typ: types.ShardIteratorTypeTrimHorizon}
	}
}

func (sh *shard) iterator(ctx context.Context, pos position) (*string, error) {
	m := sh.m
	in := &kinesis.GetShardIteratorInput{ShardId: aws.String(sh.id), ShardIteratorType: pos.typ}
	if m.cfg.StreamName == m.streamARN {
		in.StreamARN = aws.String(m.streamARN)
	} else {
		in.StreamName = aws.String(m.stream)
	}
	if pos.seq != "" {
		in.StartingSequenceNumber = aws.String(pos.seq)
	}
	if pos.typ == types.ShardIteratorTypeAtTimestamp {
		in.Timestamp = aws.Time(pos.at)
	}
	out, err := m.kinesis.GetShardIterator(ctx, in)
	if err != nil {
		return nil, err
	}
	return out.ShardIterator, nil
}

// positionGone tells whether err, from getting an iterator after pos.seq,
// means the shard no longer has that record while the stream is still the
// one this poller reads. Otherwise (the stream is gone or another, or the
// error is another) the supervisor is asked to look at the stream and the
// caller retries.
func (sh *shard) positionGone(ctx context.Context, pos position, err error) bool {
	var invalid *types.InvalidArgumentException
	if pos.typ != types.ShardIteratorTypeAfterSequenceNumber || !(errors.As(err, &invalid) || isNotFound(err)) {
		return false
	}
	if sh.m.sameStream(ctx, sh.created) {
		return true
	}
	sh.m.nudge()
	return false
}

// read polls the shard and hands records to the lanes until ctx is done
// (false) or a closed shard has no more records (true).
func (sh *shard) read(ctx context.Context, checkpoint string, initial bool) bool {
	m := sh.m
	log := m.log.With("shard", sh.id)
	bo := m.serviceBackoff()
	pos := sh.startPosition(checkpoint, initial)
	var iter *string
	var iterAt time.Time
	for {
		if ctx.Err() != nil {
			return false
		}
		sh.flush(ctx)
		if iter == nil || time.Since(iterAt) > iteratorRefresh {
			it, err := sh.iterator(ctx, pos)
			if err != nil {
				if ctx.Err() != nil {
					return false
				}
				if sh.positionGone(ctx, pos, err) {
					// Kinesis answers InvalidArgumentException for a sequence
					// number trimmed away, kinesis-mock ResourceNotFoundException
					// for one it does not have (it lost records in a hard kill).
					// Records read again are taken twice, which is what a
					// retry does anyway: the consumer is idempotent.
					if pos.seq == checkpoint {
						log.Warn("the shard no longer has the checkpoint's record (trimmed, or lost by the engine); reading from the trim horizon", "seq", pos.seq, "err", err)
					} else {
						log.Warn("the shard no longer has the last record read (lost by the engine?); reading it again from the trim horizon", "seq", pos.seq, "err", err)
					}
					pos = position{typ: types.ShardIteratorTypeTrimHorizon}
					continue
				}
				log.Warn("cannot get a shard iterator; retrying", "err", err)
				if bo.wait(ctx) != nil {
					return false
				}
				continue
			}
			if it == nil { // a closed shard with nothing after the position
				return true
			}
			iter, iterAt = it, time.Now()
		}

		room := sh.waitRoom(ctx)
		if room == 0 {
			return false
		}
		if time.Since(iterAt) > iteratorRefresh {
			iter = nil
			continue
		}
		out, err := m.kinesis.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(int32(min(room, maxGetRecords)))})
		if err != nil {
			if ctx.Err() != nil {
				return false
			}
			var expired *types.ExpiredIteratorException
			if errors.As(err, &expired) {
				log.Info("shard iterator expired; getting a new one", "from", pos.seq)
				iter = nil
				continue
			}
			var throttled *types.ProvisionedThroughputExceededException
			if !errors.As(err, &throttled) {
				// The iterator may be worthless now (an engine restarted, the
				// stream deleted): get a new one from where reading stopped.
				iter = nil
			}
			if isNotFound(err) {
				m.nudge()
			}
			log.Warn("cannot get records; retrying", "err", err)
			if bo.wait(ctx) != nil {
				return false
			}
			continue
		}
		bo.reset()
		iter, iterAt = out.NextShardIterator, time.Now()
		if n := len(out.Records); n > 0 {
			sh.add(ctx, out.Records)
			pos = position{typ: types.ShardIteratorTypeAfterSequenceNumber, seq: aws.ToString(out.Records[n-1].SequenceNumber)}
		}
		if iter == nil {
			return true
		}
		if len(out.Records) == 0 {
			wait := m.cfg.PollInterval
			if aws.ToInt64(out.MillisBehindLatest) > 0 {
				wait /= 10 // behind, but this stretch held nothing: keep reading
			}
			if pause.Sleep(ctx, wait) != nil {
				return false
			}
		}
	}
}

// maxPending bounds what a shard reads ahead of its checkpoint: enough for
// every lane to fill a batch and one more, so a lane stuck retrying holds the
// reader back instead of growing without end.
func (sh *shard) maxPending() (records, bytes int) {
	n := sh.m.cfg.ParallelizationFactor + 1
	return n * sh.m.cfg.BatchSize, n * MaxPayloadBytes
}

// waitRoom blocks until the shard may read more and returns how many
// records; 0 means ctx is done.
func (sh *shard) waitRoom(ctx context.Context) int {
	maxRecs, maxBytes := sh.maxPending()
	for {
		sh.mu.Lock()
		room := maxRecs - len(sh.pending)
		if sh.bytes >= maxBytes {
			room = 0
		}
		sh.mu.Unlock()
		if room > 0 {
			return room
		}
		select {
		case <-ctx.Done():
			return 0
		case <-sh.progress:
		}
	}
}

// add takes records just read: filtered-out records are done at once, the
// others go to their partition key's lane.
func (sh *shard) add(ctx context.Context, recs []types.Record) {
	m := sh.m
	now := time.Now()
	byLane := make([][]*record, len(sh.lanes))
	var first *record // the first record read whose sequence number went backwards
	passed := 0       // records that went backwards, once the numbers are past the highest again
	sh.mu.Lock()
	for i := range recs {
		r := &recs[i]
		rec := &record{
			seq:      aws.ToString(r.SequenceNumber),
			key:      aws.ToString(r.PartitionKey),
			arrival:  aws.ToTime(r.ApproximateArrivalTimestamp),
			queuedAt: now,
		}
		if !m.filters.match(r) {
			rec.done = true
		} else {
			rec.event = m.encodeRecord(sh.id, r)
			l := laneOf(rec.key, len(sh.lanes))
			byLane[l] = append(byLane[l], rec)
		}
		sh.pending = append(sh.pending, rec)
		sh.bytes += len(rec.event)
		back, after := sh.checkBackwards(rec)
		if back && sh.backwards == 1 {
			first = rec
		}
		if after > 0 {
			passed = after
		}
	}
	high := sh.highSeq
	sh.mu.Unlock()
	if first != nil {
		m.log.Error("SEQUENCE NUMBERS WENT BACKWARDS: a record that arrived after the highest one read has a lower sequence number. "+
			"The Kinesis engine handed out numbers again (kinesis-mock does after a hard kill loses records it had acknowledged, "+
			"and this mapping had read some of them). The consumer recognises re-deliveries by stream position, so it may take "+
			"such records for events it already stored and skip them: events may be missing. Restart with clean data "+
			"(engines.sh stop; engines.sh wipe-data) to be sure",
			"shard", sh.id, "seq", first.seq, "key", first.key, "highest_seq_read", high)
	}
	if passed > 0 {
		m.log.Error("sequence numbers are past the highest read before again; records read with numbers handed out again (see SEQUENCE NUMBERS WENT BACKWARDS)",
			"shard", sh.id, "records", passed, "seq", high)
	}
	for i, batch := range byLane {
		if len(batch) > 0 {
			sh.lanes[i].push(batch)
		}
	}
	sh.complete(ctx, nil)
}

// checkBackwards notes rec's sequence number and tells whether it went
// backwards: lower than the highest read, on a record that arrived after that
// one. Kinesis never does that; records read again (from the trim horizon
// after a lost position) arrived before, so they do not count. Called with
// mu held. passed, when not 0, says the numbers went past the highest again
// after that many records went backwards.
func (sh *shard) checkBackwards(rec *record) (back bool, passed int) {
	if sh.highSeq == "" || seqLess(sh.highSeq, rec.seq) {
		sh.highSeq, sh.highArrival = rec.seq, rec.arrival
		passed, sh.backwards = sh.backwards, 0
		return false, passed
	}
	if rec.seq != sh.highSeq && rec.arrival.After(sh.highArrival) {
		sh.backwards++
		return true, 0
	}
	return false, 0
}

// seqLess compares two sequence numbers of a shard: decimal strings.
func seqLess(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

func laneOf(key string, lanes int) int {
	if lanes == 1 {
		return 0
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	return int(h.Sum32() % uint32(lanes))
}

// complete marks records done, moves the checkpoint past every record that
// is done along with everything before it in the shard, and saves it.
func (sh *shard) complete(ctx context.Context, recs []*record) {
	sh.mu.Lock()
	for _, r := range recs {
		r.done = true
	}
	i := 0
	for i < len(sh.pending) && sh.pending[i].done {
		sh.bytes -= len(sh.pending[i].event)
		sh.unsaved = sh.pending[i].seq
		sh.pending[i] = nil
		i++
	}
	sh.pending = sh.pending[i:]
	sh.mu.Unlock()
	if i > 0 {
		sh.flush(ctx)
		select {
		case sh.progress <- struct{}{}:
		default:
		}
	}
}

// flush saves the latest checkpoint if it has moved. Saving does not stop
// with ctx, so what completed before a shutdown is kept.
func (sh *shard) flush(ctx context.Context) {
	sh.saveMu.Lock()
	defer sh.saveMu.Unlock()
	sh.mu.Lock()
	seq := sh.unsaved
	sh.mu.Unlock()
	if seq == "" || seq == sh.saved {
		return
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), saveTimeout)
	defer cancel()
	if err := sh.m.cp.Save(sctx, sh.key, seq); err != nil {
		sh.m.log.Warn("cannot save checkpoint; will retry", "shard", sh.id, "seq", seq, "err", err)
		return
	}
	sh.saved = seq
}

func (sh *shard) saveWithRetry(ctx context.Context, seq string) bool {
	bo := sh.m.serviceBackoff()
	for {
		sctx, cancel := context.WithTimeout(ctx, saveTimeout)
		err := sh.m.cp.Save(sctx, sh.key, seq)
		cancel()
		if err == nil {
			return true
		}
		sh.m.log.Warn("cannot save checkpoint; retrying", "shard", sh.id, "seq", seq, "err", err)
		if bo.wait(ctx) != nil {
			return false
		}
	}
}

func (l *lane) push(recs []*record) {
	l.mu.Lock()
	l.queue = append(l.queue, recs...)
	l.mu.Unlock()
	l.signal()
}

func (l *lane) signal() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

func (l *lane) run(ctx context.Context) {
	for {
		batch := l.next(ctx)
		if batch == nil {
			return
		}
		l.sh.m.process(ctx, l.sh, batch)
	}
}

// next waits for a batch: BatchSize records, or as many as fit in the
// payload limit, or what has arrived once the batching window since the
// first waiting record has passed (at once when the shard has ended). nil
// means ctx is done, or the shard ended and the lane is empty.
func (l *lane) next(ctx context.Context) []*record {
	cfg := l.sh.m.cfg
	for {
		l.mu.Lock()
		n, full := batchLen(l.queue, cfg.BatchSize)
		l.sh.mu.Lock()
		ended := l.sh.ended
		l.sh.mu.Unlock()
		var wait time.Duration
		if n > 0 {
			wait = time.Until(l.queue[0].queuedAt.Add(cfg.MaximumBatchingWindow))
			if full || ended || wait <= 0 {
				batch := make([]*record, n)
				copy(batch, l.queue)
				clear(l.queue[:n])
				l.queue = l.queue[n:]
				l.mu.Unlock()
				return batch
			}
		}
		l.mu.Unlock()
		if n == 0 && ended {
			return nil
		}
		var timer *time.Timer
		var timeout <-chan time.Time
		if n > 0 {
			timer = time.NewTimer(wait)
			timeout = timer.C
		}
		select {
		case <-ctx.Done():
		case <-l.wake:
		case <-timeout:
		}
		if timer != nil {
			timer.Stop()
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// batchLen returns how many records from the front of queue make a batch,
// and whether that batch is full (by count or by payload size).
func batchLen(queue []*record, batchSize int) (int, bool) {
	size := len(payloadPrefix) + len(payloadSuffix)
	n := 0
	for n < len(queue) && n < batchSize {
		add := len(queue[n].event)
		if n > 0 {
			add++ // the comma
		}
		if n > 0 && size+add > MaxPayloadBytes {
			return n, true
		}
		size += add
		n++
	}
	return n, n == batchSize || (n < len(queue))
}
