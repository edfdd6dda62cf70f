package pattern

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Match reports whether doc, a decoded JSON document (see DecodeJSON; maps,
// slices, strings, bools, nil and json.Number, float64 or int numbers),
// matches the pattern.
//
// The rules are EventBridge's: every field of the pattern must match, a field
// matches when any of its rules matches, and a value that is an array matches
// when any of its elements does (arrays are "crushed out", and a nested
// pattern object must match within one element). Only leaves (strings,
// numbers, booleans, null) are values: a field holding an object, or an empty
// array, counts as absent, so only {"exists": false} matches it.
func (p *Pattern) Match(doc any) bool { return p.root.match(doc, nil, "") }

// MatchJSON decodes b and matches it.
func (p *Pattern) MatchJSON(b []byte) (bool, error) {
	doc, err := DecodeJSON(b)
	if err != nil {
		return false, err
	}
	return p.Match(doc), nil
}

// Result is a match with, when it failed, the first field that did not
// match: its dotted path and why.
type Result struct {
	Match  bool
	Field  string
	Reason string
}

// Explain matches doc as Match does and says where it failed.
func (p *Pattern) Explain(doc any) Result {
	var t trace
	if p.root.match(doc, &t, "") {
		return Result{Match: true}
	}
	return Result{Field: t.field, Reason: t.reason}
}

// Test compiles an EventBridge pattern and explains its match against event,
// any JSON object (what POST /patterns/test and EventBridge's
// TestEventPattern take). An invalid pattern is an *Error; an event that is
// not a JSON object is ErrEventNotObject or a JSON syntax error.
func Test(pattern string, event []byte) (Result, error) {
	p, err := Compile(pattern, EventBridge)
	if err != nil {
		return Result{}, err
	}
	doc, err := DecodeJSON(event)
	if err != nil {
		return Result{}, fmt.Errorf("%w: %w", ErrEventNotObject, err)
	}
	if _, ok := doc.(map[string]any); !ok {
		return Result{}, ErrEventNotObject
	}
	return p.Explain(doc), nil
}

// ErrEventNotObject is an event to test that is not a JSON object.
var ErrEventNotObject = errors.New("the event must be a JSON object")

// trace records the first field that failed. A nil *trace records nothing:
// alternatives ($or, array elements) are tried without one.
type trace struct {
	field, reason string
}

func (t *trace) fail(path, format string, args ...any) {
	if t != nil && t.field == "" {
		t.field, t.reason = path, fmt.Sprintf(format, args...)
	}
}

func (o *object) match(v any, t *trace, path string) bool {
	m, _ := v.(map[string]any)
	for i := range o.fields {
		if !o.fields[i].match(m, t, path) {
			return false
		}
	}
	if len(o.or) > 0 {
		for _, a := range o.or {
			if a.match(v, nil, "") {
				return true
			}
		}
		t.fail(joinPath(path, "$or"), "none of its %d alternatives matched", len(o.or))
		return false
	}
	return true
}

func (f *field) match(m map[string]any, t *trace, path string) bool {
	v, present := m[f.name]
	if f.nested != nil {
		return matchNested(f.nested, v, t, path, f.name)
	}
	var buf [8]value
	leaves := buf[:0]
	if present {
		leaves = appendLeaves(leaves, v)
	}
	for i := range f.rules {
		if f.rules[i].match(leaves) {
			return true
		}
	}
	if t != nil {
		p := joinPath(path, f.name)
		switch {
		case len(leaves) == 0:
			t.fail(p, "the field is absent (or holds no value)")
		case len(leaves) == 1:
			t.fail(p, "the value %s matches none of the field's %d rules", leaves[0], len(f.rules))
		default:
			t.fail(p, "none of the %d values matches any of the field's %d rules", len(leaves), len(f.rules))
		}
	}
	return false
}

// matchNested matches a nested pattern object: within one element when v is
// an array, and against an empty object when v is absent or not an object.
func matchNested(o *object, v any, t *trace, path, name string) bool {
	arr, ok := v.([]any)
	if !ok {
		if t == nil {
			return o.match(v, nil, "")
		}
		return o.match(v, t, joinPath(path, name))
	}
	elems := flatten(nil, arr)
	if len(elems) == 0 {
		if t == nil {
			return o.match(nil, nil, "")
		}
		return o.match(nil, t, joinPath(path, name))
	}
	for _, e := range elems {
		if o.match(e, nil, "") {
			return true
		}
	}
	t.fail(joinPath(path, name), "no element of the array matched the nested pattern")
	return false
}

func flatten(dst, arr []any) []any {
	for _, e := range arr {
		if inner, ok := e.([]any); ok {
			dst = flatten(dst, inner)
			continue
		}
		dst = append(dst, e)
	}
	return dst
}

func appendLeaves(dst []value, v any) []value {
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			dst = appendLeaves(dst, e)
		}
		return dst
	case map[string]any:
		return dst
	}
	if lv, ok := docLeaf(v); ok {
		dst = append(dst, lv)
	}
	return dst
}

