package metrics

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Unit is a CloudWatch metric unit; only the constants below are valid.
type Unit string

// The units CloudWatch accepts (MetricDatum.Unit, and the EMF schema's list).
const (
	Seconds            Unit = "Seconds"
	Microseconds       Unit = "Microseconds"
	Milliseconds       Unit = "Milliseconds"
	Bytes              Unit = "Bytes"
	Kilobytes          Unit = "Kilobytes"
	Megabytes          Unit = "Megabytes"
	Gigabytes          Unit = "Gigabytes"
	Terabytes          Unit = "Terabytes"
	Bits               Unit = "Bits"
	Kilobits           Unit = "Kilobits"
	Megabits           Unit = "Megabits"
	Gigabits           Unit = "Gigabits"
	Terabits           Unit = "Terabits"
	Percent            Unit = "Percent"
	Count              Unit = "Count"
	BytesPerSecond     Unit = "Bytes/Second"
	KilobytesPerSecond Unit = "Kilobytes/Second"
	MegabytesPerSecond Unit = "Megabytes/Second"
	GigabytesPerSecond Unit = "Gigabytes/Second"
	TerabytesPerSecond Unit = "Terabytes/Second"
	BitsPerSecond      Unit = "Bits/Second"
	KilobitsPerSecond  Unit = "Kilobits/Second"
	MegabitsPerSecond  Unit = "Megabits/Second"
	GigabitsPerSecond  Unit = "Gigabits/Second"
	TerabitsPerSecond  Unit = "Terabits/Second"
	CountPerSecond     Unit = "Count/Second"
	None               Unit = "None"
)

// Valid reports whether u is one of the units CloudWatch accepts.
func (u Unit) Valid() bool {
	switch u {
	case Seconds, Microseconds, Milliseconds, Bytes, Kilobytes, Megabytes, Gigabytes, Terabytes,
		Bits, Kilobits, Megabits, Gigabits, Terabits, Percent, Count,
		BytesPerSecond, KilobytesPerSecond, MegabytesPerSecond, GigabytesPerSecond, TerabytesPerSecond,
		BitsPerSecond, KilobitsPerSecond, MegabitsPerSecond, GigabitsPerSecond, TerabitsPerSecond,
		CountPerSecond, None:
		return true
	}
	return false
}

// Limits of the EMF specification and of CloudWatch that every record keeps.
const (
	MaxMetricsPerRecord = 100 // MetricDefinitions in one MetricDirective
	MaxValuesPerMetric  = 100 // members of one metric's value array
	MaxDimensions       = 30  // dimension keys in one DimensionSet
	// MaxRecordBytes bounds one log line, well under the size of a CloudWatch
	// Logs event (256 KB in older versions of the EMF specification, 1 MB in
	// current ones).
	MaxRecordBytes = 128 << 10

	maxNamespaceBytes  = 255
	maxMetricNameBytes = 255
	maxDimNameBytes    = 250
	maxDimValueBytes   = 1024
	// CloudWatch refuses values outside ±2^360 (MetricDatum.Value).
	maxValue = 0x1p360
	// maxReasons bounds the distinct refusal messages one Flush reports.
	maxReasons = 10
)

// Other replaces a dimension value CloudWatch would refuse, and the values of
// the per-call dimensions of every set past Options.MaxDimensionSets.
const Other = "other"

// ErrInvalidMetric is what NewRecorder, Flush and WritePrometheus wrap when
// they refuse a namespace, name, unit, dimension or value.
var ErrInvalidMetric = errors.New("invalid metric")

// Options configures a Recorder. The zero value is usable.
type Options struct {
	// Dims are on every metric, e.g. {"function": "consume"}.
	Dims map[string]string
	// MaxDimensionSets bounds the distinct dimension sets one Flush writes
	// (default 100). A set first seen past the bound is folded into one whose
	// per-call dimension values read Other.
	MaxDimensionSets int
	// MaxValues bounds the values one distribution keeps between flushes
	// (default 1000, ten records). Past it a uniform sample of MaxValues
	// values is kept (reservoir sampling): percentiles stay representative,
	// but CloudWatch's SampleCount and Sum then undercount; use Count for
	// exact totals.
	MaxValues int
}

