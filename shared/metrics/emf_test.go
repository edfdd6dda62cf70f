package metrics

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// emfRecord is what validateEMF read from one record.
type emfRecord struct {
	Namespace string
	Timestamp int64
	Dims      map[string]string    // dimension name -> value
	Units     map[string]string    // metric name -> unit
	Values    map[string][]float64 // metric name -> values (a single number as one value)
}

var (
	namespaceRE = regexp.MustCompile(`^[a-zA-Z0-9._#:/-]{1,255}$`)
	validUnits  = strings.Split("Seconds|Microseconds|Milliseconds|Bytes|Kilobytes|Megabytes|Gigabytes|Terabytes|Bits|Kilobits|Megabits|Gigabits|Terabits|Percent|Count|Bytes/Second|Kilobytes/Second|Megabytes/Second|Gigabytes/Second|Terabytes/Second|Bits/Second|Kilobits/Second|Megabits/Second|Gigabits/Second|Terabits/Second|Count/Second|None", "|")
)

// validateEMF checks one log line against the Embedded Metric Format
// specification and CloudWatch's limits, independently of the encoder, and
// returns what it holds. It checks: one JSON object on one line, at most
// MaxRecordBytes; no duplicate root members; an _aws object with exactly
// Timestamp (a positive integer, milliseconds) and CloudWatchMetrics (a
// non-empty array); each MetricDirective with exactly Namespace (CloudWatch's
// pattern), Dimensions (at least one DimensionSet of at most 30 distinct
// keys, each a root member with a string value) and Metrics (1 to 100
// MetricDefinitions with a unique Name, a valid Unit if any, a
// StorageResolution of 1 or 60 if any, and no other member); every metric
// target a root member that is a number or an array of 1 to 100 numbers,
// finite and within ±2^360, and not also a dimension or _aws.
func validateEMF(t *testing.T, line string) emfRecord {
	t.Helper()
	rec, err := checkEMF(line)
	if err != nil {
		t.Fatalf("invalid EMF record: %v\nrecord: %.2000s", err, line)
	}
	return rec
}

