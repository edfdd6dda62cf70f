package jsonscan

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// walk reads one document with the Scanner's token API and returns its
// tokens as encoding/json's Decoder.Token gives them (with UseNumber):
// json.Delim, string (keys too), json.Number, bool and nil.
func walk(s *Scanner) ([]any, error) { return walkKnown(s, nil) }

// knownKeys are the keys walkKnown asks NextKeyIn for.
var knownKeys = []string{"type", "a", "k", "Records", "data", ""}

// walkKnown is walk reading keys with NextKeyIn(known) when known is not nil.
func walkKnown(s *Scanner, known []string) ([]any, error) {
	var toks []any
	if err := walkValue(s, &toks, known); err != nil {
		return nil, err
	}
	if err := s.End(); err != nil {
		return nil, err
	}
	return toks, nil
}

func walkValue(s *Scanner, toks *[]any, known []string) error {
	switch c := s.Peek(); {
	case c == '{':
		if err := s.BeginObject(); err != nil {
			return err
		}
		*toks = append(*toks, json.Delim('{'))
		hint := 0
		for first := true; ; first = false {
			var key []byte
			var more bool
			var err error
			if known == nil {
				key, more, err = s.NextKey(first)
			} else {
				var idx int
				idx, key, more, err = s.NextKeyIn(first, known, hint)
				if idx >= 0 {
					if key != nil && string(key) != known[idx] {
						return fmt.Errorf("NextKeyIn: key %q at index %d (%q)", key, idx, known[idx])
					}
					key = []byte(known[idx])
					hint = idx + 1
				} else if more && key == nil {
					return errors.New("NextKeyIn: no index and no key")
				}
			}
			if err != nil {
				return err
			}
			if !more {
				*toks = append(*toks, json.Delim('}'))
				return nil
			}
			*toks = append(*toks, string(key))
			if err := walkValue(s, toks, known); err != nil {
				return err
			}
		}
	case c == '[':
		if err := s.BeginArray(); err != nil {
			return err
		}
		*toks = append(*toks, json.Delim('['))
		for first := true; ; first = false {
			more, err := s.NextElement(first)
			if err != nil {
				return err
			}
			if !more {
				*toks = append(*toks, json.Delim(']'))
				return nil
			}
			if err := walkValue(s, toks, known); err != nil {
				return err
			}
		}
	case c == '"':
		// RawString and AppendUnquoted must agree with StringBytes.
		at := s.Offset()
		raw, plain, err := s.RawString()
		if err != nil {
			return err
		}
		end := s.Offset()
		s.Seek(at)
		v, err := s.StringBytes()
		if err != nil || s.Offset() != end {
			return fmt.Errorf("StringBytes after RawString: offset %d, want %d, error %v", s.Offset(), end, err)
		}
		if plain && !bytes.Equal(v, raw) || !plain && !bytes.Equal(v, AppendUnquoted(nil, raw)) {
			return fmt.Errorf("StringBytes %q, RawString %q plain %v", v, raw, plain)
		}
		*toks = append(*toks, string(v))
	case c == 'n':
		if !s.Null() {
			_, err := s.Value()
			return err
		}
		*toks = append(*toks, nil)
	case c == 't' || c == 'f':
		v, err := s.Value()
		if err != nil {
			return err
		}
		*toks = append(*toks, string(v) == "true")
	case c == '-' || c >= '0' && c <= '9':
		v, err := s.Number()
		if err != nil {
			return err
		}
		*toks = append(*toks, json.Number(v))
	default:
		_, err := s.Value() // an error
		if err == nil {
			return fmt.Errorf("Value accepted a value starting with %q", c)
		}
		return err
	}
	return nil
}

// stdTokens is what encoding/json's Decoder.Token makes of a valid document.
func stdTokens(t *testing.T, b []byte) []any {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var toks []any
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return toks
		}
		if err != nil {
			t.Fatalf("encoding/json Token on %q, which it calls valid: %v", b, err)
		}
		toks = append(toks, tok)
	}
}