// Recorder collects one invocation's metrics and writes them as CloudWatch
// Embedded Metric Format records on Flush. It is safe for concurrent use.
//
// Count and Observe never fail: a sample CloudWatch would refuse (NaN or
// infinite value, invalid unit or name, too many dimensions) is dropped and
// reported, with the number dropped, by the next Flush. A dimension value
// CloudWatch would refuse (empty, over 1024 bytes, not printable ASCII) is
// counted under Other instead, so that odd event types lose no counts.
type Recorder struct {
	namespace string
	w         io.Writer
	defaults  []pair // sorted by name
	maxSets   int
	maxValues int

	mu       sync.Mutex
	sets     map[string]*dimSet
	pairs    []pair // scratch for the dimensions of one call
	key      []byte // scratch for the key of one call
	refused  map[string]int
	nRefused int

	flushMu sync.Mutex // one Flush at a time; guards the buffers below
	taken   []*dimSet
	names   []string
	head    []byte
	tail    []byte
	defs    []byte
	mems    []byte
	line    []byte
}

type pair struct {
	name, value string
	call        bool // given by the call, not a default
}

// dimSet is one distinct dimension set and the series recorded under it.
type dimSet struct {
	key    string
	dims   []pair
	series map[string]*series
}

type series struct {
	unit    Unit
	counter bool
	sum     float64   // counter
	values  []float64 // distribution
	seen    int       // distribution: observations since the last Flush
}

// NewRecorder returns a Recorder that writes records in namespace to w,
// one JSON object a line (on Lambda, w is os.Stdout).
func NewRecorder(namespace string, w io.Writer, opts Options) (*Recorder, error) {
	var errs []error
	if err := checkNamespace(namespace); err != nil {
		errs = append(errs, err)
	}
	if w == nil {
		errs = append(errs, errors.New("no writer"))
	}
	if len(opts.Dims) > MaxDimensions {
		errs = append(errs, fmt.Errorf("%d default dimensions, at most %d: %w", len(opts.Dims), MaxDimensions, ErrInvalidMetric))
	}
	r := &Recorder{namespace: namespace, w: w, maxSets: opts.MaxDimensionSets, maxValues: opts.MaxValues, sets: map[string]*dimSet{}}
	for name, value := range opts.Dims {
		if err := checkDimName(name); err != nil {
			errs = append(errs, err)
		}
		if !validDimValue(value) {
			errs = append(errs, fmt.Errorf("dimension %q: value %q is not 1 to %d printable ASCII characters: %w", name, value, maxDimValueBytes, ErrInvalidMetric))
		}
		r.defaults = append(r.defaults, pair{name: name, value: value})
	}
	sortPairs(r.defaults)
	if r.maxSets <= 0 {
		r.maxSets = 100
	}
	if r.maxValues <= 0 {
		r.maxValues = 1000
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("new recorder: %w", err)
	}
	return r, nil
}

// Count adds n to the counter name under dims (with the default dimensions);
// a counter is written as one sum per dimension set and Flush.
func (r *Recorder) Count(name string, dims map[string]string, n float64) {
	r.record(name, Count, true, dims, n)
}

// Observe adds v to the distribution name under dims (with the default
// dimensions). A distribution is written as an array of its values, which
// CloudWatch turns into percentiles; several records when it holds more than
// MaxValuesPerMetric values.
func (r *Recorder) Observe(name string, unit Unit, dims map[string]string, v float64) {
	r.record(name, unit, false, dims, v)
}

