package pattern_test

import (
	"fmt"
	"syscall"
	"testing"

	"github.com/flowbus/flowbus/shared/pattern"
)

// benchPatterns returns n subscriptions' patterns as a bus might hold them:
// each constrains type (one of 20) and one or two other fields of its
// tenant t (20 patterns per tenant): a source prefix, a workflow id prefix
// with data.status, or a source prefix with a numeric data.amount.
func benchPatterns(tb testing.TB, n int) map[string]*pattern.Pattern {
	pats := make(map[string]*pattern.Pattern, n)
	for i := range n {
		t, typ := i/20, fmt.Sprintf("order.step%02d", i%20)
		var src string
		switch i % 3 {
		case 0:
			src = fmt.Sprintf(`{"type": [%q], "source": [{"prefix": "/tenant-%d/"}]}`, typ, t)
		case 1:
			src = fmt.Sprintf(`{"type": [%q], "workflowid": [{"prefix": "wf-%d-"}], "data": {"status": ["failed", "done"]}}`, typ, t)
		case 2:
			src = fmt.Sprintf(`{"type": [%q], "source": [{"prefix": "/tenant-%d/"}], "data": {"amount": [{"numeric": [">", 100]}]}}`, typ, t)
		}
		p, err := pattern.Compile(src, pattern.EventBridge)
		if err != nil {
			tb.Fatal(err)
		}
		pats[fmt.Sprintf("sub-%05d", i)] = p
	}
	return pats
}

// benchEvent is of tenant 2, which exists at every size, and matches exactly
// one pattern (sub-00043) at every size.
const benchEvent = `{
  "specversion": "1.0",
  "id": "01J9ZQ4M7X2V8K3N5P6R7S8T9V",
  "source": "/tenant-2/orders",
  "type": "order.step03",
  "time": "2026-11-27T10:00:00Z",
  "workflowid": "wf-2-123",
  "data": {"status": "done", "amount": 250, "customer": "c-17"}
}`

// cpuTime is the CPU time the process has used, in nanoseconds. On a shared
// machine ns/op counts the time the benchmark waited for a core too;
// cpu-ns/op (CPU time over b.N) does not.
func cpuTime(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkMatch: one event against n patterns over 20 event types, through
// the index (the event is decoded once, outside the loop, as the bus decodes
// it once for all subscriptions). linear-1000 matches every pattern one by
// one, for contrast.
func BenchmarkMatch(b *testing.B) {
	doc, err := pattern.DecodeJSON([]byte(benchEvent))
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprintf("patterns=%d", n), func(b *testing.B) {
			m := pattern.NewMatcher()
			m.Replace(benchPatterns(b, n))
			dst := m.AppendMatches(nil, doc)
			if len(dst) != 1 || dst[0] != "sub-00043" {
				b.Fatalf("matches = %v, want [sub-00043]", dst)
			}
			b.ReportAllocs()
			cpu := cpuTime(b)
			for b.Loop() {
				dst = m.AppendMatches(dst[:0], doc)
			}
			b.ReportMetric(float64(cpuTime(b)-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
	b.Run("linear-1000", func(b *testing.B) {
		pats := benchPatterns(b, 1000)
		list := make([]*pattern.Pattern, 0, len(pats))
		for _, p := range pats {
			list = append(list, p)
		}
		b.ReportAllocs()
		cpu := cpuTime(b)
		for b.Loop() {
			for _, p := range list {
				p.Match(doc)
			}
		}
		b.ReportMetric(float64(cpuTime(b)-cpu)/float64(b.N), "cpu-ns/op")
	})
}
