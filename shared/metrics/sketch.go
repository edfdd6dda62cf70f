package metrics

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

// RelativeAccuracy bounds a Sketch's quantile error: an estimate is within
// ±1 % of the true duration at that rank, plus at most half a nanosecond
// from rounding to a whole Duration.
const RelativeAccuracy = 0.01

// ErrInvalidSketch is what UnmarshalBinary wraps when its input is not a
// Sketch it wrote.
var ErrInvalidSketch = errors.New("invalid sketch")

const sketchVersion = 1

var (
	gamma    = (1 + RelativeAccuracy) / (1 - RelativeAccuracy)
	logGamma = math.Log(gamma)
	// maxIndex is the index of the bucket holding math.MaxInt64 nanoseconds.
	maxIndex = int(math.Ceil(math.Log(math.MaxInt64) / logGamma))
)

// Sketch is a mergeable latency sketch in the manner of DDSketch: durations
// are counted in buckets whose bounds grow by a factor γ = (1+α)/(1-α),
// α = RelativeAccuracy, so every quantile it answers is within α of the true
// one, whatever the distribution. It holds at most about 2,200 buckets (1 ns
// to 292 years); latencies from a millisecond to ten seconds use about 460.
// Sketches merge exactly: merging per-minute sketches gives the sketch of
// all their durations. The zero value is an empty sketch; a Sketch is not
// safe for concurrent use.
type Sketch struct {
	zero     uint64   // durations ≤ 0
	offset   int      // index of counts[0]
	counts   []uint64 // counts[i] holds durations in (γ^(offset+i-1), γ^(offset+i)] ns
	count    uint64
	sum      time.Duration
	min, max time.Duration
}

// Add counts d.
func (s *Sketch) Add(d time.Duration) {
	if s.count == 0 || d < s.min {
		s.min = d
	}
	if s.count == 0 || d > s.max {
		s.max = d
	}
	s.count++
	s.sum += d
	if d <= 0 {
		s.zero++
		return
	}
	i := index(d)
	s.grow(i, i)
	s.counts[i-s.offset]++
}

// index returns the bucket of a positive duration.
func index(d time.Duration) int {
	return min(max(int(math.Ceil(math.Log(float64(d))/logGamma)), 0), maxIndex)
}

// value returns the estimate for bucket i: the point whose relative distance
// to both of the bucket's bounds is α.
func value(i int) float64 { return 2 * math.Pow(gamma, float64(i)) / (gamma + 1) }

// grow makes counts cover the indices lo..hi.
func (s *Sketch) grow(lo, hi int) {
	if len(s.counts) == 0 {
		s.offset = lo
		s.counts = make([]uint64, hi-lo+1, hi-lo+1+16)
		return
	}
	if lo < s.offset {
		n := s.offset - lo
		s.counts = append(make([]uint64, n, n+len(s.counts)+16), s.counts...)
		s.offset = lo
	}
	if need := hi - s.offset + 1; need > len(s.counts) {
		s.counts = append(s.counts, make([]uint64, need-len(s.counts))...)
	}
}

// Merge adds every duration counted in o to s.
func (s *Sketch) Merge(o *Sketch) {
	if o == nil || o.count == 0 {
		return
	}
	if s.count == 0 || o.min < s.min {
		s.min = o.min
	}
	if s.count == 0 || o.max > s.max {
		s.max = o.max
	}
	s.count += o.count
	s.sum += o.sum
	s.zero += o.zero
	if len(o.counts) > 0 {
		s.grow(o.offset, o.offset+len(o.counts)-1)
		for i, c := range o.counts {
			s.counts[o.offset+i-s.offset] += c
		}
	}
}

// Count returns the number of durations counted.
func (s *Sketch) Count() uint64 { return s.count }

// Sum returns the sum of the durations counted.
func (s *Sketch) Sum() time.Duration { return s.sum }

// Quantile returns the estimate of the q-quantile (0 ≤ q ≤ 1, clamped), the
// duration of rank ⌊q·(n-1)⌋ among the n counted; 0 when s is empty.
func (s *Sketch) Quantile(q float64) time.Duration {
	if s.count == 0 {
		return 0
	}
	if !(q > 0) { // also NaN
		q = 0
	}
	q = min(q, 1)
	rank := uint64(q * float64(s.count-1))
	switch {
	case rank == 0:
		return s.min
	case rank == s.count-1:
		return s.max
	case rank < s.zero:
		return min(0, s.max)
	}
	cum := s.zero
	for i, c := range s.counts {
		cum += c
		if cum > rank {
			v := time.Duration(math.Round(value(s.offset + i)))
			return min(max(v, s.min), s.max)
		}
	}
	return s.max
}

// ZeroBucket is the bucket index Buckets and AddBucket use for durations
// ≤ 0; the others are 0 to MaxBucket.
const ZeroBucket = -1

// MaxBucket is the highest bucket index (the bucket of math.MaxInt64 ns).
var MaxBucket = maxIndex

