package metrics

import (
	"fmt"
	"io"
	"testing"
)

func benchRecorder(b *testing.B) *Recorder {
	r, err := NewRecorder("flowbus", io.Discard, Options{Dims: map[string]string{"function": "consume"}})
	if err != nil {
		b.Fatal(err)
	}
	return r
}

// BenchmarkCount counts under a dimension set seen before, as a consumer
// does per event: the map literal is built on every call.
func BenchmarkCount(b *testing.B) {
	b.Run("literal", func(b *testing.B) {
		r := benchRecorder(b)
		b.ReportAllocs()
		for b.Loop() {
			r.Count("events_consumed", map[string]string{"event_type": "workflow.started"}, 1)
		}
	})
	b.Run("no-dims", func(b *testing.B) {
		r := benchRecorder(b)
		b.ReportAllocs()
		for b.Loop() {
			r.Count("batches", nil, 1)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		r := benchRecorder(b)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				r.Count("events_consumed", map[string]string{"event_type": "workflow.started"}, 1)
			}
		})
	})
}

// BenchmarkObserve adds latencies to one distribution, flushed every 1000
// values (its MaxValues) so it stays within the bound.
func BenchmarkObserve(b *testing.B) {
	r := benchRecorder(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r.Observe("latency", Milliseconds, map[string]string{"event_type": "workflow.started"}, 12.5)
		if i++; i%1000 == 0 {
			if err := r.Flush(flushTime); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkFlush writes 20 dimension sets of 8 metrics each (6 counters and
// 2 distributions of 10 values): 20 records, about 8 KB.
func BenchmarkFlush(b *testing.B) {
	r := benchRecorder(b)
	types := make([]map[string]string, 20)
	for i := range types {
		types[i] = map[string]string{"event_type": fmt.Sprintf("workflow.step.%02d", i)}
	}
	record := func() {
		for _, dims := range types {
			for m := range 6 {
				r.Count(counterNames[m], dims, float64(m+1))
			}
			for v := range 10 {
				r.Observe("latency", Milliseconds, dims, float64(v)*1.25)
				r.Observe("size", Bytes, dims, float64(v*100+17))
			}
		}
	}
	var c countingWriter
	r.w = &c
	record()
	if err := r.Flush(flushTime); err != nil {
		b.Fatal(err)
	}
	perFlush := c.n
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		record()
		b.StartTimer()
		if err := r.Flush(flushTime); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(perFlush), "bytes/flush")
}

var counterNames = []string{"events_consumed", "events_appended", "events_duplicate", "events_invalid", "bytes_in", "retries"}

type countingWriter struct{ n int }

func (c *countingWriter) Write(p []byte) (int, error) { c.n += len(p); return len(p), nil }

func BenchmarkSketchAdd(b *testing.B) {
	data := sample(distributions[0].gen, 4096, 1)
	var s Sketch
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		s.Add(data[i&4095])
		i++
	}
}

// BenchmarkSketchBinary encodes and decodes a busy minute: 60,000 latencies.
func BenchmarkSketchBinary(b *testing.B) {
	var s Sketch
	for _, d := range sample(distributions[0].gen, 60_000, 3) {
		s.Add(d)
	}
	raw, _ := s.MarshalBinary()
	b.Run("marshal", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			if _, err := s.MarshalBinary(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("unmarshal", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(raw)))
		var back Sketch
		for b.Loop() {
			if err := back.UnmarshalBinary(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
}
