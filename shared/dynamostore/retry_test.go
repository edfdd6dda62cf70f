package dynamostore

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestRetryUnprocessed(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name      string
		r         retry
		left      int // calls that leave something unprocessed
		failAt    int // call that fails (1-based), 0 for none
		wantCalls int
		wantErr   string
		wantIs    error
	}{
		{name: "all processed at once", r: retry{time.Millisecond, time.Millisecond, 3}, wantCalls: 1},
		{name: "processed on the third call", r: retry{time.Millisecond, time.Millisecond, 3}, left: 2, wantCalls: 3},
		{name: "retries run out", r: retry{time.Millisecond, time.Millisecond, 3}, left: 100, wantCalls: 4,
			wantErr: "batch write: unprocessed items after 3 retries"},
		// The limit is checked before sleeping: an hour's backoff is never waited.
		{name: "giving up never sleeps", r: retry{time.Hour, time.Hour, 0}, left: 100, wantCalls: 1,
			wantErr: "batch write: unprocessed items after 0 retries"},
		{name: "a failed call ends it", r: retry{time.Millisecond, time.Millisecond, 3}, left: 100, failAt: 2, wantCalls: 2, wantIs: boom},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			err := tc.r.do(context.Background(), "batch write: unprocessed items", func() (bool, error) {
				calls++
				if calls == tc.failAt {
					return false, boom
				}
				return calls <= tc.left, nil
			})
			if calls != tc.wantCalls {
				t.Errorf("got %d calls, want %d", calls, tc.wantCalls)
			}
			switch {
			case tc.wantIs != nil:
				if !errors.Is(err, tc.wantIs) {
					t.Errorf("got %v, want %v", err, tc.wantIs)
				}
			case tc.wantErr != "":
				if err == nil || err.Error() != tc.wantErr {
					t.Errorf("got %v, want %q", err, tc.wantErr)
				}
			case err != nil:
				t.Errorf("got %v, want nil", err)
			}
		})
	}
}

func TestRetryStopsWithTheContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	err := retry{time.Hour, time.Hour, 3}.do(ctx, "batch get: unprocessed keys", func() (bool, error) {
		calls++
		cancel()
		return true, nil
	})
	if calls != 1 || !errors.Is(err, context.Canceled) {
		t.Errorf("got %d calls and %v, want 1 call and %v", calls, err, context.Canceled)
	}
}