// Buckets calls f with each non-empty bucket's index and count, the zero
// bucket first, then in increasing order: what a store that can only add
// numbers (DynamoDB's ADD) keeps of a sketch, one counter per bucket.
func (s *Sketch) Buckets(f func(i int, count uint64)) {
	if s.zero > 0 {
		f(ZeroBucket, s.zero)
	}
	for i, c := range s.counts {
		if c > 0 {
			f(s.offset+i, c)
		}
	}
}

// AddBucket counts count durations in bucket i, as Buckets reported it; an
// index out of range is ignored. Each is taken at its bucket's estimate, so
// a sketch rebuilt from its buckets answers every quantile within
// RelativeAccuracy, its minimum and maximum included (which a sketch that
// saw the durations knows exactly), and its Sum is an estimate.
func (s *Sketch) AddBucket(i int, count uint64) {
	if count == 0 || i < ZeroBucket || i > maxIndex {
		return
	}
	var v time.Duration
	if i == ZeroBucket {
		s.zero += count
	} else {
		v = time.Duration(math.Round(value(i)))
		s.grow(i, i)
		s.counts[i-s.offset] += count
	}
	if s.count == 0 || v < s.min {
		s.min = v
	}
	if s.count == 0 || v > s.max {
		s.max = v
	}
	s.count += count
	s.sum += time.Duration(count) * v
}

// Reset empties s, keeping its memory.
func (s *Sketch) Reset() {
	clear(s.counts)
	*s = Sketch{counts: s.counts[:0]}
}

// MarshalBinary encodes s compactly, for a DynamoDB binary attribute: a
// version byte, then varints for the zero count, sum, min and max, the number
// of non-empty buckets, and each bucket's index (as a delta from the previous
// one) and count. A sketch of a minute of latencies takes a few hundred bytes.
func (s *Sketch) MarshalBinary() ([]byte, error) {
	nonEmpty := 0
	for _, c := range s.counts {
		if c > 0 {
			nonEmpty++
		}
	}
	b := make([]byte, 0, 1+4*binary.MaxVarintLen64+nonEmpty*4)
	b = append(b, sketchVersion)
	b = binary.AppendUvarint(b, s.zero)
	b = binary.AppendVarint(b, int64(s.sum))
	b = binary.AppendVarint(b, int64(s.min))
	b = binary.AppendVarint(b, int64(s.max))
	b = binary.AppendUvarint(b, uint64(nonEmpty))
	prev := 0
	for i, c := range s.counts {
		if c == 0 {
			continue
		}
		b = binary.AppendUvarint(b, uint64(s.offset+i-prev))
		b = binary.AppendUvarint(b, c)
		prev = s.offset + i
	}
	return b, nil
}

// UnmarshalBinary replaces s with the sketch MarshalBinary encoded in b.
func (s *Sketch) UnmarshalBinary(b []byte) error {
	d := decoder{b: b}
	if len(b) == 0 || b[0] != sketchVersion {
		return fmt.Errorf("decode sketch: not version %d: %w", sketchVersion, ErrInvalidSketch)
	}
	d.b = b[1:]
	out := Sketch{zero: d.uvarint(), sum: time.Duration(d.varint()), min: time.Duration(d.varint()), max: time.Duration(d.varint())}
	n := d.uvarint()
	if d.err == nil && n > uint64(maxIndex+1) {
		return fmt.Errorf("decode sketch: %d buckets, at most %d: %w", n, maxIndex+1, ErrInvalidSketch)
	}
	type bucket struct {
		i int
		c uint64
	}
	buckets := make([]bucket, 0, min(n, uint64(len(d.b)/2)+1))
	out.count = out.zero
	idx := 0
	for k := uint64(0); k < n && d.err == nil; k++ {
		delta, c := d.uvarint(), d.uvarint()
		if d.err != nil {
			break
		}
		if (k > 0 && delta == 0) || delta > uint64(maxIndex) || idx+int(delta) > maxIndex || c == 0 || out.count+c < out.count {
			return fmt.Errorf("decode sketch: bucket %d out of order, empty or overflowing: %w", k, ErrInvalidSketch)
		}
		idx += int(delta)
		out.count += c
		buckets = append(buckets, bucket{idx, c})
	}
	if d.err != nil {
		return fmt.Errorf("decode sketch: %w", d.err)
	}
	if len(d.b) > 0 {
		return fmt.Errorf("decode sketch: %d bytes after the end: %w", len(d.b), ErrInvalidSketch)
	}
	if out.count > 0 && out.min > out.max || out.count == 0 && (out.sum != 0 || out.min != 0 || out.max != 0) {
		return fmt.Errorf("decode sketch: min %v, max %v and sum %v do not fit %d durations: %w", out.min, out.max, out.sum, out.count, ErrInvalidSketch)
	}
	if len(buckets) > 0 {
		out.grow(buckets[0].i, buckets[len(buckets)-1].i)
		for _, bk := range buckets {
			out.counts[bk.i-out.offset] = bk.c
		}
	}
	*s = out
	return nil
}

// decoder reads varints, keeping the first error.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = fmt.Errorf("truncated or overlong varint: %w", ErrInvalidSketch)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = fmt.Errorf("truncated or overlong varint: %w", ErrInvalidSketch)
		return 0
	}
	d.b = d.b[n:]
	return v
}
