package metrics

import (
	"sync"
	"time"
)

// WindowSpan is how far back a Window answers.
const WindowSpan = 15 * time.Minute

// slots holds one bucket more than WindowSpan has minutes: a span of 15
// minutes ending inside a minute touches 16 of them.
const slots = int64(WindowSpan/time.Minute) + 1

// Window keeps per-minute buckets, an event count and a latency Sketch each,
// covering the last WindowSpan, for rates and latency percentiles. Data older
// than that is dropped as newer minutes reuse its bucket. It is safe for
// concurrent use; the zero value is an empty Window.
type Window struct {
	mu      sync.Mutex
	buckets [slots]bucket
}

type bucket struct {
	minute  int64 // minutes since the Unix epoch
	used    bool
	count   int64
	latency Sketch
}

// Bucket is one minute of a Window, for storage (for example one DynamoDB
// item per minute, merged back with Window.AddBucket).
type Bucket struct {
	Start   time.Time // the minute's first instant, UTC
	Count   int64
	Latency *Sketch // a copy
}

// minuteOf returns the minutes since the Unix epoch at t, rounded down.
func minuteOf(t time.Time) int64 {
	s := t.Unix()
	m := s / 60
	if s%60 < 0 {
		m--
	}
	return m
}

func slotOf(minute int64) int64 { return ((minute % slots) + slots) % slots }

// at returns the bucket for minute, emptied if it held an older minute, or
// nil if it holds a newer one (minute is then out of the window).
func (w *Window) at(minute int64) *bucket {
	b := &w.buckets[slotOf(minute)]
	switch {
	case b.used && b.minute == minute:
	case b.used && b.minute > minute:
		return nil
	default:
		b.minute, b.used, b.count = minute, true, 0
		b.latency.Reset()
	}
	return b
}

// peek returns the bucket holding minute, or nil.
func (w *Window) peek(minute int64) *bucket {
	b := &w.buckets[slotOf(minute)]
	if !b.used || b.minute != minute {
		return nil
	}
	return b
}

// Add counts count events at t.
func (w *Window) Add(t time.Time, count int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if b := w.at(minuteOf(t)); b != nil {
		b.count += count
	}
}

// AddLatency counts one latency d at t.
func (w *Window) AddLatency(t time.Time, d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if b := w.at(minuteOf(t)); b != nil {
		b.latency.Add(d)
	}
}

// AddBucket merges a stored minute into w.
func (w *Window) AddBucket(b Bucket) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if wb := w.at(minuteOf(b.Start)); wb != nil {
		wb.count += b.Count
		wb.latency.Merge(b.Latency)
	}
}

// Buckets returns the minutes w holds, oldest first.
func (w *Window) Buckets() []Bucket {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []Bucket
	for _, b := range w.buckets {
		if !b.used {
			continue
		}
		s := &Sketch{}
		s.Merge(&b.latency)
		out = append(out, Bucket{Start: time.Unix(b.minute*60, 0).UTC(), Count: b.count, Latency: s})
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].Start.Before(out[j-1].Start); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// Rates returns events per second over the last 1, 5 and 15 minutes before
// now. A span ends inside the current minute, so its oldest bucket is only
// partly in it: that bucket counts in proportion to the part that is (the
// sliding-window estimate, exact when events are spread evenly within it).
func (w *Window) Rates(now time.Time) (per1, per5, per15 float64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.rate(now, 1), w.rate(now, 5), w.rate(now, 15)
}

func (w *Window) rate(now time.Time, minutes int64) float64 {
	cur := minuteOf(now)
	into := now.Sub(time.Unix(cur*60, 0)).Seconds() / 60 // fraction of the current minute gone
	total := 0.0
	for m := cur - minutes + 1; m <= cur; m++ {
		if b := w.peek(m); b != nil {
			total += float64(b.count)
		}
	}
	if b := w.peek(cur - minutes); b != nil {
		total += (1 - into) * float64(b.count)
	}
	return total / (float64(minutes) * 60)
}

// Latency returns the merged latency sketch of every minute that overlaps
// the span before now (span is capped at WindowSpan), so it covers at least
// span and at most a minute more.
func (w *Window) Latency(now time.Time, span time.Duration) *Sketch {
	w.mu.Lock()
	defer w.mu.Unlock()
	span = min(max(span, 0), WindowSpan)
	s := &Sketch{}
	for m := minuteOf(now.Add(-span)); m <= minuteOf(now); m++ {
		if b := w.peek(m); b != nil {
			s.Merge(&b.latency)
		}
	}
	return s
}

// Percentiles returns the latency quantiles ps (each 0 ≤ p ≤ 1, e.g. 0.5,
// 0.95, 0.99) over the span before now, as Latency merges it; nil when no
// latency was added in that span.
func (w *Window) Percentiles(now time.Time, span time.Duration, ps ...float64) []time.Duration {
	s := w.Latency(now, span)
	if s.Count() == 0 {
		return nil
	}
	out := make([]time.Duration, len(ps))
	for i, p := range ps {
		out[i] = s.Quantile(p)
	}
	return out
}