// tree builds the value tokens describe as encoding/json's Unmarshal into
// any does: objects as maps, where a key given twice keeps its last value.
func tree(toks []any) (any, []any) {
	switch tok := toks[0].(type) {
	case json.Delim:
		if tok == '{' {
			m := map[string]any{}
			toks = toks[1:]
			for {
				if d, ok := toks[0].(json.Delim); ok && d == '}' {
					return m, toks[1:]
				}
				key := toks[0].(string)
				m[key], toks = tree(toks[1:])
			}
		}
		a := []any{}
		toks = toks[1:]
		for {
			if d, ok := toks[0].(json.Delim); ok && d == ']' {
				return a, toks[1:]
			}
			var v any
			v, toks = tree(toks)
			a = append(a, v)
		}
	default:
		return tok, toks[1:]
	}
}

// check holds the Scanner to encoding/json on one input: the same
// accept/reject, the same tokens (strings unescaped, numbers as text, keys
// in order, given twice or not), the same value when duplicate keys
// collapse, whitespace and trailing data handled alike. With
// Options.ValidUTF8 it accepts what encoding/json accepts that is valid
// UTF-8.
func check(t *testing.T, b []byte) {
	t.Helper()
	valid := json.Valid(b)
	got, err := walk(New(b))
	if err != nil {
		var se *SyntaxError
		if !errors.As(err, &se) || !errors.Is(err, ErrSyntax) {
			t.Fatalf("walk(%q): error %v (%T) is not a *SyntaxError", b, err, err)
		}
		if se.Offset < 0 || se.Offset > len(b) {
			t.Fatalf("walk(%q): error offset %d outside the input", b, se.Offset)
		}
	}
	if (err == nil) != valid {
		t.Fatalf("walk(%q): error %v; encoding/json valid: %v", b, err, valid)
	}

	// Value skips what walk reads, to the same end.
	s := New(b)
	raw, verr := s.Value()
	if verr == nil {
		verr = s.End()
	}
	if (verr == nil) != valid {
		t.Fatalf("Value(%q): error %v; encoding/json valid: %v", b, verr, valid)
	}
	if verr == nil && !bytes.Equal(raw, bytes.Trim(b, " \t\r\n")) {
		t.Fatalf("Value(%q) = %q, want the input without surrounding space", b, raw)
	}

	gotKnown, err := walkKnown(New(b), knownKeys)
	if (err == nil) != valid {
		t.Fatalf("walk(%q) with NextKeyIn: error %v; encoding/json valid: %v", b, err, valid)
	}

	strict := valid && utf8.Valid(b)
	if _, err := walk(NewOptions(b, Options{ValidUTF8: true})); (err == nil) != strict {
		t.Fatalf("walk(%q) with ValidUTF8: error %v; want valid: %v", b, err, strict)
	}
	if !valid {
		return
	}

	want := stdTokens(t, b)
	if diff := cmp.Diff(got, want); diff != "" {
		t.Fatalf("tokens of %q differ from encoding/json's (-got +want):\n%s", b, diff)
	}
	if diff := cmp.Diff(gotKnown, want); diff != "" {
		t.Fatalf("tokens of %q read with NextKeyIn differ from encoding/json's (-got +want):\n%s", b, diff)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var wantTree any
	if err := dec.Decode(&wantTree); err != nil {
		t.Fatalf("encoding/json Decode(%q): %v", b, err)
	}
	gotTree, _ := tree(got)
	if diff := cmp.Diff(gotTree, wantTree); diff != "" {
		t.Fatalf("value of %q differs from encoding/json's (-got +want):\n%s", b, diff)
	}
}

var seeds = []string{
	`{"type":"workflow.started","workflow_id":"123","data":{"a":[1,2.5,-0,1e3,1E-2,{"b":null}],"t":true,"f":false}}`,
	`[{"specversion":"1.0","id":"x","data_base64":"AAEC","ext":"\u00e9\ud83d\ude00"}, []]`,
	` {"a" : 1 ,"a":2, "b":{"a":[]}} `,
	"\t\r\n[ ]\n",
	`"\"\\\/\b\f\n\r\t\u0041\u00e9\u20ac\ud834\udd1e"`,
	`"\ud800" "x"`,
	`["\ud800\u0041","\udc00\ud800","\ud800\ud800\udc00","\uD83D\uDE00"]`,
	"\"\xff\xe2\x82 \xed\xa0\x80 \xc0\xaf\"",
	`{"\u006b":1,"k":2}`,
	`-0.0e+00`,
	`01`,
	`1.`,
	`.5`,
	`+1`,
	`[1,]`,
	`{"a":1,}`,
	`{"a" 1}`,
	`[1 2]`,
	`{"a":1}}`,
	`tru`,
	`nul`,
	`"abc`,
	`"\x"`,
	`"\u12g4"`,
	"\"a\tb\"",
	`{} x`,
	``,
	`  `,
	`[[[[[[[[[[]]]]]]]]]]`,
	`{"a":[{"b":{"c":[null,true,"x"]}}]}`,
	"\x00",
	`NaN`,
	`"` + strings.Repeat("abcdefgh", 5) + `\n` + strings.Repeat("é", 9) + `"`,
}

func FuzzScanner(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		check(t, b)
	})
}

