package delivery

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// EarlyDeleteAfter is how long a batch runs before the deliverer deletes
// the handled messages of its finished groups itself, rather than leaving
// them to the event source mapping when the whole batch ends.
const EarlyDeleteAfter = time.Second

// DeleteAPI deletes handled messages. The deliverer's queue client uses it
// when it has it (the SQS client does).
type DeleteAPI interface {
	DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
}

// earlyDelete unlocks the groups of a batch that finish while a slower group
// holds the invocation. On a FIFO queue a group yields its next message only
// once the message in flight is deleted, and the event source mapping
// deletes a batch's messages when the invocation returns: one target that
// takes its whole timeout would hold every group of its batch for as long.
// So once the batch has run EarlyDeleteAfter, each group that is done while
// others still run has its handled messages deleted at once. The mapping
// deletes them again when the batch ends, which succeeds: SQS answers a
// delete of a deleted message with success. A failed early delete only
// leaves the message to the mapping, as before.
type earlyDelete struct {
	d       *Deliverer
	del     DeleteAPI
	ctx     context.Context
	mu      sync.Mutex
	late    bool       // the batch has run EarlyDeleteAfter
	running int        // groups not done
	pending []*Message // handled, of groups done before late
	timer   *time.Timer
	fired   chan struct{}
}

// newEarlyDelete returns nil when the batch has a single group or the
// queue client cannot delete.
func (d *Deliverer) newEarlyDelete(ctx context.Context, groups int) *earlyDelete {
	del, ok := d.queue.(DeleteAPI)
	if !ok || groups < 2 {
		return nil
	}
	e := &earlyDelete{d: d, del: del, ctx: ctx, running: groups, fired: make(chan struct{})}
	e.timer = time.AfterFunc(d.earlyAfter(), func() {
		defer close(e.fired)
		e.mu.Lock()
		e.late = true
		p := e.pending
		e.pending = nil
		if e.running == 0 {
			p = nil
		}
		e.mu.Unlock()
		e.delete(p)
	})
	return e
}

func (d *Deliverer) earlyAfter() time.Duration {
	if d.earlyDeleteAfter > 0 {
		return d.earlyDeleteAfter
	}
	return EarlyDeleteAfter
}

// done records that a group finished, handled its messages listed.
func (e *earlyDelete) done(handled []*Message) {
	if e == nil {
		return
	}
	e.mu.Lock()
	e.running--
	switch {
	case e.running == 0: // the last group: the mapping deletes the batch now
		e.pending = nil
		e.mu.Unlock()
	case !e.late:
		e.pending = append(e.pending, handled...)
		e.mu.Unlock()
	default:
		e.mu.Unlock()
		e.delete(handled)
	}
}

// stop ends the batch: nothing more is deleted early.
func (e *earlyDelete) stop() {
	if e == nil {
		return
	}
	if !e.timer.Stop() {
		<-e.fired
	}
}

// delete deletes msgs, ten at a time.
func (e *earlyDelete) delete(msgs []*Message) {
	for i := 0; i < len(msgs); i += 10 {
		chunk := msgs[i:min(i+10, len(msgs))]
		entries := make([]types.DeleteMessageBatchRequestEntry, len(chunk))
		for j, m := range chunk {
			entries[j] = types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(j)), ReceiptHandle: aws.String(m.ReceiptHandle)}
		}
		out, err := e.del.DeleteMessageBatch(e.ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(e.d.cfg.QueueURL), Entries: entries})
		if err != nil {
			e.d.log.Warn("cannot delete handled messages early; their groups wait for the batch", "messages", len(chunk), "err", err)
			continue
		}
		for _, f := range out.Failed {
			e.d.log.Warn("cannot delete a handled message early; its group waits for the batch", "id", aws.ToString(f.Id), "code", aws.ToString(f.Code))
		}
	}
}