// docLeaf converts a document leaf; numbers other than json.Number (from a
// document built in code) take their shortest decimal form.
func docLeaf(v any) (value, bool) {
	switch x := v.(type) {
	case string:
		return value{kind: kindString, s: x}, true
	case json.Number:
		return value{kind: kindNumber, s: string(x)}, true
	case bool:
		return value{kind: kindBool, b: x}, true
	case nil:
		return value{kind: kindNull}, true
	case float64:
		return value{kind: kindNumber, s: strconv.FormatFloat(x, 'f', -1, 64)}, true
	case float32:
		return value{kind: kindNumber, s: strconv.FormatFloat(float64(x), 'f', -1, 32)}, true
	case int:
		return value{kind: kindNumber, s: strconv.Itoa(x)}, true
	case int64:
		return value{kind: kindNumber, s: strconv.FormatInt(x, 10)}, true
	}
	return value{}, false
}

// String renders a leaf as JSON, for explanations.
func (v value) String() string {
	switch v.kind {
	case kindNull:
		return "null"
	case kindBool:
		return strconv.FormatBool(v.b)
	case kindNumber:
		return v.s
	}
	b, _ := json.Marshal(v.s)
	return string(b)
}

func (r *rule) match(leaves []value) bool {
	if r.kind == ruleExists {
		return r.exists == (len(leaves) > 0)
	}
	for _, v := range leaves {
		if r.matchLeaf(v) {
			return true
		}
	}
	return false
}

func (r *rule) matchLeaf(v value) bool {
	switch r.kind {
	case ruleExact:
		switch v.kind {
		case kindBool:
			return r.exact.kind == kindBool && r.exact.b == v.b
		case kindNull:
			return r.exact.kind == kindNull
		default:
			return r.exact.kind == v.kind && r.exact.s == v.s
		}
	case rulePrefix:
		if v.kind != kindString {
			return false
		}
		if r.fold {
			return hasPrefixFold(v.s, r.str)
		}
		return strings.HasPrefix(v.s, r.str)
	case ruleSuffix:
		if v.kind != kindString {
			return false
		}
		if r.fold {
			return hasSuffixFold(v.s, r.str)
		}
		return strings.HasSuffix(v.s, r.str)
	case ruleEqualsIgnoreCase:
		return v.kind == kindString && strings.EqualFold(v.s, r.str)
	case ruleWildcard:
		return v.kind == kindString && r.wild.match(v.s)
	case ruleCIDR:
		if v.kind != kindString {
			return false
		}
		a, err := netip.ParseAddr(v.s)
		if err != nil {
			return false
		}
		return r.prefix.Contains(a.Unmap()) || r.prefix.Contains(a)
	case ruleNumeric:
		f, ok := number(v)
		if !ok {
			return false
		}
		for _, c := range r.num {
			var ok bool
			switch c.op {
			case "=":
				ok = f == c.f
			case ">":
				ok = f > c.f
			case ">=":
				ok = f >= c.f
			case "<":
				ok = f < c.f
			case "<=":
				ok = f <= c.f
			}
			if !ok {
				return false
			}
		}
		return true
	case ruleAnythingBut:
		return r.matchAnythingBut(v)
	}
	return false
}

