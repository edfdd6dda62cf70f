package metrics

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestWritePrometheusGolden(t *testing.T) {
	samples := []Sample{
		{Name: "flowbus_events_total", Help: "Events consumed.", Type: "counter", Labels: map[string]string{"function": "consume", "event_type": "workflow.started"}, Value: 1027},
		{Name: "flowbus_up", Type: "gauge", Value: 1},
		{Name: "flowbus_events_total", Type: "counter", Labels: map[string]string{"function": "consume", "event_type": "workflow.completed"}, Value: 3},
		{Name: "flowbus_rate", Help: "Events per second,\nby window; C:\\ paths escaped.", Type: "gauge", Labels: map[string]string{"window": "5m"}, Value: 0.25},
		{Name: "flowbus_rate", Type: "gauge", Labels: map[string]string{"window": "1m"}, Value: math.Inf(1)},
		{Name: "flowbus_odd", Type: "", Labels: map[string]string{"path": `C:\dir "quoted"` + "\nnext"}, Value: math.NaN()},
	}
	consume, publish := map[string]string{"function": "consume"}, map[string]string{"function": "publish"}
	samples = append(samples,
		Sample{Name: "flowbus_latency_seconds", Help: "Consume latency.", Type: "summary", Labels: map[string]string{"function": "consume", "quantile": "0.99"}, Value: 0.987453902},
		Sample{Name: "flowbus_latency_seconds", Help: "Consume latency.", Type: "summary", Labels: map[string]string{"function": "consume", "quantile": "0.5"}, Value: 0.500249586},
		Sample{Name: "flowbus_latency_seconds_sum", Help: "Consume latency.", Type: "summary", Labels: consume, Value: 500.5},
		Sample{Name: "flowbus_latency_seconds_count", Help: "Consume latency.", Type: "summary", Labels: consume, Value: 1000},
		Sample{Name: "flowbus_latency_seconds", Type: "summary", Labels: map[string]string{"function": "publish", "quantile": "0.5"}, Value: math.NaN()},
		Sample{Name: "flowbus_latency_seconds_sum", Type: "summary", Labels: publish, Value: 0},
		Sample{Name: "flowbus_latency_seconds_count", Type: "summary", Labels: publish, Value: 0},
	)
	var buf bytes.Buffer
	if err := WritePrometheus(&buf, samples); err != nil {
		t.Fatalf("WritePrometheus: %v", err)
	}
	want := `# HELP flowbus_events_total Events consumed.
# TYPE flowbus_events_total counter
flowbus_events_total{event_type="workflow.completed",function="consume"} 3
flowbus_events_total{event_type="workflow.started",function="consume"} 1027
# HELP flowbus_latency_seconds Consume latency.
# TYPE flowbus_latency_seconds summary
flowbus_latency_seconds{function="consume",quantile="0.5"} 0.500249586
flowbus_latency_seconds{function="consume",quantile="0.99"} 0.987453902
flowbus_latency_seconds_sum{function="consume"} 500.5
flowbus_latency_seconds_count{function="consume"} 1000
flowbus_latency_seconds{function="publish",quantile="0.5"} NaN
flowbus_latency_seconds_sum{function="publish"} 0
flowbus_latency_seconds_count{function="publish"} 0
# TYPE flowbus_odd untyped
flowbus_odd{path="C:\\dir \"quoted\"\nnext"} NaN
# HELP flowbus_rate Events per second,\nby window; C:\\ paths escaped.
# TYPE flowbus_rate gauge
flowbus_rate{window="1m"} +Inf
flowbus_rate{window="5m"} 0.25
# TYPE flowbus_up gauge
flowbus_up 1
`
	if diff := cmp.Diff(want, buf.String()); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
}

func TestEscapeLabel(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{`back\slash`, `back\\slash`},
		{`"quoted"`, `\"quoted\"`},
		{"two\nlines", `two\nlines`},
		{"tab\tand é stay", "tab\tand é stay"},
	}
	for _, tt := range tests {
		if got := escapeLabel(tt.in); got != tt.want {
			t.Errorf("escapeLabel(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestWritePrometheusRefuses(t *testing.T) {
	ok := Sample{Name: "ok", Type: "gauge", Value: 1}
	tests := []struct {
		name    string
		samples []Sample
	}{
		{"empty name", []Sample{{Name: "", Type: "gauge"}}},
		{"name starting with a digit", []Sample{{Name: "1abc", Type: "gauge"}}},
		{"name with a dash", []Sample{{Name: "a-b", Type: "gauge"}}},
		{"name with a dot", []Sample{{Name: "flowbus.events", Type: "counter"}}},
		{"label name with a dash", []Sample{{Name: "a", Type: "gauge", Labels: map[string]string{"event-type": "x"}}}},
		{"reserved label name", []Sample{{Name: "a", Type: "gauge", Labels: map[string]string{"__name__": "x"}}}},
		{"label name starting with a digit", []Sample{{Name: "a", Type: "gauge", Labels: map[string]string{"1a": "x"}}}},
		{"label value not UTF-8", []Sample{{Name: "a", Type: "gauge", Labels: map[string]string{"a": "\xff"}}}},
		{"unknown type", []Sample{{Name: "a", Type: "histogram"}}},
		{"summary _sum of no name", []Sample{{Name: "_sum", Type: "summary"}}},
		{"summary line without quantile or suffix", []Sample{{Name: "a", Type: "summary"}}},
		{"quantile over 1", []Sample{{Name: "a", Type: "summary", Labels: map[string]string{"quantile": "1.5"}}}},
		{"quantile not a number", []Sample{{Name: "a", Type: "summary", Labels: map[string]string{"quantile": "p99"}}}},
		{"series twice", []Sample{{Name: "a", Type: "gauge", Labels: map[string]string{"x": "1"}}, {Name: "a", Type: "gauge", Labels: map[string]string{"x": "1"}}}},
		{"two types", []Sample{{Name: "a", Type: "gauge"}, {Name: "a", Type: "counter", Labels: map[string]string{"x": "1"}}}},
		{"two helps", []Sample{{Name: "a", Help: "one", Type: "gauge"}, {Name: "a", Help: "two", Type: "gauge", Labels: map[string]string{"x": "1"}}}},
		{"a counter named as a summary's _sum", []Sample{{Name: "a_sum", Type: "counter"}, {Name: "a_sum", Type: "summary"}}},
		{"a summary's _count after a counter of that name", []Sample{{Name: "b_count", Type: "counter"}, {Name: "b", Type: "summary", Labels: map[string]string{"quantile": "0.5"}}, {Name: "b_count", Type: "summary"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := WritePrometheus(&buf, append([]Sample{ok}, tt.samples...))
			if !errors.Is(err, ErrInvalidMetric) {
				t.Errorf("WritePrometheus error %v, want ErrInvalidMetric", err)
			}
			if buf.Len() > 0 {
				t.Errorf("wrote %q despite the error", buf.String())
			}
		})
	}
}

func TestWritePrometheusReportsEveryProblem(t *testing.T) {
	err := WritePrometheus(&bytes.Buffer{}, []Sample{{Name: "a-b", Type: "gauge"}, {Name: "c", Type: "gauge", Labels: map[string]string{"d-e": "1"}}})
	for _, want := range []string{`"a-b"`, `"d-e"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
}
