package delivery

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// FullBatch is the most messages the delivery queue's event source mapping
// hands over at once (SQS FIFO's limit, and template.yaml's BatchSize): a
// batch this size says the queue has a backlog.
const FullBatch = 10

// BufferFor is how long a FiguresBuffer may hold figures back.
const BufferFor = time.Second

// flushTimeout bounds a write the buffer makes on its own (its timer, the
// runtime's SIGTERM), outside any invocation's context.
const flushTimeout = 5 * time.Second

// FiguresWriter writes figures to the table (Recorder does).
type FiguresWriter interface {
	Record(ctx context.Context, f Figures, now time.Time) error
}

// FiguresBuffer writes a deliver instance's figures at most once per
// BufferFor while its batches come full, instead of once per batch. Under a
// backlog every batch is full and the next one follows at once, so the
// figures table takes one write a second per instance instead of one per ten
// deliveries; on the local runtime the single-threaded DynamoDB engine was
// the bottleneck of delivery, and its per-batch figure writes a tenth of its
// requests (docs/benchmarks.md). A batch that is not full (the queue is
// drained, or nearly), or one that retried, dead-lettered or stopped an
// event, is written at once with whatever was held. What is held is written
// by a timer after BufferFor, by the next batch, or by Flush (the runtime's
// SIGTERM): on AWS a timer cannot run while Lambda freezes an idle instance,
// so figures held when a backlog ends on a full batch appear with that
// instance's next batch or its shutdown, and are lost if it is killed
// without one (docs/api.md says so). A failed write loses figures, never
// events, as before.
type FiguresBuffer struct {
	w     FiguresWriter
	every time.Duration
	log   *slog.Logger

	mu      sync.Mutex
	pending Figures
	written time.Time // when the last write began
	timer   *time.Timer
}

// NewFiguresBuffer returns a buffer writing through w, holding figures back
// at most every (BufferFor when 0).
func NewFiguresBuffer(w FiguresWriter, every time.Duration, log *slog.Logger) *FiguresBuffer {
	if every <= 0 {
		every = BufferFor
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &FiguresBuffer{w: w, every: every, log: log}
}

// Add takes a batch's figures: full says the batch had FullBatch messages.
// It writes them, with what it held, unless it may hold them back; the
// error is the write's.
func (b *FiguresBuffer) Add(ctx context.Context, f Figures, full bool, now time.Time) error {
	if len(f) == 0 {
		return nil
	}
	b.mu.Lock()
	if b.pending == nil {
		b.pending = Figures{}
	}
	b.pending.Merge(f)
	if full && !f.rare() && now.Sub(b.written) < b.every && !now.Before(b.written) {
		if b.timer == nil {
			b.timer = time.AfterFunc(b.every, b.flushLater)
		}
		b.mu.Unlock()
		return nil
	}
	out := b.take(now)
	b.mu.Unlock()
	return b.w.Record(ctx, out, now)
}

// Flush writes what the buffer holds, if anything.
func (b *FiguresBuffer) Flush(ctx context.Context) error {
	now := time.Now()
	b.mu.Lock()
	out := b.take(now)
	b.mu.Unlock()
	if len(out) == 0 {
		return nil
	}
	return b.w.Record(ctx, out, now)
}

// take empties the buffer for a write beginning at now. Call with b.mu held.
func (b *FiguresBuffer) take(now time.Time) Figures {
	out := b.pending
	b.pending, b.written = nil, now
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
	return out
}

// flushLater is the timer's write.
func (b *FiguresBuffer) flushLater() {
	ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
	defer cancel()
	if err := b.Flush(ctx); err != nil {
		b.log.Warn("delivery figures not recorded", "err", err)
	}
}

// rare reports whether f holds an outcome other than deliveries: those are
// written at once, so that a retry or a dead letter shows in the status as
// it happens.
func (f Figures) rare() bool {
	for _, s := range f {
		if s.Retrying > 0 || s.DeadLettered > 0 || s.HopLimited > 0 || s.BudgetLimited > 0 {
			return true
		}
	}
	return false
}
