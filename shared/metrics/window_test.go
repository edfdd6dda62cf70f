package metrics

import (
	"math"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// base is a minute's first instant.
var base = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func minute(m int, sec float64) time.Time {
	return base.Add(time.Duration(m)*time.Minute + time.Duration(sec*float64(time.Second)))
}

// approx compares floats to 1e-9.
var approx = cmp.Comparer(func(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(a)) })

func TestWindowRates(t *testing.T) {
	type add struct {
		at    time.Time
		count int64
	}
	tests := []struct {
		name string
		adds []add
		now  time.Time
		want [3]float64
	}{
		{
			name: "nothing",
			now:  minute(0, 30),
		},
		{
			name: "steady 1/s for 20 minutes, halfway through a minute",
			adds: func() []add {
				var out []add
				for m := -19; m < 0; m++ {
					out = append(out, add{minute(m, 10), 60})
				}
				return append(out, add{minute(0, 10), 30})
			}(),
			now:  minute(0, 30),
			want: [3]float64{1, 1, 1},
		},
		{
			name: "steady 1/s at a minute's start counts the previous minute whole",
			adds: []add{{minute(-2, 0), 60}, {minute(-1, 0), 60}},
			now:  minute(0, 0),
			want: [3]float64{1, 120.0 / 300, 120.0 / 900},
		},
		{
			name: "a burst of 600 three minutes ago",
			adds: []add{{minute(-3, 5), 600}},
			now:  minute(0, 45),
			want: [3]float64{0, 2, 600.0 / 900},
		},
		{
			name: "the oldest minute counts for the part still in the span",
			adds: []add{{minute(-15, 0), 900}, {minute(-5, 0), 300}, {minute(-1, 0), 60}},
			now:  minute(0, 40),
			want: [3]float64{20.0 / 60, (60 + 100) / 300.0, (60 + 300 + 300) / 900.0},
		},
		{
			name: "older than 16 minutes is gone",
			adds: []add{{minute(-17, 0), 1000}},
			now:  minute(0, 0),
		},
		{
			name: "events after now are not counted",
			adds: []add{{minute(2, 0), 1000}},
			now:  minute(0, 30),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w Window
			for _, a := range tt.adds {
				w.Add(a.at, a.count)
			}
			p1, p5, p15 := w.Rates(tt.now)
			if diff := cmp.Diff(tt.want, [3]float64{p1, p5, p15}, approx); diff != "" {
				t.Errorf("Rates (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWindowExpiry(t *testing.T) {
	var w Window
	w.Add(minute(0, 1), 5)
	w.AddLatency(minute(0, 1), time.Second)
	w.Add(minute(16, 1), 7) // the same slot: minute 0 is dropped
	w.Add(minute(0, 2), 9)  // older than the slot holds now: dropped
	w.AddLatency(minute(0, 2), time.Second)
	got := w.Buckets()
	if len(got) != 1 || !got[0].Start.Equal(minute(16, 0)) || got[0].Count != 7 || got[0].Latency.Count() != 0 {
		t.Errorf("Buckets = %+v, want only minute 16 with 7 events", got)
	}
	if p := w.Percentiles(minute(16, 30), WindowSpan, 0.5); p != nil {
		t.Errorf("Percentiles = %v after the latencies expired, want nil", p)
	}
}

func TestWindowPercentiles(t *testing.T) {
	var w Window
	for i := 1; i <= 100; i++ {
		w.AddLatency(minute(-10, 5), time.Duration(i)*time.Second) // 1s..100s, ten minutes ago
		w.AddLatency(minute(0, 5), time.Duration(i)*time.Millisecond)
	}
	now := minute(0, 30)
	within := cmp.Comparer(func(a, b time.Duration) bool {
		return math.Abs(float64(a-b)) <= RelativeAccuracy*float64(max(a, b))
	})
	tests := []struct {
		name string
		span time.Duration
		ps   []float64
		want []time.Duration
	}{
		{"last minute", time.Minute, []float64{0.5, 0.95, 0.99}, []time.Duration{50 * time.Millisecond, 95 * time.Millisecond, 99 * time.Millisecond}},
		{"last 5 minutes", 5 * time.Minute, []float64{0.5, 1}, []time.Duration{50 * time.Millisecond, 100 * time.Millisecond}},
		{"last 15 minutes", 15 * time.Minute, []float64{0.25, 0.75, 0.99}, []time.Duration{50 * time.Millisecond, 50 * time.Second, 98 * time.Second}},
		{"a span over 15 minutes is 15", time.Hour, []float64{0.99}, []time.Duration{98 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, w.Percentiles(now, tt.span, tt.ps...), within); diff != "" {
				t.Errorf("Percentiles (-want +got):\n%s", diff)
			}
		})
	}
	if got := w.Percentiles(minute(5, 0), time.Minute, 0.5); got != nil {
		t.Errorf("Percentiles over an empty span = %v, want nil", got)
	}
	if s := w.Latency(now, 15*time.Minute); s.Count() != 200 {
		t.Errorf("Latency counts %d, want 200", s.Count())
	}
}

// TestWindowThroughStorage stores a window's minutes as bytes, as DynamoDB
// items would hold them, and merges them into another window.
func TestWindowThroughStorage(t *testing.T) {
	var src, dst Window
	for m := -20; m <= 0; m++ {
		for i := range 50 {
			src.Add(minute(m, float64(i)), 2)
			src.AddLatency(minute(m, float64(i)), time.Duration(m+21)*time.Millisecond+time.Duration(i)*time.Microsecond)
		}
	}
	for _, b := range src.Buckets() {
		raw, err := b.Latency.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var back Sketch
		if err := back.UnmarshalBinary(raw); err != nil {
			t.Fatal(err)
		}
		dst.AddBucket(Bucket{Start: b.Start, Count: b.Count / 2, Latency: &back})
		dst.AddBucket(Bucket{Start: b.Start, Count: b.Count - b.Count/2}) // two items for one minute merge
	}
	now := minute(0, 50)
	type answer struct {
		Rates       [3]float64
		Percentiles []time.Duration
	}
	ask := func(w *Window) answer {
		a, b, c := w.Rates(now)
		return answer{[3]float64{a, b, c}, w.Percentiles(now, 5*time.Minute, 0.5, 0.95, 0.99)}
	}
	if diff := cmp.Diff(ask(&src), ask(&dst)); diff != "" {
		t.Errorf("stored window answers differently (-source +stored):\n%s", diff)
	}
	if got := len(dst.Buckets()); got != int(slots) {
		t.Errorf("window holds %d minutes, want %d", got, slots)
	}
}

func TestWindowConcurrent(t *testing.T) {
	var w Window
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				at := minute(i%3, float64(g))
				w.Add(at, 1)
				w.AddLatency(at, time.Millisecond)
				if i%50 == 0 {
					w.Rates(at)
					w.Percentiles(at, time.Minute, 0.5)
				}
			}
		})
	}
	wg.Wait()
	var total int64
	for _, b := range w.Buckets() {
		total += b.Count
	}
	if total != 8*500 {
		t.Errorf("counted %d events, want %d", total, 8*500)
	}
}