func TestScannerMatchesEncodingJSON(t *testing.T) {
	for _, s := range seeds {
		check(t, []byte(s))
	}
}

func TestStrings(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		plain    bool
	}{
		{`""`, "", true},
		{`"abc"`, "abc", true},
		{`"été 日本"`, "été 日本", true},
		{`"a\"b\\c\/d"`, `a"b\c/d`, false},
		{`"\b\f\n\r\t"`, "\b\f\n\r\t", false},
		{`"\u0041\u00e9\u20AC"`, "Aé€", false},
		{`"\ud83d\ude00"`, "😀", false},
		{`"\ud800"`, "\ufffd", false},
		{`"\ud800x"`, "\ufffdx", false},
		{`"\udc00\ud800"`, "\ufffd\ufffd", false},
		{`"\ud800\u0041"`, "\ufffdA", false},
		{`"\ud800\ud800\udc00"`, "\ufffd\U00010000", false},
		{`"\u0000"`, "\x00", false},
		{"\"a\xffb\"", "a\ufffdb", false},
		{"\"\xed\xa0\x80\"", "\ufffd\ufffd\ufffd", false}, // an encoded surrogate
		{"\"\xc0\xaf\"", "\ufffd\ufffd", false},           // overlong
		{"\"\xe2\x82\"", "\ufffd\ufffd", false},           // truncated
		{`"` + strings.Repeat("x", 100) + `"`, strings.Repeat("x", 100), true},
	} {
		raw, plain, err := New([]byte(tc.in)).RawString()
		if err != nil {
			t.Errorf("RawString(%q): %v", tc.in, err)
			continue
		}
		if plain != tc.plain {
			t.Errorf("RawString(%q): plain = %v, want %v", tc.in, plain, tc.plain)
		}
		got, err := New([]byte(tc.in)).String()
		if err != nil || got != tc.want {
			t.Errorf("String(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
		if u := string(AppendUnquoted(nil, raw)); u != tc.want {
			t.Errorf("AppendUnquoted(%q) = %q, want %q", raw, u, tc.want)
		}
		var std string
		if err := json.Unmarshal([]byte(tc.in), &std); err != nil || std != tc.want {
			t.Errorf("encoding/json reads %q as %q, %v; the table says %q", tc.in, std, err, tc.want)
		}
	}
}

func TestSyntaxErrors(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want SyntaxError
	}{
		{``, SyntaxError{0, "JSON value", "end of input"}},
		{` x`, SyntaxError{1, "JSON value", "'x'"}},
		{`{"a":1 "b":2}`, SyntaxError{7, "',' or '}' after object member", `'"'`}},
		{`{"a":1,}`, SyntaxError{7, "'\"' starting object key", "'}'"}},
		{`{a:1}`, SyntaxError{1, "'\"' starting object key or '}'", "'a'"}},
		{`{"a" 1}`, SyntaxError{5, "':' after object key", "'1'"}},
		{`[1 2]`, SyntaxError{3, "',' or ']' after array element", "'2'"}},
		{`[1,]`, SyntaxError{3, "JSON value", "']'"}},
		{`[1`, SyntaxError{2, "',' or ']' after array element", "end of input"}},
		{`01`, SyntaxError{1, "end of input", "'1'"}},
		{`1.`, SyntaxError{2, "digit after decimal point", "end of input"}},
		{`1e+`, SyntaxError{3, "digit in exponent", "end of input"}},
		{`-`, SyntaxError{1, "digit", "end of input"}},
		{`tru`, SyntaxError{3, `"true"`, "end of input"}},
		{`nulL`, SyntaxError{3, `"null"`, "'L'"}},
		{`"abc`, SyntaxError{4, `'"' ending string`, "end of input"}},
		{`"\x"`, SyntaxError{2, "escape character", "'x'"}},
		{`"\u12g4"`, SyntaxError{5, `hexadecimal digit in \u escape`, "'g'"}},
		{"\"a\tb\"", SyntaxError{2, "string character (control characters must be escaped)", "byte 0x09"}},
		{`{} x`, SyntaxError{3, "end of input", "'x'"}},
	} {
		_, err := walk(New([]byte(tc.in)))
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("walk(%q): error %v, want a *SyntaxError", tc.in, err)
			continue
		}
		if diff := cmp.Diff(*se, tc.want); diff != "" {
			t.Errorf("walk(%q) (-got +want):\n%s", tc.in, diff)
		}
	}
	err := New([]byte(`{"a":1}`)).Unexpected("an array")
	if got, want := err.Error(), `offset 0: expected an array, found '{'`; got != want {
		t.Errorf("Unexpected: %q, want %q", got, want)
	}
}