// matchAnythingBut: any leaf that is not excluded matches; a value of
// another type than the excluded ones (a number against strings, null) is
// not excluded.
func (r *rule) matchAnythingBut(v value) bool {
	if v.kind == kindString {
		for i, s := range r.strs {
			var excluded bool
			switch r.but {
			case butValues:
				excluded = v.s == s
			case butPrefix:
				excluded = strings.HasPrefix(v.s, s)
			case butSuffix:
				excluded = strings.HasSuffix(v.s, s)
			case butIgnoreCase:
				excluded = strings.EqualFold(v.s, s)
			case butWildcard:
				excluded = r.wilds[i].match(v.s)
			}
			if excluded {
				return false
			}
		}
		return true
	}
	if f, ok := number(v); ok {
		for _, n := range r.nums {
			if f == n.f {
				return false
			}
		}
	}
	return true
}

func number(v value) (float64, bool) {
	if v.kind != kindNumber {
		return 0, false
	}
	f, err := strconv.ParseFloat(v.s, 64)
	return f, err == nil
}

// match reports whether s matches the wildcard: the first part is a prefix,
// the last a suffix, and the parts between occur in order (leftmost first,
// which is optimal when '*' is the only metacharacter).
func (w *wildcard) match(s string) bool {
	p := w.parts
	if len(p) == 1 {
		return s == p[0]
	}
	if !strings.HasPrefix(s, p[0]) {
		return false
	}
	s = s[len(p[0]):]
	for _, mid := range p[1 : len(p)-1] {
		i := strings.Index(s, mid)
		if i < 0 {
			return false
		}
		s = s[i+len(mid):]
	}
	return strings.HasSuffix(s, p[len(p)-1])
}

func foldRune(a, b rune) bool {
	return a == b || unicode.ToLower(a) == unicode.ToLower(b) || unicode.ToUpper(a) == unicode.ToUpper(b)
}

func hasPrefixFold(s, prefix string) bool {
	for prefix != "" {
		if s == "" {
			return false
		}
		a, n := utf8.DecodeRuneInString(s)
		b, m := utf8.DecodeRuneInString(prefix)
		if !foldRune(a, b) {
			return false
		}
		s, prefix = s[n:], prefix[m:]
	}
	return true
}

func hasSuffixFold(s, suffix string) bool {
	for suffix != "" {
		if s == "" {
			return false
		}
		a, n := utf8.DecodeLastRuneInString(s)
		b, m := utf8.DecodeLastRuneInString(suffix)
		if !foldRune(a, b) {
			return false
		}
		s, suffix = s[:len(s)-n], suffix[:len(suffix)-m]
	}
	return true
}

// Criteria is a set of patterns that are ORed, as the filters of one event
// source mapping are. No patterns match everything.
type Criteria []*Pattern

// CompileAll compiles every pattern in the mode and reports every invalid
// one at once.
func CompileAll(patterns []string, mode Mode) (Criteria, error) {
	c := make(Criteria, 0, len(patterns))
	var errs []error
	for i, src := range patterns {
		p, err := Compile(src, mode)
		if err != nil {
			errs = append(errs, fmt.Errorf("filter %d: %w", i, err))
			continue
		}
		c = append(c, p)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// Match reports whether doc matches at least one pattern, or c is empty.
func (c Criteria) Match(doc any) bool {
	if len(c) == 0 {
		return true
	}
	for _, p := range c {
		if p.Match(doc) {
			return true
		}
	}
	return false
}
