package backoff

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestFullJitterStaysInBounds(t *testing.T) {
	for attempt := range 40 {
		for range 100 {
			d := FullJitter(10*time.Millisecond, time.Second, attempt)
			limit := min(10*time.Millisecond<<min(attempt, 30), time.Second)
			if d <= 0 || d > limit {
				t.Fatalf("attempt %d: %s outside (0, %s]", attempt, d, limit)
			}
		}
	}
}

func TestSleepEndsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("Sleep = %v, want context.Canceled", err)
	}
	if err := Sleep(context.Background(), time.Millisecond); err != nil {
		t.Errorf("Sleep = %v", err)
	}
}
