package metrics

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Sample is one line of the Prometheus text format: a metric name, labels and
// value. Samples sharing a metric family (a summary's quantile, _sum and
// _count lines share one) share its Help and Type.
type Sample struct {
	Name   string
	Help   string
	Type   string // "counter", "gauge", "summary" or "untyped" ("" is untyped)
	Labels map[string]string
	Value  float64
}

// family is the samples of one metric name, with their HELP and TYPE.
type family struct {
	name, help, typ string
	lines           []line
}

type line struct {
	name   string
	labels []labelPair // sorted by name, quantile last
	key    string      // labels without quantile, for sorting
	part   int         // summary: 0 quantile, 1 _sum, 2 _count
	q      float64
	value  float64
}

type labelPair struct{ name, value string }

// WritePrometheus writes samples in the Prometheus text exposition format,
// version 0.0.4: families sorted by name, each with one HELP (when given) and
// one TYPE line before its samples; a summary's lines grouped by label set,
// quantiles in order, then _sum and _count. It checks every sample first and
// writes nothing if any is invalid (reporting them all, matching
// ErrInvalidMetric): metric names must match [a-zA-Z_:][a-zA-Z0-9_:]*, label
// names [a-zA-Z_][a-zA-Z0-9_]* without a leading "__", label values be UTF-8,
// summary quantile lines carry a quantile label in [0, 1], and no series
// appear twice.
func WritePrometheus(w io.Writer, samples []Sample) error {
	fams, err := group(samples)
	if err != nil {
		return fmt.Errorf("write prometheus: %w", err)
	}
	var b bytes.Buffer
	for _, f := range fams {
		if f.help != "" {
			fmt.Fprintf(&b, "# HELP %s %s\n", f.name, escapeHelp(f.help))
		}
		fmt.Fprintf(&b, "# TYPE %s %s\n", f.name, f.typ)
		for _, l := range f.lines {
			b.WriteString(l.name)
			if len(l.labels) > 0 {
				b.WriteByte('{')
				for i, p := range l.labels {
					if i > 0 {
						b.WriteByte(',')
					}
					b.WriteString(p.name)
					b.WriteString(`="`)
					b.WriteString(escapeLabel(p.value))
					b.WriteByte('"')
				}
				b.WriteByte('}')
			}
			b.WriteByte(' ')
			b.WriteString(formatValue(l.value))
			b.WriteByte('\n')
		}
	}
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("write prometheus: %w", err)
	}
	return nil
}

// group validates samples and sorts them into families.
func group(samples []Sample) ([]*family, error) {
	var errs []error
	bad := func(s Sample, format string, args ...any) {
		errs = append(errs, fmt.Errorf("sample %q: %s: %w", s.Name, fmt.Sprintf(format, args...), ErrInvalidMetric))
	}
	byName := map[string]*family{}
	owner := map[string]string{} // line name -> family
	seen := map[string]bool{}    // series identity
	for _, s := range samples {
		if !validMetricName(s.Name) {
			bad(s, "name not of [a-zA-Z_:][a-zA-Z0-9_:]*")
			continue
		}
		typ := cmp.Or(s.Type, "untyped")
		if typ != "counter" && typ != "gauge" && typ != "summary" && typ != "untyped" {
			bad(s, "type %q is not counter, gauge, summary or untyped", s.Type)
			continue
		}
		l := line{name: s.Name, value: s.Value}
		_, hasQ := s.Labels["quantile"]
		fam := s.Name
		if typ == "summary" && !hasQ {
			switch {
			case strings.HasSuffix(s.Name, "_sum"):
				fam, l.part = strings.TrimSuffix(s.Name, "_sum"), 1
			case strings.HasSuffix(s.Name, "_count"):
				fam, l.part = strings.TrimSuffix(s.Name, "_count"), 2
			default:
				bad(s, "a summary line needs a quantile label or a _sum or _count suffix")
				continue
			}
		}
		if !validMetricName(fam) {
			bad(s, "family name %q not of [a-zA-Z_:][a-zA-Z0-9_:]*", fam)
			continue
		}
		ok := true
		for name, value := range s.Labels {
			if !validLabelName(name) {
				bad(s, "label name %q not of [a-zA-Z_][a-zA-Z0-9_]* or starts with __", name)
				ok = false
			}
			if !utf8.ValidString(value) {
				bad(s, "label %q: value is not UTF-8", name)
				ok = false
			}
			if name == "quantile" && typ == "summary" {
				q, err := strconv.ParseFloat(value, 64)
				if err != nil || !(q >= 0 && q <= 1) {
					bad(s, "quantile %q is not a number in [0, 1]", value)
					ok = false
				}
				l.q = q
				continue
			}
			l.labels = append(l.labels, labelPair{name, value})
		}
		if !ok {
			continue
		}
		slices.SortFunc(l.labels, func(a, b labelPair) int { return strings.Compare(a.name, b.name) })
		var key strings.Builder
		for _, p := range l.labels {
			key.WriteString(p.name)
			key.WriteByte(0)
			key.WriteString(p.value)
			key.WriteByte(0)
		}
		l.key = key.String()
		if typ == "summary" && l.part == 0 {
			l.labels = append(l.labels, labelPair{"quantile", s.Labels["quantile"]})
		}

		if o, claimed := owner[s.Name]; claimed && o != fam {
			bad(s, "line name belongs to family %q too", o)
			continue
		}
		owner[s.Name] = fam
		id := s.Name + "\x00" + l.key + "\x00" + s.Labels["quantile"]
		if seen[id] {
			bad(s, "series %s appears twice", s.Name+formatLabels(l.labels))
			continue
		}
		seen[id] = true

		f := byName[fam]
		if f == nil {
			if o, claimed := owner[fam]; claimed && o != fam {
				bad(s, "family name %q is a line of family %q", fam, o)
				continue
			}
			f = &family{name: fam, typ: typ}
			byName[fam] = f
		}
		switch {
		case f.typ != typ:
			bad(s, "type %s, but family %q is %s", typ, fam, f.typ)
			continue
		case s.Help != "" && f.help != "" && s.Help != f.help:
			bad(s, "help %q, but family %q has %q", s.Help, fam, f.help)
			continue
		case s.Help != "":
			f.help = s.Help
		}
		f.lines = append(f.lines, l)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	fams := make([]*family, 0, len(byName))
	for _, f := range byName {
		slices.SortFunc(f.lines, func(a, b line) int {
			return cmp.Or(strings.Compare(a.key, b.key), cmp.Compare(a.part, b.part), cmp.Compare(a.q, b.q))
		})
		fams = append(fams, f)
	}
	slices.SortFunc(fams, func(a, b *family) int { return strings.Compare(a.name, b.name) })
	return fams, nil
}

func formatLabels(ls []labelPair) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, p := range ls {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%q", p.name, p.value)
	}
	b.WriteByte('}')
	return b.String()
}

// formatValue writes v as Prometheus clients do: NaN, +Inf, -Inf, or the
// shortest decimal.
func formatValue(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

var (
	labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
)

func escapeLabel(s string) string { return labelEscaper.Replace(s) }
func escapeHelp(s string) string  { return helpEscaper.Replace(s) }

func validMetricName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c == ':' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

func validLabelName(s string) bool {
	if s == "" || strings.HasPrefix(s, "__") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}