func (r *Recorder) record(name string, unit Unit, counter bool, dims map[string]string, v float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if math.IsNaN(v) || math.Abs(v) > maxValue {
		r.refuse(fmt.Sprintf("metric %q: value %v is not a finite number within ±2^360", name, v))
		return
	}
	set, reason := r.lookup(dims)
	if set == nil {
		r.refuse(fmt.Sprintf("metric %q: %s", name, reason))
		return
	}
	s := set.series[name]
	switch {
	case s == nil:
		if reason := checkMetricName(name, set); reason != "" {
			r.refuse(reason)
			return
		}
		if !unit.Valid() {
			r.refuse(fmt.Sprintf("metric %q: unit %q is not a CloudWatch unit", name, unit))
			return
		}
		s = &series{unit: unit, counter: counter}
		set.series[name] = s
	case s.counter != counter || s.unit != unit:
		r.refuse(fmt.Sprintf("metric %q: recorded as %s and as %s", name, s.describe(), (&series{unit: unit, counter: counter}).describe()))
		return
	}
	if counter {
		s.sum += v
		return
	}
	s.seen++
	if len(s.values) < r.maxValues {
		s.values = append(s.values, v)
		return
	}
	if j := rand.IntN(s.seen); j < r.maxValues {
		s.values[j] = v
	}
}

func (s *series) describe() string {
	if s.counter {
		return "a counter"
	}
	return fmt.Sprintf("a distribution in %q", s.unit)
}

// refuse notes a dropped sample for the next Flush. r.mu is held.
func (r *Recorder) refuse(reason string) {
	r.nRefused++
	r.refused = addReason(r.refused, reason)
}

// addReason counts reason in m, keeping at most maxReasons distinct ones.
func addReason(m map[string]int, reason string) map[string]int {
	if m == nil {
		m = map[string]int{}
	}
	if _, ok := m[reason]; ok || len(m) < maxReasons {
		m[reason]++
	}
	return m
}

// lookup returns the set for the default dimensions merged with dims,
// creating it (validated, folded past the bound) when it is new; or nil and
// why dims were refused. r.mu is held. A set seen before costs no allocation.
func (r *Recorder) lookup(dims map[string]string) (*dimSet, string) {
	pairs := append(r.pairs[:0], r.defaults...)
	for name, value := range dims {
		if i := indexPair(pairs[:len(r.defaults)], name); i >= 0 {
			pairs[i].value, pairs[i].call = value, true
			continue
		}
		pairs = append(pairs, pair{name: name, value: value, call: true})
	}
	r.pairs = pairs
	sortPairs(pairs)
	r.key = appendKey(r.key[:0], pairs)
	if set := r.sets[string(r.key)]; set != nil {
		return set, ""
	}

	if len(pairs) > MaxDimensions {
		return nil, fmt.Sprintf("%d dimensions, at most %d", len(pairs), MaxDimensions)
	}
	for i := range pairs {
		if err := checkDimName(pairs[i].name); err != nil {
			return nil, err.Error()
		}
		if !validDimValue(pairs[i].value) {
			pairs[i].value = Other
		}
	}
	if len(r.sets) >= r.maxSets {
		for i := range pairs {
			if pairs[i].call {
				pairs[i].value = Other
			}
		}
	}
	r.key = appendKey(r.key[:0], pairs)
	if set := r.sets[string(r.key)]; set != nil {
		return set, ""
	}
	set := &dimSet{key: string(r.key), dims: slices.Clone(pairs), series: map[string]*series{}}
	r.sets[set.key] = set
	return set, ""
}

func indexPair(pairs []pair, name string) int {
	for i := range pairs {
		if pairs[i].name == name {
			return i
		}
	}
	return -1
}

// sortPairs sorts by name; an insertion sort, as sets are small.
func sortPairs(p []pair) {
	for i := 1; i < len(p); i++ {
		for j := i; j > 0 && p[j].name < p[j-1].name; j-- {
			p[j], p[j-1] = p[j-1], p[j]
		}
	}
}

// appendKey encodes pairs unambiguously: length-prefixed names and values.
func appendKey(b []byte, pairs []pair) []byte {
	for _, p := range pairs {
		b = binary.AppendUvarint(b, uint64(len(p.name)))
		b = append(b, p.name...)
		b = binary.AppendUvarint(b, uint64(len(p.value)))
		b = append(b, p.value...)
	}
	return b
}

