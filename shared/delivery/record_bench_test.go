package delivery

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/flowbus/flowbus/shared/metrics"
	"github.com/flowbus/flowbus/shared/testenv"
)

// BenchmarkRecord is what a deliver invocation spends on the figures of its
// batch (one subscription, 10 deliveries) against the table engine:
// sequential is one writer (the wait of one batch), parallel six writers on
// the same subscription (the deliver pollers). Needs the engines (make
// engines); every op records in the same minute, as a busy minute does.
func BenchmarkRecord(b *testing.B) {
	cfg := testenv.AWS(b)
	db, tbl := testenv.Table(b, cfg)
	rec := NewRecorder(db, tbl)
	ctx := context.Background()
	batch := func(i int) Figures {
		lat := &metrics.Sketch{}
		for k := range 10 {
			lat.Add(time.Duration(200+10*k+i%50) * time.Millisecond)
		}
		return Figures{"bench": {Delivered: 10, Latency: lat}}
	}
	now := time.Now()
	b.Run("sequential", func(b *testing.B) {
		i := 0
		for b.Loop() {
			if err := rec.Record(ctx, batch(i), now); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.SetParallelism(3) // × GOMAXPROCS (2 here): six writers
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if err := rec.Record(ctx, batch(i), now); err != nil {
					panic(fmt.Sprint(err))
				}
				i++
			}
		})
	})
}
