package delivery

import (
	"context"
	"sync"
	"testing"
	"time"
)

// writes records what a FiguresBuffer writes.
type writes struct {
	mu  sync.Mutex
	got []Figures
}

func (w *writes) Record(_ context.Context, f Figures, _ time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.got = append(w.got, f)
	return nil
}

func (w *writes) delivered() (n, writes int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, f := range w.got {
		for _, s := range f {
			n += s.Delivered
		}
	}
	return n, len(w.got)
}

func delivered(n int) Figures { return Figures{"s": {Delivered: n}} }

func TestFiguresBufferHoldsFullBatchesOnly(t *testing.T) {
	ctx := context.Background()
	w := &writes{}
	b := NewFiguresBuffer(w, time.Hour, nil) // the timer never fires here
	t0 := time.Now().Add(-48 * time.Hour)    // before Flush's clock

	// The first batch is written: nothing was written within the hour.
	if err := b.Add(ctx, delivered(10), true, t0); err != nil {
		t.Fatal(err)
	}
	// Full batches right after it are held.
	for i := range 5 {
		if err := b.Add(ctx, delivered(10), true, t0.Add(time.Duration(i+1)*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}
	if n, k := w.delivered(); n != 10 || k != 1 {
		t.Fatalf("after six full batches: %d delivered in %d writes, want 10 in 1 (five held)", n, k)
	}
	// A batch that is not full writes everything held with it.
	if err := b.Add(ctx, delivered(3), false, t0.Add(10*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if n, k := w.delivered(); n != 63 || k != 2 {
		t.Fatalf("after a partial batch: %d delivered in %d writes, want 63 in 2", n, k)
	}
	// A full batch with a retry is written at once.
	if err := b.Add(ctx, Figures{"s": {Delivered: 9, Retrying: 1}}, true, t0.Add(11*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if n, k := w.delivered(); n != 72 || k != 3 {
		t.Fatalf("after a retry: %d delivered in %d writes, want 72 in 3", n, k)
	}
	// Held figures are written once the interval has passed...
	_ = b.Add(ctx, delivered(10), true, t0.Add(12*time.Millisecond))
	_ = b.Add(ctx, delivered(10), true, t0.Add(time.Hour+20*time.Millisecond))
	if n, k := w.delivered(); n != 92 || k != 4 {
		t.Fatalf("after the interval: %d delivered in %d writes, want 92 in 4", n, k)
	}
	// ... and by Flush; a Flush with nothing held writes nothing.
	_ = b.Add(ctx, delivered(10), true, t0.Add(time.Hour+30*time.Millisecond))
	if err := b.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n, k := w.delivered(); n != 102 || k != 5 {
		t.Fatalf("after Flush: %d delivered in %d writes, want 102 in 5", n, k)
	}
	// A clock behind the last write (another instance's, or a step back)
	// never holds: it writes.
	_ = b.Add(ctx, delivered(1), true, t0)
	if n, k := w.delivered(); n != 103 || k != 6 {
		t.Fatalf("with the clock behind: %d delivered in %d writes, want 103 in 6", n, k)
	}
}

// TestFiguresBufferTimerWrites: figures held while no batch follows are
// written by the timer, not left for a next batch that may never come.
func TestFiguresBufferTimerWrites(t *testing.T) {
	ctx := context.Background()
	w := &writes{}
	b := NewFiguresBuffer(w, 50*time.Millisecond, nil)
	now := time.Now()
	_ = b.Add(ctx, delivered(10), true, now)
	_ = b.Add(ctx, delivered(10), true, now.Add(time.Millisecond))
	if n, _ := w.delivered(); n != 10 {
		t.Fatalf("%d delivered before the timer, want 10 (10 held)", n)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if n, k := w.delivered(); n == 20 && k == 2 {
			return
		}
		if time.Now().After(deadline) {
			n, k := w.delivered()
			t.Fatalf("%d delivered in %d writes 10 s after holding, want 20 in 2", n, k)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestFiguresBufferConcurrent: batches added from many goroutines while the
// timer writes are all counted once (go test -race).
func TestFiguresBufferConcurrent(t *testing.T) {
	ctx := context.Background()
	w := &writes{}
	b := NewFiguresBuffer(w, time.Millisecond, nil)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				_ = b.Add(ctx, delivered(1), true, time.Now())
			}
		})
	}
	wg.Wait()
	if err := b.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, _ := w.delivered()
		if n == 1600 {
			return
		}
		if n > 1600 || time.Now().After(deadline) {
			t.Fatalf("%d delivered, want 1600", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
