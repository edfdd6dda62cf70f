package event

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Probes of the Interner's per-slot recent values (67a5830) and Copy
// (e4bd9ff): whatever the sequence, a value handed out equals the bytes
// asked for, and stays so when those bytes are overwritten afterwards.

func TestProbeStringAtNeverAnotherValue(t *testing.T) {
	values := []string{"", "a", "b", "ab", "ba", "a ", "order.placed", "order.placed2", "/src", "w1", "w12", strings.Repeat("x", 300)}
	rnd := rand.New(rand.NewPCG(1, 2))
	in := NewInterner()
	scratch := make([]byte, 0, 512)
	type handed struct{ got, want string }
	var all []handed
	check := func(slot int, v string) {
		t.Helper()
		// The caller's bytes live in one reused buffer, as a decoder's do.
		scratch = append(scratch[:0], v...)
		got := in.stringAt(slot, scratch)
		if got != v {
			t.Fatalf("stringAt(%d, %q) = %q", slot, v, got)
		}
		all = append(all, handed{got, v})
		for i := range scratch {
			scratch[i] = '#'
		}
	}
	// Patterns: repeats, alternation in one slot, one value in every
	// slot, empty strings first and between.
	for slot := range numSlots {
		check(slot, "")
	}
	for range 3 {
		check(slotType, "a")
		check(slotType, "b")
	}
	for slot := range numSlots {
		check(slot, "w1")
	}
	check(slotSource, "w12")
	check(slotWorkflow, "")
	check(slotWorkflow, "w1")
	for range 5000 {
		check(rnd.IntN(numSlots), values[rnd.IntN(len(values))])
	}
	// Past maxInterned distinct values, the map stops growing; the recent
	// values still answer right.
	for i := range maxInterned + 50 {
		v := fmt.Sprint("v", i)
		check(i%numSlots, v)
		check(i%numSlots, v)
		check((i+1)%numSlots, values[i%len(values)])
	}
	for _, h := range all {
		if h.got != h.want {
			t.Fatalf("a value handed out changed to %q, want %q", h.got, h.want)
		}
	}
	var nilIn *Interner
	if got := nilIn.stringAt(slotType, []byte("x")); got != "x" {
		t.Errorf("nil Interner stringAt = %q, want x", got)
	}
}

func TestProbeCopyKeepsValues(t *testing.T) {
	in := NewInterner()
	rnd := rand.New(rand.NewPCG(3, 4))
	scratch := make([]byte, 0, 2*copyChunk)
	type handed struct{ got, want string }
	var all []handed
	sizes := []int{0, 1, 26, copyChunk/4 - 1, copyChunk / 4, copyChunk/4 + 1, copyChunk, 2 * copyChunk}
	for i := range 3000 {
		n := rnd.IntN(40)
		if i%50 == 0 {
			n = sizes[(i/50)%len(sizes)]
		}
		want := make([]byte, n)
		for j := range want {
			want[j] = byte('a' + rnd.IntN(26))
		}
		scratch = append(scratch[:0], want...)
		got := in.Copy(scratch)
		for j := range scratch {
			scratch[j] = '#'
		}
		if got != string(want) {
			t.Fatalf("Copy of %d bytes = %q, want %q", n, got, want)
		}
		all = append(all, handed{got, string(want)})
	}
	for i, h := range all {
		if h.got != h.want {
			t.Fatalf("value %d handed out changed to %q, want %q", i, h.got, h.want)
		}
	}
}

// A batch decoded with an Interner is the batch decoded without one:
// sources, types and workflow ids that alternate, repeat, are empty, are
// written with escapes or equal another attribute's value.
func TestProbeInternedDecodeMatchesPlain(t *testing.T) {
	strs := []string{``, `a`, `b`, `tA`, `t\u0041`, `w1`, `w\u0031`, `order.placed`, `x\"y`, `\u00e9`, `é`}
	rnd := rand.New(rand.NewPCG(5, 6))
	valid := 0
	for round := range 200 {
		var b strings.Builder
		b.WriteByte('[')
		n := 1 + rnd.IntN(30)
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			pick := func() string { return strs[rnd.IntN(len(strs))] }
			fmt.Fprintf(&b, `{"specversion":"1.0","id":"id-%d-%d%s","source":"%s","type":"%s","workflowid":"%s","time":"2026-12-01T00:00:00Z","data":{"n":%d}}`,
				round, i, pick(), pick(), pick(), pick(), i)
		}
		b.WriteByte(']')
		body := []byte(b.String())
		plain, perr := DecodeBatch(body, DecodeOptions{Wire: true}, false, 0)
		interned, ierr := DecodeBatch(body, DecodeOptions{Wire: true, Intern: NewInterner()}, false, 0)
		if (perr == nil) != (ierr == nil) {
			t.Fatalf("round %d: errors differ: plain %v, interned %v", round, perr, ierr)
		}
		if len(plain) != len(interned) {
			t.Fatalf("round %d: %d items plain, %d interned", round, len(plain), len(interned))
		}
		for i := range plain {
			if diff := cmp.Diff(plain[i].Event, interned[i].Event); diff != "" {
				t.Fatalf("round %d item %d (-plain +interned):\n%s", round, i, diff)
			}
			if fmt.Sprint(plain[i].Err) != fmt.Sprint(interned[i].Err) {
				t.Fatalf("round %d item %d: error %v plain, %v interned", round, i, plain[i].Err, interned[i].Err)
			}
			if e := interned[i].Event; interned[i].Err == nil && e.Type != "" && e.WorkflowID != "" {
				valid++
			}
		}
	}
	if valid < 100 {
		t.Errorf("%d valid events with a type and workflow id decoded, want at least 100: the probe tests little", valid)
	}
}