// checkEMF is validateEMF returning an error, so that the checks themselves
// can be tested.
func checkEMF(line string) (emfRecord, error) {
	fail := func(format string, args ...any) (emfRecord, error) {
		return emfRecord{}, fmt.Errorf(format, args...)
	}
	if strings.ContainsAny(line, "\r\n") {
		return fail("record spans lines")
	}
	if len(line)+1 > MaxRecordBytes || len(line) > 256*1024 {
		return fail("%d bytes, over the limit", len(line))
	}
	root, err := members([]byte(line))
	if err != nil {
		return fail("root: %v", err)
	}
	aws, ok := root["_aws"]
	if !ok {
		return fail("no _aws member")
	}
	meta, err := exactMembers(aws, []string{"Timestamp", "CloudWatchMetrics"}, nil)
	if err != nil {
		return fail("_aws: %v", err)
	}
	rec := emfRecord{Dims: map[string]string{}, Units: map[string]string{}, Values: map[string][]float64{}}
	var ts json.Number
	if err := strictUnmarshal(meta["Timestamp"], &ts); err != nil {
		return fail("Timestamp: %v", err)
	}
	if rec.Timestamp, err = ts.Int64(); err != nil || rec.Timestamp <= 0 {
		return fail("Timestamp %s is not a positive integer", ts)
	}
	var directives []json.RawMessage
	if err := strictUnmarshal(meta["CloudWatchMetrics"], &directives); err != nil || len(directives) == 0 {
		return fail("CloudWatchMetrics is not a non-empty array: %v", err)
	}
	for _, raw := range directives {
		d, err := exactMembers(raw, []string{"Namespace", "Dimensions", "Metrics"}, nil)
		if err != nil {
			return fail("MetricDirective: %v", err)
		}
		if err := strictUnmarshal(d["Namespace"], &rec.Namespace); err != nil || !namespaceRE.MatchString(rec.Namespace) || strings.HasPrefix(rec.Namespace, "AWS/") {
			return fail("Namespace %s is not a CloudWatch namespace", d["Namespace"])
		}
		var sets [][]string
		if err := strictUnmarshal(d["Dimensions"], &sets); err != nil || len(sets) == 0 {
			return fail("Dimensions is not a non-empty array of DimensionSets: %v", err)
		}
		for _, set := range sets {
			if len(set) > MaxDimensions {
				return fail("DimensionSet of %d keys, over %d", len(set), MaxDimensions)
			}
			seen := map[string]bool{}
			for _, name := range set {
				if name == "" || len(name) > 250 || name[0] == ':' || name == "_aws" || seen[name] {
					return fail("dimension key %q empty, too long, starting with ':', reserved or repeated", name)
				}
				seen[name] = true
				var v string
				if err := strictUnmarshal(root[name], &v); err != nil {
					return fail("dimension %q: target is not a string member: %v", name, err)
				}
				if v == "" || len(v) > 1024 || strings.TrimSpace(v) == "" {
					return fail("dimension %q: value %q empty or over 1024 bytes", name, v)
				}
				rec.Dims[name] = v
			}
		}
		var defs []json.RawMessage
		if err := strictUnmarshal(d["Metrics"], &defs); err != nil || len(defs) == 0 || len(defs) > MaxMetricsPerRecord {
			return fail("Metrics holds %d definitions, want 1 to %d: %v", len(defs), MaxMetricsPerRecord, err)
		}
		for _, rawDef := range defs {
			def, err := exactMembers(rawDef, []string{"Name"}, []string{"Unit", "StorageResolution"})
			if err != nil {
				return fail("MetricDefinition: %v", err)
			}
			var name string
			if err := strictUnmarshal(def["Name"], &name); err != nil || name == "" || len(name) > 255 || name == "_aws" {
				return fail("metric Name %s is not 1 to 255 characters, or is _aws", def["Name"])
			}
			if _, dup := rec.Units[name]; dup {
				return fail("metric %q defined twice", name)
			}
			if _, isDim := rec.Dims[name]; isDim {
				return fail("metric %q is also a dimension", name)
			}
			unit := "None"
			if raw, ok := def["Unit"]; ok {
				if err := strictUnmarshal(raw, &unit); err != nil || !slices.Contains(validUnits, unit) {
					return fail("metric %q: Unit %s is not a CloudWatch unit", name, raw)
				}
			}
			if raw, ok := def["StorageResolution"]; ok {
				var res int
				if err := strictUnmarshal(raw, &res); err != nil || res != 1 && res != 60 {
					return fail("metric %q: StorageResolution %s is not 1 or 60", name, raw)
				}
			}
			rec.Units[name] = unit
			vals, err := metricValues(root[name])
			if err != nil {
				return fail("metric %q: %v", name, err)
			}
			rec.Values[name] = vals
		}
	}
	return rec, nil
}

// members decodes a JSON object, refusing duplicate members and anything
// after it.
func members(b []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("not a JSON object: %v", err)
	}
	out := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key := tok.(string)
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("member %q twice", key)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		out[key] = v
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("data after the object")
	}
	return out, nil
}

// exactMembers decodes an object whose members must be the required ones
// and maybe the optional ones, exactly so spelled (the spec is
// case-sensitive and forbids other members).
func exactMembers(b []byte, required, optional []string) (map[string]json.RawMessage, error) {
	m, err := members(b)
	if err != nil {
		return nil, err
	}
	for _, k := range required {
		if _, ok := m[k]; !ok {
			return nil, fmt.Errorf("no %s member", k)
		}
	}
	for k := range m {
		if !slices.Contains(required, k) && !slices.Contains(optional, k) {
			return nil, fmt.Errorf("member %q not in the specification", k)
		}
	}
	return m, nil
}