// Flush writes one or more EMF records for each dimension set recorded since
// the last Flush, timestamped now, one line and one Write each, and resets the
// Recorder. It writes nothing when nothing was recorded. Call it once per
// invocation, not per event. The error reports the samples refused since
// the last Flush (matching ErrInvalidMetric), whose valid neighbours are
// written all the same, and the first write that failed, after which Flush
// stops. CloudWatch drops records timestamped over two weeks in the past or
// two hours in the future: pass the current time.
func (r *Recorder) Flush(now time.Time) error {
	if now.UnixMilli() <= 0 {
		return fmt.Errorf("flush metrics: timestamp %v is not after 1970: %w", now, ErrInvalidMetric)
	}
	r.flushMu.Lock()
	defer r.flushMu.Unlock()

	r.mu.Lock()
	sets := r.taken[:0]
	for _, s := range r.sets {
		sets = append(sets, s)
	}
	clear(r.sets)
	refused, nRefused := r.refused, r.nRefused
	r.refused, r.nRefused = nil, 0
	r.mu.Unlock()

	slices.SortFunc(sets, func(a, b *dimSet) int { return strings.Compare(a.key, b.key) })
	var errs []error
	for _, set := range sets {
		dropped, err := r.writeSet(now.UnixMilli(), set)
		for _, reason := range dropped {
			nRefused++
			refused = addReason(refused, reason)
		}
		if err != nil {
			errs = append(errs, err)
			break
		}
	}
	clear(sets)
	r.taken = sets[:0]
	if nRefused > 0 {
		reasons := make([]string, 0, len(refused))
		for reason, n := range refused {
			reasons = append(reasons, fmt.Sprintf("%s (%d×)", reason, n))
		}
		slices.Sort(reasons)
		errs = append(errs, fmt.Errorf("%d metric samples refused: %s: %w", nRefused, strings.Join(reasons, "; "), ErrInvalidMetric))
	}
	return errors.Join(errs...)
}

// writeSet writes the records of one dimension set: in rounds, round k
// holding the k-th run of MaxValuesPerMetric values of every distribution
// (and, in round 0, every counter), each round split at MaxMetricsPerRecord
// metrics and MaxRecordBytes. A record is head + definitions + tail +
// members + "}". It returns the counters refused (a sum that overflowed) and
// the first write error. r.flushMu is held.
func (r *Recorder) writeSet(ts int64, set *dimSet) (refused []string, err error) {
	names := r.names[:0]
	rounds := 0
	for name, s := range set.series {
		if s.counter && (math.IsNaN(s.sum) || math.Abs(s.sum) > maxValue) {
			refused = append(refused, fmt.Sprintf("counter %q: sum %v is not a finite number within ±2^360", name, s.sum))
			continue
		}
		names = append(names, name)
		rounds = max(rounds, (len(s.values)+MaxValuesPerMetric-1)/MaxValuesPerMetric, 1)
	}
	slices.Sort(names)
	r.names = names

	head := append(r.head[:0], `{"_aws":{"Timestamp":`...)
	head = strconv.AppendInt(head, ts, 10)
	head = append(head, `,"CloudWatchMetrics":[{"Namespace":`...)
	head = appendString(head, r.namespace)
	head = append(head, `,"Dimensions":[[`...)
	for i, d := range set.dims {
		if i > 0 {
			head = append(head, ',')
		}
		head = appendString(head, d.name)
	}
	head = append(head, `]],"Metrics":[`...)
	tail := append(r.tail[:0], `]}]}`...)
	for _, d := range set.dims {
		tail = append(tail, ',')
		tail = appendString(tail, d.name)
		tail = append(tail, ':')
		tail = appendString(tail, d.value)
	}
	r.head, r.tail = head, tail
	fixed := len(head) + len(tail) + len("}\n")

	defs, mems, n := r.defs[:0], r.mems[:0], 0
	defer func() { r.defs, r.mems = defs, mems }()
	emit := func() error {
		if n == 0 {
			return nil
		}
		line := append(r.line[:0], head...)
		line = append(line, defs...)
		line = append(line, tail...)
		line = append(line, mems...)
		line = append(line, '}', '\n')
		r.line = line
		defs, mems, n = defs[:0], mems[:0], 0
		if _, err := r.w.Write(line); err != nil {
			return fmt.Errorf("write metrics record: %w", err)
		}
		return nil
	}
	add := func(name string, s *series, vals []float64) {
		defs = appendDefinition(defs, n > 0, name, s.unit)
		mems = append(mems, ',')
		mems = appendString(mems, name)
		mems = append(mems, ':')
		if s.counter {
			mems = appendNumber(mems, s.sum)
		} else {
			mems = appendNumbers(mems, vals)
		}
		n++
	}
	for round := range rounds {
		for _, name := range names {
			s := set.series[name]
			var vals []float64
			switch {
			case s.counter && round == 0:
			case !s.counter && round*MaxValuesPerMetric < len(s.values):
				vals = s.values[round*MaxValuesPerMetric : min((round+1)*MaxValuesPerMetric, len(s.values))]
			default:
				continue
			}
			d0, m0 := len(defs), len(mems)
			add(name, s, vals)
			if n > MaxMetricsPerRecord || n > 1 && fixed+len(defs)+len(mems) > MaxRecordBytes {
				defs, mems, n = defs[:d0], mems[:m0], n-1
				if err := emit(); err != nil {
					return refused, err
				}
				add(name, s, vals)
			}
		}
		if err := emit(); err != nil {
			return refused, err
		}
	}
	return refused, nil
}

