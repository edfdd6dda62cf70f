package esm

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	pause "github.com/flowbus/flowbus/shared/backoff"
)

// attempt is a batch, or part of one after a bisection or a partial
// failure, on its way through the function.
type attempt struct {
	recs    []*record
	retries int // retry attempts consumed (bisection consumes none)
	outcome
}

// process runs a batch through the function the way Lambda does, and marks
// its records done as they succeed or are given up on. It returns early,
// leaving records not done, only when ctx is done.
func (m *Mapping) process(ctx context.Context, sh *shard, batch []*record) {
	cfg := m.cfg
	work := []attempt{{recs: batch}}
	unreachable := m.serviceBackoff()
	retry := m.retryBackoff()
	for len(work) > 0 {
		if ctx.Err() != nil {
			return
		}
		a := &work[0]
		if n := m.expired(a.recs); n > 0 {
			if !m.giveUp(ctx, sh, a.recs[:n], RecordAgeExceeded, a.outcome) {
				return
			}
			a.recs = a.recs[n:]
			if len(a.recs) == 0 {
				work = work[1:]
				continue
			}
		}

		start := time.Now()
		out, err := m.fn.Invoke(ctx, payload(a.recs))
		took := time.Since(start)
		var fnErr *FunctionError
		if err != nil && !errors.As(err, &fnErr) {
			if ctx.Err() != nil {
				return
			}
			// The function was not reached: retry, counting no attempt,
			// until the records are too old.
			m.report(Report{Shard: sh.id, Records: len(a.recs), Duration: took, Result: "error: " + err.Error()})
			m.log.Warn("cannot invoke the function; retrying", "shard", sh.id, "records", len(a.recs), "err", err)
			if unreachable.wait(ctx) != nil {
				return
			}
			continue
		}
		unreachable.reset()
		a.invokes++
		a.response = true
		a.fnError = fnErr != nil

		if fnErr != nil {
			m.report(Report{Shard: sh.id, Records: len(a.recs), Duration: took, Result: "error: " + fnErr.Error()})
			if work, err = m.failed(ctx, sh, work, retry); err != nil {
				return
			}
			continue
		}
		if !cfg.ReportBatchItemFailures {
			m.report(Report{Shard: sh.id, Records: len(a.recs), Duration: took, Result: "ok"})
			sh.complete(ctx, a.recs)
			work = work[1:]
			retry.reset()
			continue
		}
		first, failed, perr := parseBatchResponse(out, a.recs)
		switch {
		case perr != nil:
			m.report(Report{Shard: sh.id, Records: len(a.recs), Duration: took, Result: "error: " + perr.Error()})
			if work, err = m.failed(ctx, sh, work, retry); err != nil {
				return
			}
		case failed == 0:
			m.report(Report{Shard: sh.id, Records: len(a.recs), Duration: took, Result: "ok"})
			sh.complete(ctx, a.recs)
			work = work[1:]
			retry.reset()
		default:
			m.report(Report{Shard: sh.id, Records: len(a.recs), Duration: took, Result: fmt.Sprintf("partial (%d failed)", failed)})
			// Checkpoint before the lowest failed record; retry from it.
			sh.complete(ctx, a.recs[:first])
			a.recs = a.recs[first:]
			if cfg.BisectBatchOnFunctionError && first > 0 {
				// Bisected at the returned sequence number: the rest goes
				// again as a batch of its own, which consumes no attempt.
				continue
			}
			if work, err = m.failed(ctx, sh, work, retry); err != nil {
				return
			}
		}
	}
}

// failed handles a failure of the whole of work[0]: with bisection a batch
// of two or more splits in halves, retried in order without consuming an
// attempt; otherwise it is retried after a pause until MaximumRetryAttempts
// is exhausted, then given up on.
func (m *Mapping) failed(ctx context.Context, sh *shard, work []attempt, retry *backoff) ([]attempt, error) {
	a := work[0]
	if m.cfg.BisectBatchOnFunctionError && len(a.recs) > 1 {
		mid := len(a.recs) / 2
		lo, hi := a, a
		lo.recs, hi.recs = a.recs[:mid], a.recs[mid:]
		return append([]attempt{lo, hi}, work[1:]...), nil
	}
	a.retries++
	work[0] = a
	if limit := m.cfg.MaximumRetryAttempts; limit >= 0 && a.retries > limit {
		if !m.giveUp(ctx, sh, a.recs, RetryAttemptsExhausted, a.outcome) {
			return nil, ctx.Err()
		}
		retry.reset()
		return work[1:], nil
	}
	if err := retry.wait(ctx); err != nil {
		return nil, err
	}
	return work, nil
}

// expired counts the records at the front of recs older than
// MaximumRecordAge.
func (m *Mapping) expired(recs []*record) int {
	if m.cfg.MaximumRecordAge < 0 {
		return 0
	}
	oldest := m.now().Add(-m.cfg.MaximumRecordAge)
	n := 0
	for n < len(recs) && recs[n].arrival.Before(oldest) {
		n++
	}
	return n
}

// giveUp sends the on-failure record for recs to the destination (retrying
// until it is taken) and moves past them. It returns false if ctx ended
// first, leaving the records not done.
func (m *Mapping) giveUp(ctx context.Context, sh *shard, recs []*record, condition string, o outcome) bool {
	log := m.log.With("shard", sh.id, "condition", condition, "records", len(recs),
		"startSequenceNumber", recs[0].seq, "endSequenceNumber", recs[len(recs)-1].seq)
	result := "gave up → destination (" + condition + ")"
	if m.dest == nil {
		result = "gave up → discarded (" + condition + ")"
		log.Warn("records given up on; no on-failure destination")
	} else {
		body, err := m.failureRecord(sh.id, recs, condition, o)
		if err != nil {
			log.Error("records given up on; cannot build the failure record", "err", err)
		} else {
			bo := m.serviceBackoff()
			for {
				err := m.dest.Send(ctx, body)
				if err == nil {
					break
				}
				if ctx.Err() != nil {
					return false
				}
				log.Warn("cannot send to the on-failure destination; retrying", "err", err)
				if bo.wait(ctx) != nil {
					return false
				}
			}
			log.Warn("records given up on; sent to the on-failure destination")
		}
	}
	m.report(Report{Shard: sh.id, Records: len(recs), Result: result})
	sh.complete(ctx, recs)
	return true
}

// backoff is an exponential pause with jitter.
type backoff struct {
	base, max, next time.Duration
}

// serviceBackoff paces retries of calls that did not reach their target
// (Kinesis, the function, checkpoints, the destination): up to five poll
// intervals apart.
func (m *Mapping) serviceBackoff() *backoff {
	base := min(max(m.cfg.PollInterval/10, time.Millisecond), 100*time.Millisecond)
	return &backoff{base: base, max: max(5*m.cfg.PollInterval, base), next: base}
}

// retryBackoff paces retries of a batch the function failed: up to one poll
// interval apart.
func (m *Mapping) retryBackoff() *backoff {
	base := min(max(m.cfg.PollInterval/10, time.Millisecond), 100*time.Millisecond)
	return &backoff{base: base, max: max(m.cfg.PollInterval, base), next: base}
}

func (b *backoff) wait(ctx context.Context) error {
	d := b.next
	d += time.Duration(rand.Int64N(int64(d)/5 + 1)) // up to 20% more
	b.next = min(2*b.next, b.max)
	return pause.Sleep(ctx, d)
}

func (b *backoff) reset() { b.next = b.base }