func TestValidUTF8(t *testing.T) {
	in := "{\"k\":\"ok\",\"v\":\"ab\xffc\"}"
	_, err := walk(NewOptions([]byte(in), Options{ValidUTF8: true}))
	var se *SyntaxError
	if !errors.As(err, &se) || *se != (SyntaxError{17, "valid UTF-8 in string", "byte 0xff"}) {
		t.Errorf("ValidUTF8: error %v, want offset 17", err)
	}
	if _, err := walk(New([]byte(in))); err != nil {
		t.Errorf("without ValidUTF8: %v", err)
	}
}

func TestNesting(t *testing.T) {
	nest := func(n int) []byte {
		return []byte(strings.Repeat(`[{"a":`, n/2) + strings.Repeat("[", n%2) + "1" + strings.Repeat("]", n%2) + strings.Repeat("}]", n/2))
	}
	for _, tc := range []struct {
		depth, max int
		ok         bool
	}{
		{MaxDepth, 0, true},
		{MaxDepth + 1, 0, false},
		{1000, 1000, true},
		{1001, 1000, false},
		{3, 2, false},
	} {
		b := nest(tc.depth)
		if tc.max == 0 && json.Valid(b) != tc.ok {
			t.Fatalf("depth %d: encoding/json valid %v, the table says %v", tc.depth, !tc.ok, tc.ok)
		}
		opts := Options{MaxDepth: tc.max}
		_, err := walk(NewOptions(b, opts))
		s := NewOptions(b, opts)
		_, verr := s.Value()
		if (err == nil) != tc.ok || (verr == nil) != tc.ok {
			t.Errorf("depth %d, MaxDepth %d: walk error %v, Value error %v; want ok %v", tc.depth, tc.max, err, verr, tc.ok)
		}
		if !tc.ok && (err == nil || !strings.Contains(err.Error(), "nesting depth at most")) {
			t.Errorf("depth %d: error %v does not name the nesting limit", tc.depth, err)
		}
	}
	// Depth counts from the top: a value read with Value inside an object
	// opened with BeginObject is one level deeper.
	s := NewOptions([]byte(`{"a":[[1]]}`), Options{MaxDepth: 2})
	if err := s.BeginObject(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.NextKey(true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Value(); err == nil {
		t.Error("Value at depth 3 accepted with MaxDepth 2")
	}
	// Reset starts again at the top and keeps the options.
	s.Reset([]byte(`[[1]]`))
	if _, err := s.Value(); err != nil {
		t.Errorf("after Reset: %v", err)
	}
	s.Reset([]byte(`[[[1]]]`))
	if _, err := s.Value(); err == nil {
		t.Error("after Reset: depth 3 accepted with MaxDepth 2")
	}
}

func TestSkimString(t *testing.T) {
	for _, tc := range []struct {
		in, raw string
		plain   bool
		err     bool
	}{
		{`"QUJD" x`, "QUJD", true, false},
		{"\"A\x01\xff\"", "A\x01\xff", true, false}, // not checked: the caller does
		{`"A\nB"`, `A\nB`, false, false},
		{`"A\qB"`, "", false, true},
		{`"AB`, "", false, true},
		{`12`, "", false, true},
	} {
		s := New([]byte(tc.in))
		raw, plain, err := s.SkimString()
		if (err != nil) != tc.err || string(raw) != tc.raw || plain != tc.plain {
			t.Errorf("SkimString(%q) = %q, %v, %v; want %q, %v, error %v", tc.in, raw, plain, err, tc.raw, tc.plain, tc.err)
		}
		if err == nil && s.Offset() != len(tc.raw)+2 {
			t.Errorf("SkimString(%q): offset %d after", tc.in, s.Offset())
		}
	}
}

func TestNumber(t *testing.T) {
	for _, in := range []string{"0", "-0", "12", "-1.5", "1e9", "1E+2", "2.5e-3", "123456789012345678901234567890"} {
		s := New([]byte(" " + in + " ,"))
		got, err := s.Number()
		if err != nil || string(got) != in {
			t.Errorf("Number(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "-", "+1", ".5", "1.", "1e", "x"} {
		if got, err := New([]byte(in)).Number(); err == nil {
			t.Errorf("Number(%q) = %q, want an error", in, got)
		}
	}
}

func TestKeysReuseTheirBuffer(t *testing.T) {
	s := New([]byte(`{"\u0061":1,"b\n":2,"c":3}`))
	if err := s.BeginObject(); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for first := true; ; first = false {
		k, more, err := s.NextKey(first)
		if err != nil {
			t.Fatal(err)
		}
		if !more {
			break
		}
		keys = append(keys, string(k))
		if _, err := s.Value(); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff(keys, []string{"a", "b\n", "c"}); diff != "" {
		t.Errorf("keys (-got +want):\n%s", diff)
	}
	// Reading keys, escaped or not, and skipping values allocates nothing
	// once the key buffer has grown.
	doc := []byte(`{"\u0061":1,"b\n":[2,"\u00e9"],"c":{"d\t":true}}`)
	if n := testing.AllocsPerRun(100, func() {
		s.Reset(doc)
		if err := s.BeginObject(); err != nil {
			t.Fatal(err)
		}
		for first := true; ; first = false {
			_, more, err := s.NextKey(first)
			if err != nil {
				t.Fatal(err)
			}
			if !more {
				break
			}
			if _, err := s.Value(); err != nil {
				t.Fatal(err)
			}
		}
	}); n != 0 {
		t.Errorf("%v allocations per document", n)
	}
}

// TestSpecial checks the word-at-a-time test str relies on: the lowest
// flagged byte is the first control character, '"' or '\\'.
func TestSpecial(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	interesting := []byte{0, 1, 0x1f, 0x20, 0x21, '"', '\\', 0x7f, 0x80, 0xa2, 0xdc, 0xff, 'a'}
	var w [8]byte
	for n := 0; n < 1_000_000; n++ {
		for i := range w {
			if rng.IntN(2) == 0 {
				w[i] = interesting[rng.IntN(len(interesting))]
			} else {
				w[i] = byte(rng.Uint32())
			}
		}
		want := 8
		for i, c := range w {
			if c < 0x20 || c == '"' || c == '\\' {
				want = i
				break
			}
		}
		m := special(binary.LittleEndian.Uint64(w[:]))
		got := bits.TrailingZeros64(m) >> 3
		if m == 0 {
			got = 8
		}
		if got != want {
			t.Fatalf("special(% x): first special byte %d, want %d", w, got, want)
		}
	}
}

func TestLoneSurrogate(t *testing.T) {
	for _, tc := range []struct {
		text string
		want bool
	}{
		{``, false},
		{`plain text`, false},
		{`\ud83d\ude00`, false},
		{`\uD83D\uDE00 and \u00e9`, false},
		{`\ud800`, true},
		{`x\udc00`, true},
		{`\ud800\u0041`, true},
		{`\ud800\ud800\udc00`, true},
		{`\udc00\ud800`, true},
		{`\\ud800`, false}, // an escaped backslash, then text
		{`\\\ud800`, true},
		{`{"k":"\ud83d\ude00","v":["\udfff"]}`, true},
		{`{"k":"\ud83d\ude00"}`, false},
		{`\ud80`, false}, // not an escape a scanner accepts
	} {
		if got := LoneSurrogate([]byte(tc.text)); got != tc.want {
			t.Errorf("LoneSurrogate(%q) = %v, want %v", tc.text, got, tc.want)
		}
	}
}

// BenchmarkValueString is Value reading a string of 1,010 ASCII bytes (the
// data of a 1 KB event), 24 short strings, a string of 300 escapes, and one
// of 500 two-byte characters, with the event codec's options.
func BenchmarkValueString(b *testing.B) {
	for _, tc := range []struct{ name, in string }{
		{"1KB", `"` + strings.Repeat("x", 1010) + `"`},
		{"short", `["` + strings.Repeat(`workflow.step.completed","`, 23) + `order-0001"]`},
		{"escaped", `"` + strings.Repeat(`x\n`, 300) + `"`},
		{"utf8", `"` + strings.Repeat("é", 500) + `"`},
	} {
		b.Run(tc.name, func(b *testing.B) {
			in := []byte(tc.in)
			s := NewOptions(in, Options{ValidUTF8: true})
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				s.Reset(in)
				if _, err := s.Value(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestScanPlain puts a control character or a byte of 0x80 or more at
// every position of strings of every length up to 40 and holds scanPlain to
// a byte loop.
func TestScanPlain(t *testing.T) {
	for n := range 41 {
		for p := range n {
			for _, bad := range []byte{0x00, 0x1f, 0x80, 0xff, 'x'} {
				b := bytes.Repeat([]byte{'x'}, n)
				b[p] = bad
				wantCtl, wantHi := false, false
				for _, c := range b {
					wantCtl = wantCtl || c < 0x20
					wantHi = wantHi || c >= 0x80
				}
				ctl, hi := scanPlain(b)
				if (ctl != 0) != wantCtl || (hi != 0) != wantHi {
					t.Errorf("scanPlain(%q) = %#x, %#x; want control %v, high %v", b, ctl, hi, wantCtl, wantHi)
				}
			}
		}
	}
}

// TestLongStrings holds the Scanner to encoding/json (check) on strings
// long enough for str's strides, with an escape, an escaped quote, a raw
// control character, invalid UTF-8 or a two-byte character at every
// position, and a string that never ends.
func TestLongStrings(t *testing.T) {
	for _, n := range []int{31, 32, 33, 40, 47, 48, 49, 63, 64, 65, 100} {
		for p := 0; p <= n; p++ {
			for _, ins := range []string{`\n`, `\"`, `\\`, `\u00e9`, "\x01", "\x1f", "\xff", "é", `"`} {
				in := `"` + strings.Repeat("a", p) + ins + strings.Repeat("b", n-p) + `"`
				check(t, []byte(in))
				check(t, []byte(`[`+in+`,"`+strings.Repeat("c", n)+`"]`))
			}
		}
		check(t, []byte(`"`+strings.Repeat("a", n)))
		check(t, []byte(`"`+strings.Repeat("a", n)+`\"`))
	}
}