func appendDefinition(b []byte, comma bool, name string, unit Unit) []byte {
	if comma {
		b = append(b, ',')
	}
	b = append(b, `{"Name":`...)
	b = appendString(b, name)
	b = append(b, `,"Unit":`...)
	b = appendString(b, string(unit))
	return append(b, '}')
}

// appendNumbers appends vals as a JSON array.
func appendNumbers(b []byte, vals []float64) []byte {
	b = append(b, '[')
	for i, v := range vals {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendNumber(b, v)
	}
	return append(b, ']')
}

// appendNumber appends a finite v as a JSON number, formatted as
// encoding/json does: plain decimals, exponents only for very large or small.
func appendNumber(b []byte, v float64) []byte {
	format := byte('f')
	if abs := math.Abs(v); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, v, format, -1, 64)
	if format == 'e' {
		// 1e-07 reads 1e-7.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// checkNamespace applies CloudWatch's rules: 1 to 255 of [A-Za-z0-9._#:/-],
// not starting with "AWS/".
func checkNamespace(ns string) error {
	if ns == "" || len(ns) > maxNamespaceBytes || strings.HasPrefix(ns, "AWS/") {
		return fmt.Errorf("namespace %q: want 1 to %d characters, not starting with AWS/: %w", ns, maxNamespaceBytes, ErrInvalidMetric)
	}
	for i := 0; i < len(ns); i++ {
		c := ns[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("._#:/-", c) >= 0) {
			return fmt.Errorf("namespace %q: character %q not in [A-Za-z0-9._#:/-]: %w", ns, c, ErrInvalidMetric)
		}
	}
	return nil
}

// checkDimName applies CloudWatch's rules for a dimension name: 1 to 250
// printable ASCII characters, not all blank, not starting with ':', and not
// the reserved "_aws" member.
func checkDimName(name string) error {
	if !printable(name, maxDimNameBytes) || name[0] == ':' || name == "_aws" {
		return fmt.Errorf("dimension name %q: want 1 to %d printable ASCII characters, not starting with ':', not _aws: %w", name, maxDimNameBytes, ErrInvalidMetric)
	}
	return nil
}

// validDimValue reports whether CloudWatch accepts value for a dimension:
// 1 to 1024 printable ASCII characters, not all blank.
func validDimValue(value string) bool { return printable(value, maxDimValueBytes) }

// checkMetricName returns why name can't be a metric of set, or "".
func checkMetricName(name string, set *dimSet) string {
	if !printable(name, maxMetricNameBytes) || name == "_aws" {
		return fmt.Sprintf("metric name %q: want 1 to %d printable ASCII characters, not _aws", name, maxMetricNameBytes)
	}
	if indexPair(set.dims, name) >= 0 {
		return fmt.Sprintf("metric name %q: is also a dimension name", name)
	}
	return ""
}

// printable reports whether s is 1 to max printable ASCII bytes, not all
// spaces.
func printable(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	blank := true
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
		if s[i] != ' ' {
			blank = false
		}
	}
	return !blank
}
