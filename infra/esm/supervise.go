package esm

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// supervise lists the stream's shards, starts a poller for each shard whose
// parents are done, and lists again whenever a shard finishes and every
// ten poll intervals, until ctx is done.
func (m *Mapping) supervise(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()

	started := map[string]bool{}
	finished := map[string]bool{}
	initial := map[string]bool{} // shards of the first listing start at StartingPosition
	firstListing := true
	done := make(chan string)
	bo := m.serviceBackoff()
	refresh := 10 * m.cfg.PollInterval

	for {
		shards, err := m.listShards(ctx)
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
			wg.Add(1)
			go func(s types.Shard, fromStart bool) {
				defer wg.Done()
				if m.runShard(ctx, aws.ToString(s.ShardId), fromStart) {
					select {
					case done <- aws.ToString(s.ShardId):
					case <-ctx.Done():
					}
				}
			}(s, initial[id])
		}

		timer := time.NewTimer(refresh)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case id := <-done:
			finished[id] = true
			m.log.Info("shard finished", "shard", id)
		case <-timer.C:
		}
		timer.Stop()
	}
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
