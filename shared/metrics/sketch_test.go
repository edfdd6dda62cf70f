package metrics

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// distributions of latencies to test the sketch against, n each.
var distributions = []struct {
	name string
	gen  func(r *rand.Rand) time.Duration
}{
	{"lognormal around 20ms", func(r *rand.Rand) time.Duration {
		return time.Duration(math.Exp(r.NormFloat64()*1.2) * float64(20*time.Millisecond))
	}},
	{"uniform 1µs to 10s", func(r *rand.Rand) time.Duration {
		return time.Microsecond + time.Duration(r.Int64N(int64(10*time.Second)))
	}},
	{"exponential mean 5ms", func(r *rand.Rand) time.Duration {
		return time.Microsecond + time.Duration(r.ExpFloat64()*float64(5*time.Millisecond))
	}},
	{"bimodal 2ms and 2s", func(r *rand.Rand) time.Duration {
		if r.IntN(10) == 0 {
			return 2*time.Second + time.Duration(r.Int64N(int64(time.Second)))
		}
		return 2*time.Millisecond + time.Duration(r.Int64N(int64(time.Millisecond)))
	}},
	{"constant 7ms", func(*rand.Rand) time.Duration { return 7 * time.Millisecond }},
}

func sample(gen func(*rand.Rand) time.Duration, n int, seed uint64) []time.Duration {
	r := rand.New(rand.NewPCG(seed, 1))
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = gen(r)
	}
	return out
}

var quantiles = []float64{0, 0.001, 0.01, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1}

func TestSketchAccuracy(t *testing.T) {
	for _, dist := range distributions {
		t.Run(dist.name, func(t *testing.T) {
			data := sample(dist.gen, 50_000, 42)
			var s Sketch
			for _, d := range data {
				s.Add(d)
			}
			slices.Sort(data)
			for _, q := range quantiles {
				exact := data[int(q*float64(len(data)-1))]
				got := s.Quantile(q)
				// α, plus rounding the estimate to a whole nanosecond.
				if rel := math.Abs(float64(got-exact)) / float64(exact); rel > RelativeAccuracy+0.5/float64(exact)+1e-12 {
					t.Errorf("q%g: got %v, exact %v: relative error %.4f%% over %g%%", q, got, exact, rel*100, RelativeAccuracy*100)
				}
			}
			if s.Count() != uint64(len(data)) {
				t.Errorf("Count = %d, want %d", s.Count(), len(data))
			}
			var sum time.Duration
			for _, d := range data {
				sum += d
			}
			if s.Sum() != sum {
				t.Errorf("Sum = %v, want %v", s.Sum(), sum)
			}
		})
	}
}

func encode(t *testing.T, s *Sketch) []byte {
	t.Helper()
	b, err := s.MarshalBinary()
	if err != nil {
		t.Fatalf("MarshalBinary: %v", err)
	}
	return b
}

func TestSketchMerge(t *testing.T) {
	for _, dist := range distributions {
		t.Run(dist.name, func(t *testing.T) {
			data := sample(dist.gen, 10_000, 7)
			var all Sketch
			parts := make([]Sketch, 4)
			for i, d := range data {
				all.Add(d)
				parts[i*len(parts)/len(data)].Add(d) // contiguous runs, like minutes
			}
			var merged Sketch
			merged.Merge(nil)
			merged.Merge(&Sketch{})
			for i := len(parts) - 1; i >= 0; i-- { // out of order on purpose
				merged.Merge(&parts[i])
			}
			if diff := cmp.Diff(encode(t, &all), encode(t, &merged)); diff != "" {
				t.Errorf("merged sketch differs from the sketch of all (-all +merged):\n%s", diff)
			}
			for _, q := range quantiles {
				if got, want := merged.Quantile(q), all.Quantile(q); got != want {
					t.Errorf("q%g: merged %v, all %v", q, got, want)
				}
			}
		})
	}
}

func TestSketchBinaryRoundTrip(t *testing.T) {
	tests := []struct {
		name     string
		data     []time.Duration
		maxBytes int
	}{
		{"empty", nil, 6},
		{"one", []time.Duration{3 * time.Millisecond}, 24},
		{"zero and negative", []time.Duration{0, -time.Second, 5 * time.Millisecond}, 24},
		{"the whole range", []time.Duration{1, math.MaxInt64, time.Second}, 48},
		{"a busy minute: 60,000 latencies around 20ms", sample(distributions[0].gen, 60_000, 3), 1600},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s Sketch
			for _, d := range tt.data {
				s.Add(d)
			}
			b := encode(t, &s)
			if len(b) > tt.maxBytes {
				t.Errorf("%d bytes, want at most %d", len(b), tt.maxBytes)
			}
			t.Logf("%d durations in %d bytes", len(tt.data), len(b))
			var back Sketch
			if err := back.UnmarshalBinary(b); err != nil {
				t.Fatalf("UnmarshalBinary: %v", err)
			}
			if diff := cmp.Diff(b, encode(t, &back)); diff != "" {
				t.Errorf("re-encoded differently (-first +second):\n%s", diff)
			}
			type summary struct {
				Count     uint64
				Sum       time.Duration
				Quantiles []time.Duration
			}
			sum := func(s *Sketch) summary {
				out := summary{Count: s.Count(), Sum: s.Sum()}
				for _, q := range quantiles {
					out.Quantiles = append(out.Quantiles, s.Quantile(q))
				}
				return out
			}
			if diff := cmp.Diff(sum(&s), sum(&back)); diff != "" {
				t.Errorf("decoded sketch answers differently (-original +decoded):\n%s", diff)
			}
		})
	}
}

