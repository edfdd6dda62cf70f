package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// FullJitter is a random delay in (0, min(max, base·2^attempt)], as in AWS's
// "Exponential Backoff and Jitter": retries spread out instead of colliding.
func FullJitter(base, max time.Duration, attempt int) time.Duration {
	d := base << min(max0(attempt), 30)
	if d > max || d <= 0 {
		d = max
	}
	return time.Duration(rand.Int64N(int64(d))) + 1
}

func max0(n int) int {
	if n < 0 {
		return 0
	}
	return n
}

// Sleep waits d, or until ctx ends (returning its error).
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