func strictUnmarshal(b []byte, v any) error {
	if b == nil {
		return errors.New("missing")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	return dec.Decode(v)
}

// metricValues reads a metric target: a number or 1 to 100 numbers.
func metricValues(raw json.RawMessage) ([]float64, error) {
	var v any
	if err := strictUnmarshal(raw, &v); err != nil {
		return nil, err
	}
	var nums []any
	switch v := v.(type) {
	case json.Number:
		nums = []any{v}
	case []any:
		if len(v) == 0 || len(v) > MaxValuesPerMetric {
			return nil, fmt.Errorf("array of %d values, want 1 to %d", len(v), MaxValuesPerMetric)
		}
		nums = v
	default:
		return nil, fmt.Errorf("target %.40s is not a number or an array of numbers", raw)
	}
	out := make([]float64, len(nums))
	for i, n := range nums {
		n, ok := n.(json.Number)
		if !ok {
			return nil, fmt.Errorf("array member %d is not a number", i)
		}
		f, err := strconv.ParseFloat(n.String(), 64)
		if err != nil || math.Abs(f) > 0x1p360 {
			return nil, fmt.Errorf("value %s is not a finite number within ±2^360", n)
		}
		out[i] = f
	}
	return out, nil
}

// records splits output into lines, validating each.
func records(t *testing.T, out string) []emfRecord {
	t.Helper()
	if out == "" {
		return nil
	}
	if !strings.HasSuffix(out, "\n") {
		t.Fatalf("output does not end a line: %q", out)
	}
	var recs []emfRecord
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		recs = append(recs, validateEMF(t, line))
	}
	return recs
}

// totals merges the values of every record, by dimension set and metric.
func totals(recs []emfRecord) map[string]map[string][]float64 {
	out := map[string]map[string][]float64{}
	for _, r := range recs {
		var dims []string
		for k, v := range r.Dims {
			dims = append(dims, k+"="+v)
		}
		slices.Sort(dims)
		key := strings.Join(dims, ",")
		if out[key] == nil {
			out[key] = map[string][]float64{}
		}
		for name, vals := range r.Values {
			out[key][name] = append(out[key][name], vals...)
		}
	}
	return out
}

func newRecorder(t testing.TB, opts Options) (*Recorder, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	r, err := NewRecorder("flowbus", &buf, opts)
	if err != nil {
		t.Fatalf("NewRecorder: %v", err)
	}
	return r, &buf
}

var flushTime = time.UnixMilli(1764201600123)

func TestRecorderGolden(t *testing.T) {
	r, buf := newRecorder(t, Options{Dims: map[string]string{"function": "consume"}})
	started := map[string]string{"event_type": "workflow.started"}
	r.Count("events", started, 2)
	r.Count("events", started, 1)
	r.Observe("latency", Milliseconds, started, 12.5)
	r.Observe("latency", Milliseconds, started, 7)
	r.Count("batches", nil, 1)
	r.Observe("batch_bytes", Bytes, nil, 1e6)
	if err := r.Flush(flushTime); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	want := `{"_aws":{"Timestamp":1764201600123,"CloudWatchMetrics":[{"Namespace":"flowbus","Dimensions":[["function"]],"Metrics":[{"Name":"batch_bytes","Unit":"Bytes"},{"Name":"batches","Unit":"Count"}]}]},"function":"consume","batch_bytes":[1000000],"batches":1}
{"_aws":{"Timestamp":1764201600123,"CloudWatchMetrics":[{"Namespace":"flowbus","Dimensions":[["event_type","function"]],"Metrics":[{"Name":"events","Unit":"Count"},{"Name":"latency","Unit":"Milliseconds"}]}]},"event_type":"workflow.started","function":"consume","events":3,"latency":[12.5,7]}
`
	if diff := cmp.Diff(want, buf.String()); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
	records(t, buf.String())
}