func TestSketchUnmarshalRefuses(t *testing.T) {
	var s Sketch
	s.Add(time.Millisecond)
	s.Add(time.Second)
	good := encode(t, &s)
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"version 2", append([]byte{2}, good[1:]...)},
		{"truncated", good[:len(good)-1]},
		{"trailing bytes", append(slices.Clone(good), 0)},
		{"bucket count over the range", []byte{1, 0, 0, 0, 0, 0xff, 0xff, 0x03}},
		{"index over the range", []byte{1, 0, 2, 2, 2, 1, 0xff, 0x7f, 1}},
		{"repeated index", []byte{1, 0, 4, 2, 2, 2, 10, 1, 0, 1}},
		{"empty bucket", []byte{1, 0, 2, 2, 2, 1, 10, 0}},
		{"min over max", []byte{1, 0, 2, 4, 2, 1, 10, 1}},
		{"sum without durations", []byte{1, 0, 2, 0, 0, 0}},
		{"count overflow", []byte{1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0, 0, 0, 1, 10, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got Sketch
			if err := got.UnmarshalBinary(tt.b); !errors.Is(err, ErrInvalidSketch) {
				t.Errorf("UnmarshalBinary(%x) = %v, want ErrInvalidSketch", tt.b, err)
			}
		})
	}
}

func TestSketchQuantileEdges(t *testing.T) {
	var empty Sketch
	var one Sketch
	one.Add(42 * time.Millisecond)
	var s Sketch
	for i := 1; i <= 100; i++ {
		s.Add(time.Duration(i) * time.Millisecond)
	}
	tests := []struct {
		name string
		s    *Sketch
		q    float64
		want time.Duration
	}{
		{"empty", &empty, 0.5, 0},
		{"one value", &one, 0.5, 42 * time.Millisecond},
		{"q below 0 is the minimum", &s, -1, time.Millisecond},
		{"NaN is the minimum", &s, math.NaN(), time.Millisecond},
		{"q 0 is the minimum", &s, 0, time.Millisecond},
		{"q 1 is the maximum", &s, 1, 100 * time.Millisecond},
		{"q above 1 is the maximum", &s, 2, 100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.s.Quantile(tt.q); got != tt.want {
				t.Errorf("Quantile(%g) = %v, want %v", tt.q, got, tt.want)
			}
		})
	}
	s.Reset()
	if s.Count() != 0 || s.Quantile(0.5) != 0 || len(encode(t, &s)) != 6 {
		t.Errorf("Reset left %d durations", s.Count())
	}
}

func FuzzSketchUnmarshal(f *testing.F) {
	var s Sketch
	for _, d := range sample(distributions[3].gen, 100, 1) {
		s.Add(d)
	}
	b, _ := s.MarshalBinary()
	f.Add(b)
	f.Add([]byte{1, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		var s Sketch
		if err := s.UnmarshalBinary(b); err != nil {
			if !errors.Is(err, ErrInvalidSketch) {
				t.Fatalf("error %v does not match ErrInvalidSketch", err)
			}
			return
		}
		_ = s.Quantile(0.5)
		first := encode(t, &s)
		var again Sketch
		if err := again.UnmarshalBinary(first); err != nil {
			t.Fatalf("re-encoded sketch refused: %v", err)
		}
		if diff := cmp.Diff(first, encode(t, &again)); diff != "" {
			t.Fatalf("unstable encoding (-first +second):\n%s", diff)
		}
	})
}

// TestSketchBuckets rebuilds sketches from their buckets, added up in
// parts as DynamoDB's ADD adds them, and holds every quantile to the
// accuracy of the sketch that saw the durations.
func TestSketchBuckets(t *testing.T) {
	for _, dist := range distributions {
		t.Run(dist.name, func(t *testing.T) {
			data := sample(dist.gen, 20_000, 11)
			data[3] = 0 // the zero bucket
			counts := map[int]uint64{}
			var parts [8]Sketch
			for i, d := range data {
				parts[i%len(parts)].Add(d)
			}
			for i := range parts {
				parts[i].Buckets(func(b int, c uint64) { counts[b] += c })
			}
			var rebuilt Sketch
			for b, c := range counts {
				rebuilt.AddBucket(b, c)
			}
			rebuilt.AddBucket(MaxBucket+1, 5)  // ignored
			rebuilt.AddBucket(ZeroBucket-1, 5) // ignored
			rebuilt.AddBucket(7, 0)            // nothing
			if got, want := rebuilt.Count(), uint64(len(data)); got != want {
				t.Fatalf("Count = %d, want %d", got, want)
			}
			slices.Sort(data)
			for _, q := range quantiles {
				exact := data[int(q*float64(len(data)-1))]
				got := rebuilt.Quantile(q)
				if exact == 0 {
					if got != 0 {
						t.Errorf("q%g: got %v, want 0", q, got)
					}
					continue
				}
				if rel := math.Abs(float64(got-exact)) / float64(exact); rel > RelativeAccuracy+0.5/float64(exact)+1e-12 {
					t.Errorf("q%g: got %v, exact %v: relative error %.4f%% over %g%%", q, got, exact, rel*100, RelativeAccuracy*100)
				}
			}
		})
	}
}
