package esm

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// supervise follows the stream and its shards until ctx is done: it starts a
// poller for each shard whose parents are done, and looks again whenever a
// shard finishes, a poller lost its stream, and every ten poll intervals.
//
// A stream deleted and created again under the same name (an engine
// restarted, then provisioned) is a new stream: its creation timestamp
// differs. The pollers of the old one stop, what they had read and not
// processed is dropped (those records went with the old stream), and the new
// one is read from StartingPosition, as a new mapping would. The creation
// timestamp is kept beside the checkpoints, so a restarted mapping whose
// checkpoints belong to an older stream starts over the same way. A stream
// that is not found (deleted, or an engine restarted without it) is waited
// for, as are engines that do not answer.
func (m *Mapping) supervise(ctx context.Context) {
	// gen runs the pollers of one stream (one creation timestamp).
	var gen struct {
		ctx  context.Context
		stop context.CancelFunc
		wg   sync.WaitGroup
	}
	gen.stop = func() {}
	defer func() {
		gen.stop()
		gen.wg.Wait()
	}()

	var (
		created           time.Time // of the stream being read; zero before the first answer
		fresh             bool      // the saved checkpoints belong to an older stream
		missing           bool      // the stream was not found at the last look
		started, finished map[string]bool
		initial           map[string]bool // shards of the first listing start at StartingPosition
		firstListing      bool
	)
	done := make(chan string)
	bo := m.serviceBackoff()
	refresh := 10 * m.cfg.PollInterval

	for {
		c, err := m.streamCreated(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if isNotFound(err) {
				if !missing {
					m.log.Warn("stream not found; waiting for it", "err", err)
					m.report(Report{Result: "stream " + m.stream + " not found; waiting for it"})
				}
				missing = true
			} else {
				m.log.Warn("cannot describe the stream; retrying", "err", err)
			}
			if bo.wait(ctx) != nil {
				return
			}
			continue
		}
		if missing {
			m.log.Info("stream found again", "created", c)
			missing = false
		}
		if !c.Equal(created) {
			if !created.IsZero() {
				m.log.Warn("stream created again: dropping what was read from the old one and reading the new one from the starting position",
					"was", created, "created", c, "startingPosition", m.cfg.StartingPosition)
				m.report(Report{Result: fmt.Sprintf("stream %s created again at %s: reading it from %s",
					m.stream, c.UTC().Format(time.RFC3339), m.cfg.StartingPosition)})
				gen.stop()
				gen.wg.Wait()
			}
			var ok bool
			if fresh, ok = m.adoptStream(ctx, c, !created.IsZero()); !ok {
				return
			}
			created = c
			gen.ctx, gen.stop = context.WithCancel(ctx)
			started, finished, initial = map[string]bool{}, map[string]bool{}, map[string]bool{}
			firstListing = true
		}

		shards, err := m.listShards(gen.ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			m.log.Warn("cannot list shards; retrying", "err", err)
			if bo.wait(ctx) != nil {
				return
			}
			continue
		}
		bo.reset()
		listed := make(map[string]bool, len(shards))
		for _, s := range shards {
			listed[aws.ToString(s.ShardId)] = true
			if firstListing {
				initial[aws.ToString(s.ShardId)] = true
			}
		}
		firstListing = false
		for _, s := range shards {
			id := aws.ToString(s.ShardId)
			if started[id] || !parentsDone(s, listed, finished) {
				continue
			}
			started[id] = true
			gen.wg.Add(1)
			go func(ctx context.Context, id string, p poller) {
				defer gen.wg.Done()
				if m.runShard(ctx, id, p) {
					select {
					case done <- id:
					case <-ctx.Done():
					}
				}
			}(gen.ctx, id, poller{initial: initial[id], ignoreCheckpoint: fresh, streamCreated: c})
		}

		timer := time.NewTimer(refresh)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case id := <-done:
			finished[id] = true
			m.log.Info("shard finished", "shard", id)
		case <-m.recheck:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// poller is what a shard's poller is told when it starts.
type poller struct {
	initial          bool // of the stream's first listing: start at StartingPosition
	ignoreCheckpoint bool // the saved checkpoint belongs to an older stream
	streamCreated    time.Time
}

// streamCreated returns the stream's creation timestamp.
func (m *Mapping) streamCreated(ctx context.Context) (time.Time, error) {
	in := &kinesis.DescribeStreamSummaryInput{}
	if m.cfg.StreamName == m.streamARN {
		in.StreamARN = aws.String(m.streamARN)
	} else {
		in.StreamName = aws.String(m.stream)
	}
	out, err := m.kinesis.DescribeStreamSummary(ctx, in)
	if err != nil {
		return time.Time{}, fmt.Errorf("describe stream %s: %w", m.stream, err)
	}
	if out.StreamDescriptionSummary == nil {
		return time.Time{}, fmt.Errorf("describe stream %s: no summary in the answer", m.stream)
	}
	return aws.ToTime(out.StreamDescriptionSummary.StreamCreationTimestamp), nil
}

// sameStream tells whether the stream still is the one created at created:
// false when it is gone, another, or cannot be asked.
func (m *Mapping) sameStream(ctx context.Context, created time.Time) bool {
	c, err := m.streamCreated(ctx)
	return err == nil && c.Equal(created)
}

// nudge asks the supervisor to look at the stream now.
func (m *Mapping) nudge() {
	select {
	case m.recheck <- struct{}{}:
	default:
	}
}

// adoptStream records created as the stream the checkpoints belong to and
// tells whether those saved so far belong to an older stream. again is true
// when the supervisor saw the stream change and said so already. ok is
// false if ctx ended first.
func (m *Mapping) adoptStream(ctx context.Context, created time.Time, again bool) (fresh, ok bool) {
	want := created.UTC().Format(time.RFC3339Nano)
	bo := m.serviceBackoff()
	var saved string
	for {
		var err error
		saved, err = m.cp.Load(ctx, m.streamKey())
		if err == nil || errors.Is(err, ErrNoCheckpoint) {
			break
		}
		m.log.Warn("cannot load checkpoint; retrying", "key", m.streamKey(), "err", err)
		if bo.wait(ctx) != nil {
			return false, false
		}
	}
	fresh = again || (saved != "" && saved != want)
	if fresh && !again {
		m.log.Warn("the checkpoints belong to an older stream of that name: reading this one from the starting position",
			"checkpointsOf", saved, "created", want, "startingPosition", m.cfg.StartingPosition)
		m.report(Report{Result: fmt.Sprintf("stream %s created again at %s since the last checkpoint: reading it from %s",
			m.stream, created.UTC().Format(time.RFC3339), m.cfg.StartingPosition)})
	}
	if saved != want {
		for {
			sctx, cancel := context.WithTimeout(ctx, saveTimeout)
			err := m.cp.Save(sctx, m.streamKey(), want)
			cancel()
			if err == nil {
				break
			}
			m.log.Warn("cannot save checkpoint; retrying", "key", m.streamKey(), "err", err)
			if bo.wait(ctx) != nil {
				return false, false
			}
		}
	}
	return fresh, true
}

// isNotFound tells a ResourceNotFoundException: a stream, shard or sequence
// number Kinesis does not have.
func isNotFound(err error) bool {
	var nf *types.ResourceNotFoundException
	return errors.As(err, &nf)
}

// parentsDone: a shard may start once each parent still in the stream has
// been read to its end; a parent no longer listed has expired.
func parentsDone(s types.Shard, listed, finished map[string]bool) bool {
	for _, p := range []*string{s.ParentShardId, s.AdjacentParentShardId} {
		id := aws.ToString(p)
		if id != "" && listed[id] && !finished[id] {
			return false
		}
	}
	return true
}

func (m *Mapping) listShards(ctx context.Context) ([]types.Shard, error) {
	in := &kinesis.ListShardsInput{}
	if m.cfg.StreamName == m.streamARN {
		in.StreamARN = aws.String(m.streamARN)
	} else {
		in.StreamName = aws.String(m.stream)
	}
	var shards []types.Shard
	for {
		out, err := m.kinesis.ListShards(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list shards of %s: %w", m.stream, err)
		}
		shards = append(shards, out.Shards...)
		if aws.ToString(out.NextToken) == "" {
			return shards, nil
		}
		in = &kinesis.ListShardsInput{NextToken: out.NextToken}
	}
}