func TestRecorderSplits(t *testing.T) {
	long := strings.Repeat("m", 250)
	tests := []struct {
		name        string
		record      func(r *Recorder)
		wantRecords int
		want        map[string][]float64
	}{
		{
			name: "250 counters make records of 100, 100 and 50 metrics",
			record: func(r *Recorder) {
				for i := range 250 {
					r.Count(fmt.Sprintf("c%03d", i), nil, float64(i))
				}
			},
			wantRecords: 3,
			want: func() map[string][]float64 {
				m := map[string][]float64{}
				for i := range 250 {
					m[fmt.Sprintf("c%03d", i)] = []float64{float64(i)}
				}
				return m
			}(),
		},
		{
			name: "250 values make arrays of 100, 100 and 50, in order",
			record: func(r *Recorder) {
				for i := range 250 {
					r.Observe("latency", Milliseconds, nil, float64(i))
				}
				r.Count("events", nil, 250)
			},
			wantRecords: 3,
			want: func() map[string][]float64 {
				m := map[string][]float64{"events": {250}}
				for i := range 250 {
					m["latency"] = append(m["latency"], float64(i))
				}
				return m
			}(),
		},
		{
			name: "100 long metrics of 100 long values split by bytes",
			record: func(r *Recorder) {
				for i := range 100 {
					for j := range 100 {
						r.Observe(fmt.Sprintf("%s%03d", long, i), Seconds, nil, math.Pi*float64(j+1))
					}
				}
			},
			wantRecords: 2, // about 234 KB
			want: func() map[string][]float64 {
				m := map[string][]float64{}
				for i := range 100 {
					for j := range 100 {
						m[fmt.Sprintf("%s%03d", long, i)] = append(m[fmt.Sprintf("%s%03d", long, i)], math.Pi*float64(j+1))
					}
				}
				return m
			}(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, buf := newRecorder(t, Options{Dims: map[string]string{"function": "consume"}})
			tt.record(r)
			if err := r.Flush(flushTime); err != nil {
				t.Fatalf("Flush: %v", err)
			}
			recs := records(t, buf.String())
			if len(recs) != tt.wantRecords {
				t.Errorf("got %d records, want %d", len(recs), tt.wantRecords)
			}
			got := totals(recs)
			if diff := cmp.Diff(map[string]map[string][]float64{"function=consume": tt.want}, got); diff != "" {
				t.Errorf("values (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRecorderRefuses(t *testing.T) {
	many := map[string]string{}
	for i := range MaxDimensions {
		many[fmt.Sprintf("d%02d", i)] = "v"
	}
	tests := []struct {
		name   string
		record func(r *Recorder)
	}{
		{"NaN", func(r *Recorder) { r.Observe("latency", Milliseconds, nil, math.NaN()) }},
		{"+Inf", func(r *Recorder) { r.Count("bad", nil, math.Inf(1)) }},
		{"-Inf", func(r *Recorder) { r.Observe("latency", Milliseconds, nil, math.Inf(-1)) }},
		{"beyond 2^360", func(r *Recorder) { r.Count("bad", nil, 1e200) }},
		{"sum beyond 2^360", func(r *Recorder) { r.Count("bad", nil, 0x1p360); r.Count("bad", nil, 0x1p360) }},
		{"invalid unit", func(r *Recorder) { r.Observe("latency", Unit("ms"), nil, 1) }},
		{"name _aws", func(r *Recorder) { r.Count("_aws", nil, 1) }},
		{"name is a dimension", func(r *Recorder) { r.Count("function", nil, 1) }},
		{"empty name", func(r *Recorder) { r.Count("", nil, 1) }},
		{"blank name", func(r *Recorder) { r.Count("   ", nil, 1) }},
		{"non-ASCII name", func(r *Recorder) { r.Count("événements", nil, 1) }},
		{"name over 255", func(r *Recorder) { r.Count(strings.Repeat("n", 256), nil, 1) }},
		{"31 dimensions", func(r *Recorder) { r.Count("bad", many, 1) }},
		{"dimension name starting with :", func(r *Recorder) { r.Count("bad", map[string]string{":x": "v"}, 1) }},
		{"dimension name _aws", func(r *Recorder) { r.Count("bad", map[string]string{"_aws": "v"}, 1) }},
		{"counter then distribution", func(r *Recorder) { r.Count("ok", nil, 1); r.Observe("ok", Count, nil, 1) }},
		{"two units", func(r *Recorder) {
			r.Observe("latency", Milliseconds, nil, 1)
			r.Observe("latency", Seconds, nil, 1)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, buf := newRecorder(t, Options{Dims: map[string]string{"function": "consume"}})
			tt.record(r)
			r.Count("events", nil, 1)
			err := r.Flush(flushTime)
			if !errors.Is(err, ErrInvalidMetric) {
				t.Fatalf("Flush error %v, want ErrInvalidMetric", err)
			}
			recs := records(t, buf.String())
			got := totals(recs)["function=consume"]
			if got["events"] == nil {
				t.Errorf("the valid counter was not written: %v", got)
			}
			if err := r.Flush(flushTime); err != nil {
				t.Errorf("second Flush reported again: %v", err)
			}
		})
	}
}

func TestRecorderDimensionValues(t *testing.T) {
	tests := []struct {
		name      string
		opts      Options
		eventType func(i int) string
		n         int
		want      map[string]map[string][]float64
	}{
		{
			name:      "past 100 sets, new types count as other",
			eventType: func(i int) string { return fmt.Sprintf("type.%03d", i) },
			n:         150,
			want: func() map[string]map[string][]float64 {
				m := map[string]map[string][]float64{"event_type=other,function=consume": {"events": {50}}}
				for i := range 100 {
					m[fmt.Sprintf("event_type=type.%03d,function=consume", i)] = map[string][]float64{"events": {1}}
				}
				return m
			}(),
		},
		{
			name:      "a bound of 3 keeps the first 3",
			opts:      Options{MaxDimensionSets: 3},
			eventType: func(i int) string { return fmt.Sprintf("t%d", i%5) },
			n:         10,
			want: map[string]map[string][]float64{
				"event_type=t0,function=consume":    {"events": {2}},
				"event_type=t1,function=consume":    {"events": {2}},
				"event_type=t2,function=consume":    {"events": {2}},
				"event_type=other,function=consume": {"events": {4}},
			},
		},
		{
			name:      "values CloudWatch refuses count as other",
			eventType: func(i int) string { return []string{"café", "", " ", strings.Repeat("x", 1025), "ok"}[i] },
			n:         5,
			want: map[string]map[string][]float64{
				"event_type=other,function=consume": {"events": {4}},
				"event_type=ok,function=consume":    {"events": {1}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Dims = map[string]string{"function": "consume"}
			r, buf := newRecorder(t, tt.opts)
			for i := range tt.n {
				r.Count("events", map[string]string{"event_type": tt.eventType(i)}, 1)
			}
			if err := r.Flush(flushTime); err != nil {
				t.Fatalf("Flush: %v", err)
			}
			if diff := cmp.Diff(tt.want, totals(records(t, buf.String()))); diff != "" {
				t.Errorf("values (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRecorderConcurrent(t *testing.T) {
	r, buf := newRecorder(t, Options{Dims: map[string]string{"function": "consume"}})
	const goroutines, calls = 16, 1000
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range calls {
				r.Count("events", map[string]string{"event_type": fmt.Sprintf("t%d", (g+i)%4)}, 1)
				if i%100 == 0 {
					r.Observe("latency", Milliseconds, nil, float64(i))
				}
			}
		})
	}
	wg.Wait()
	if err := r.Flush(flushTime); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	got := totals(records(t, buf.String()))
	for i := range 4 {
		if n := got[fmt.Sprintf("event_type=t%d,function=consume", i)]["events"]; !cmp.Equal(n, []float64{goroutines * calls / 4}) {
			t.Errorf("t%d: got %v events, want %d", i, n, goroutines*calls/4)
		}
	}
	if n := len(got["function=consume"]["latency"]); n != goroutines*calls/100 {
		t.Errorf("got %d latencies, want %d", n, goroutines*calls/100)
	}
}

func TestRecorderFlushWritesNothingWhenEmpty(t *testing.T) {
	r, buf := newRecorder(t, Options{})
	if err := r.Flush(flushTime); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	r.Count("events", nil, 1)
	if err := r.Flush(flushTime); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	n := buf.Len()
	if err := r.Flush(flushTime); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if buf.Len() != n {
		t.Errorf("a Flush after a Flush wrote %q", buf.String()[n:])
	}
	recs := records(t, buf.String())
	if diff := cmp.Diff([]emfRecord{{Namespace: "flowbus", Timestamp: flushTime.UnixMilli(), Dims: map[string]string{}, Units: map[string]string{"events": "Count"}, Values: map[string][]float64{"events": {1}}}}, recs); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
}

func TestRecorderKeepsASampleOfMaxValues(t *testing.T) {
	r, buf := newRecorder(t, Options{MaxValues: 150})
	for i := range 1000 {
		r.Observe("latency", Milliseconds, nil, float64(i))
	}
	if err := r.Flush(flushTime); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	got := totals(records(t, buf.String()))[""]["latency"]
	if len(got) != 150 {
		t.Fatalf("got %d values, want 150", len(got))
	}
	seen := map[float64]bool{}
	late := 0
	for _, v := range got {
		if seen[v] || v < 0 || v >= 1000 || v != math.Trunc(v) {
			t.Errorf("value %v repeated or never observed", v)
		}
		seen[v] = true
		if v >= 150 {
			late++
		}
	}
	if late == 0 {
		t.Errorf("the sample holds only the first 150 values")
	}
}

var errWrite = errors.New("stdout closed")

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errWrite }

func TestRecorderFlushReportsWriteError(t *testing.T) {
	r, err := NewRecorder("flowbus", failingWriter{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	r.Count("events", nil, 1)
	r.Count("bad", nil, math.NaN())
	err = r.Flush(flushTime)
	if !errors.Is(err, errWrite) || !errors.Is(err, ErrInvalidMetric) {
		t.Errorf("Flush error %v, want the write error and ErrInvalidMetric", err)
	}
}

func TestNewRecorderRefuses(t *testing.T) {
	many := map[string]string{}
	for i := range MaxDimensions + 1 {
		many[fmt.Sprintf("d%02d", i)] = "v"
	}
	tests := []struct {
		name      string
		namespace string
		w         io.Writer
		dims      map[string]string
	}{
		{"empty namespace", "", io.Discard, nil},
		{"AWS namespace", "AWS/Lambda", io.Discard, nil},
		{"space in namespace", "flow bus", io.Discard, nil},
		{"long namespace", strings.Repeat("n", 256), io.Discard, nil},
		{"no writer", "flowbus", nil, nil},
		{"31 dimensions", "flowbus", io.Discard, many},
		{"dimension _aws", "flowbus", io.Discard, map[string]string{"_aws": "x"}},
		{"empty dimension value", "flowbus", io.Discard, map[string]string{"function": ""}},
		{"non-ASCII dimension value", "flowbus", io.Discard, map[string]string{"function": "é"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewRecorder(tt.namespace, tt.w, Options{Dims: tt.dims})
			if err == nil || r != nil {
				t.Errorf("NewRecorder returned %v, %v; want an error", r, err)
			}
			if tt.w != nil && !errors.Is(err, ErrInvalidMetric) {
				t.Errorf("error %v does not match ErrInvalidMetric", err)
			}
		})
	}
}

func TestAppendNumber(t *testing.T) {
	tests := []struct {
		v    float64
		want string
	}{
		{0, "0"}, {1, "1"}, {-2.5, "-2.5"}, {1e6, "1000000"}, {1e21, "1e+21"},
		{1e-7, "1e-7"}, {0.000001, "0.000001"}, {123456789.125, "123456789.125"},
	}
	for _, tt := range tests {
		if got := string(appendNumber(nil, tt.v)); got != tt.want {
			t.Errorf("appendNumber(%v) = %s, want %s", tt.v, got, tt.want)
		}
		var back float64
		if err := json.Unmarshal([]byte(tt.want), &back); err != nil || back != tt.v {
			t.Errorf("%s reads back as %v, %v", tt.want, back, err)
		}
	}
}

func TestValidateEMFCatches(t *testing.T) {
	const ok = `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[["d"]],"Metrics":[{"Name":"m","Unit":"Count"}]}]},"d":"v","m":1}`
	if _, err := checkEMF(ok); err != nil {
		t.Fatalf("a valid record refused: %v", err)
	}
	defs := func(n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, `,{"Name":"m%d"}`, i)
		}
		return b.String()[1:]
	}
	targets := func(n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, `,"m%d":1`, i)
		}
		return b.String()
	}
	dims := func(n int) (set, members string) {
		var s, m strings.Builder
		for i := range n {
			fmt.Fprintf(&s, `,"d%d"`, i)
			fmt.Fprintf(&m, `,"d%d":"v"`, i)
		}
		return s.String()[1:], m.String()
	}
	set31, members31 := dims(31)
	tests := []struct{ name, line string }{
		{"not JSON", `{"_aws":`},
		{"two lines", strings.Replace(ok, ",", ",\n", 1)},
		{"data after the object", ok + ` {}`},
		{"no _aws", `{"m":1}`},
		{"no Timestamp", `{"_aws":{"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[[]],"Metrics":[{"Name":"m"}]}]},"m":1}`},
		{"Timestamp in seconds with a fraction", strings.Replace(ok, `"Timestamp":1`, `"Timestamp":1.5`, 1)},
		{"lower-case member", strings.Replace(ok, `"Namespace"`, `"namespace"`, 1)},
		{"extra directive member", strings.Replace(ok, `"Namespace":"n"`, `"Namespace":"n","Extra":1`, 1)},
		{"AWS namespace", strings.Replace(ok, `"Namespace":"n"`, `"Namespace":"AWS/Lambda"`, 1)},
		{"no DimensionSet", strings.Replace(ok, `[["d"]]`, `[]`, 1)},
		{"31 dimensions", `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[[` + set31 + `]],"Metrics":[{"Name":"m"}]}]}` + members31 + `,"m":1}`},
		{"dimension target missing", strings.Replace(ok, `"d":"v",`, ``, 1)},
		{"dimension target a number", strings.Replace(ok, `"d":"v"`, `"d":1`, 1)},
		{"101 metrics", `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[[]],"Metrics":[` + defs(101) + `]}]}` + targets(101) + `}`},
		{"invalid unit", strings.Replace(ok, `"Unit":"Count"`, `"Unit":"ms"`, 1)},
		{"storage resolution 30", strings.Replace(ok, `"Unit":"Count"`, `"Unit":"Count","StorageResolution":30`, 1)},
		{"metric target missing", strings.Replace(ok, `,"m":1`, ``, 1)},
		{"metric target a string", strings.Replace(ok, `"m":1`, `"m":"1"`, 1)},
		{"NaN", strings.Replace(ok, `"m":1`, `"m":NaN`, 1)},
		{"beyond 2^360", strings.Replace(ok, `"m":1`, `"m":1e200`, 1)},
		{"101 values", strings.Replace(ok, `"m":1`, `"m":[`+strings.Repeat("1,", 100)+`1]`, 1)},
		{"empty array", strings.Replace(ok, `"m":1`, `"m":[]`, 1)},
		{"array member a string", strings.Replace(ok, `"m":1`, `"m":[1,"2"]`, 1)},
		{"metric is a dimension", strings.Replace(ok, `{"Name":"m","Unit":"Count"}`, `{"Name":"d","Unit":"Count"}`, 1)},
		{"metric named _aws", strings.Replace(ok, `{"Name":"m","Unit":"Count"}`, `{"Name":"_aws","Unit":"Count"}`, 1)},
		{"metric defined twice", strings.Replace(ok, `{"Name":"m","Unit":"Count"}`, `{"Name":"m"},{"Name":"m"}`, 1)},
		{"member twice", strings.Replace(ok, `"m":1`, `"m":1,"m":2`, 1)},
		{"too big", strings.Replace(ok, `"d":"v"`, `"pad":"`+strings.Repeat("x", MaxRecordBytes)+`","d":"v"`, 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := checkEMF(tt.line); err == nil {
				t.Errorf("checkEMF accepted %.300s", tt.line)
			}
		})
	}
}
