package pattern_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/flowbus/flowbus/shared/pattern"
)

// linear is the slow way the index is held to: every pattern, one by one.
func linear(pats map[string]*pattern.Pattern, doc any) []string {
	var out []string
	for name, p := range pats {
		if p.Match(doc) {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

func TestMatcherSmall(t *testing.T) {
	pats := map[string]*pattern.Pattern{}
	for name, src := range map[string]string{
		"started":      `{"type": ["workflow.started"]}`,
		"n8n":          `{"source": [{"prefix": "/n8n/"}], "type": ["workflow.started", "workflow.done"]}`,
		"big":          `{"type": ["workflow.started"], "data": {"amount": [{"numeric": [">", 100]}]}}`,
		"no-key":       `{"data": {"amount": [{"numeric": [">", 100]}]}}`,
		"not-replayed": `{"replayid": [{"exists": false}]}`,
		"or-keyed":     `{"$or": [{"type": ["x"]}, {"data": {"status": ["running"]}}]}`,
		"or-unkeyed":   `{"$or": [{"type": ["x"]}, {"data": {"status": [{"anything-but": "x"}]}}]}`,
		"other-type":   `{"type": ["workflow.done"], "workflowid": ["wf-42"]}`,
		"nested-or":    `{"data": {"$or": [{"status": ["done"]}, {"owner": {"team": ["billing"]}}]}}`,
		"null":         `{"subject": [null]}`,
		"everything":   `{}`,
	} {
		pats[name] = pattern.MustCompile(src, pattern.EventBridge)
	}
	m := pattern.NewMatcher()
	m.Replace(pats)
	doc, err := pattern.DecodeJSON([]byte(cloudEvent))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"big", "everything", "n8n", "nested-or", "no-key", "not-replayed", "or-keyed", "or-unkeyed", "started"}
	if diff := cmp.Diff(want, m.Match(doc)); diff != "" {
		t.Errorf("Match (-want +got):\n%s", diff)
	}
	m.Remove("big")
	m.Add("other-type", pattern.MustCompile(`{"type": ["workflow.started"], "workflowid": ["wf-42"]}`, pattern.EventBridge))
	want = []string{"everything", "n8n", "nested-or", "no-key", "not-replayed", "or-keyed", "or-unkeyed", "other-type", "started"}
	if diff := cmp.Diff(want, m.Match(doc)); diff != "" {
		t.Errorf("Match after Remove and Add (-want +got):\n%s", diff)
	}
	if got := m.Len(); got != len(pats)-1 {
		t.Errorf("Len() = %d, want %d", got, len(pats)-1)
	}
	if got := pattern.NewMatcher().Match(doc); len(got) != 0 {
		t.Errorf("empty matcher: Match = %v, want none", got)
	}
}

// randomPattern draws from a small vocabulary so that patterns often match
// the random events, with arrays, $or, nesting and every operator.
func randomPattern(r *rand.Rand) string {
	fields := []string{"type", "source", "workflowid", "data"}
	vals := []string{`"a"`, `"b"`, `"ab"`, `1`, `2`, `null`, `true`, `""`}
	leaf := func() string {
		switch r.IntN(9) {
		case 0:
			return `{"prefix": "a"}`
		case 1:
			return `{"anything-but": "a"}`
		case 2:
			return `{"exists": ` + []string{"true", "false"}[r.IntN(2)] + `}`
		case 3:
			return `{"numeric": [">", 1]}`
		case 4:
			return `{"wildcard": "*b"}`
		case 5:
			return `{"prefix": ""}`
		default:
			return vals[r.IntN(len(vals))]
		}
	}
	list := func() string {
		s := "[" + leaf()
		for range r.IntN(3) {
			s += ", " + leaf()
		}
		return s + "]"
	}
	var obj func(depth int) string
	obj = func(depth int) string {
		s := "{"
		n := 1 + r.IntN(2)
		used := map[string]bool{}
		for i := range n {
			f := fields[r.IntN(len(fields))]
			if used[f] {
				continue
			}
			used[f] = true
			if i > 0 && len(used) > 1 {
				s += ", "
			}
			if depth < 2 && r.IntN(4) == 0 {
				s += fmt.Sprintf("%q: %s", f, obj(depth+1))
			} else {
				s += fmt.Sprintf("%q: %s", f, list())
			}
		}
		if depth < 2 && r.IntN(5) == 0 {
			if len(used) > 0 {
				s += ", "
			}
			s += `"$or": [` + obj(depth+1) + ", " + obj(depth+1) + "]"
		}
		return s + "}"
	}
	return obj(0)
}

func randomEvent(r *rand.Rand) string {
	vals := []string{`"a"`, `"b"`, `"ab"`, `"ba"`, `1`, `2`, `null`, `true`, `""`, `["a", "b"]`, `[1, "ab"]`, `[]`}
	var obj func(depth int) string
	obj = func(depth int) string {
		s := "{"
		first := true
		for _, f := range []string{"type", "source", "workflowid", "data"} {
			if r.IntN(4) == 0 {
				continue
			}
			if !first {
				s += ", "
			}
			first = false
			switch {
			case depth < 2 && r.IntN(4) == 0:
				s += fmt.Sprintf("%q: %s", f, obj(depth+1))
			case depth < 2 && r.IntN(8) == 0:
				s += fmt.Sprintf("%q: [%s, %s]", f, obj(depth+1), obj(depth+1))
			default:
				s += fmt.Sprintf("%q: %s", f, vals[r.IntN(len(vals))])
			}
		}
		return s + "}"
	}
	return obj(0)
}

// TestMatcherAgainstLinear holds the index to matching every pattern one by
// one, over random patterns and events.
func TestMatcherAgainstLinear(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	matched := 0
	for round := range 20 {
		pats := map[string]*pattern.Pattern{}
		for i := range 200 {
			src := randomPattern(r)
			p, err := pattern.Compile(src, pattern.EventBridge)
			var pe *pattern.Error
			if errors.As(err, &pe) && pe.Limit == pattern.MaxCombinations {
				continue
			}
			if err != nil {
				t.Fatalf("random pattern %s: %v", src, err)
			}
			pats[fmt.Sprintf("p%03d", i)] = p
		}
		m := pattern.NewMatcher()
		m.Replace(pats)
		for range 200 {
			ev := randomEvent(r)
			doc, err := pattern.DecodeJSON([]byte(ev))
			if err != nil {
				t.Fatalf("random event %s: %v", ev, err)
			}
			got, want := m.Match(doc), linear(pats, doc)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("round %d, event %s (-linear +index):\n%s", round, ev, diff)
			}
			matched += len(got)
		}
	}
	if matched < 20*200 {
		t.Errorf("%d matches in 20 rounds of 200 events: the random patterns test too little", matched)
	}
	t.Logf("%d matches in 20 rounds of 200 events over 200 patterns", matched)
}

// TestMatcherConcurrent: readers match while a writer adds and removes.
func TestMatcherConcurrent(t *testing.T) {
	m := pattern.NewMatcher()
	m.Add("keep", pattern.MustCompile(`{"type": ["workflow.started"]}`, pattern.EventBridge))
	doc, err := pattern.DecodeJSON([]byte(cloudEvent))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var dst []string
			for {
				select {
				case <-stop:
					return
				default:
				}
				dst = m.AppendMatches(dst[:0], doc)
				if len(dst) == 0 || dst[0] != "keep" && dst[len(dst)-1] != "keep" {
					t.Errorf("AppendMatches = %v, want keep among them", dst)
					return
				}
			}
		}()
	}
	for i := range 200 {
		name := fmt.Sprintf("p%d", i)
		m.Add(name, pattern.MustCompile(`{"source": [{"prefix": "/n8n"}]}`, pattern.EventBridge))
		if i%2 == 0 {
			m.Remove(name)
		}
	}
	close(stop)
	wg.Wait()
	if got := m.Len(); got != 101 {
		t.Errorf("Len() = %d, want 101", got)
	}
}

// FuzzMatcher is the differential fuzz of the index: for patterns and
// events drawn from the fuzzer's seeds, the matcher answers what matching
// every pattern one by one answers.
func FuzzMatcher(f *testing.F) {
	f.Add(uint64(1), uint64(2), uint8(50))
	f.Add(uint64(7), uint64(0), uint8(3))
	f.Fuzz(func(t *testing.T, s1, s2 uint64, n uint8) {
		r := rand.New(rand.NewPCG(s1, s2))
		pats := map[string]*pattern.Pattern{}
		for i := range int(n) {
			p, err := pattern.Compile(randomPattern(r), pattern.EventBridge)
			if err != nil {
				continue // too many combinations
			}
			pats[fmt.Sprintf("p%03d", i)] = p
		}
		m := pattern.NewMatcher()
		m.Replace(pats)
		for range 20 {
			ev := randomEvent(r)
			doc, err := pattern.DecodeJSON([]byte(ev))
			if err != nil {
				t.Fatalf("random event %s: %v", ev, err)
			}
			if diff := cmp.Diff(linear(pats, doc), m.Match(doc)); diff != "" {
				t.Fatalf("event %s (-linear +index):\n%s", ev, diff)
			}
		}
	})
}
