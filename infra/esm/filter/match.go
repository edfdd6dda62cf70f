package filter

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Match reports whether doc, a decoded JSON document (see DecodeJSON; maps,
// slices, strings, bools, nil and json.Number, float64 or int numbers), matches
// the pattern.
//
// The rules are EventBridge's: every field of the pattern must match, a field
// matches when any of its rules matches, and a value that is an array matches
// when any of its elements does (arrays are "crushed out", and a nested
// pattern object must match within one element). Only leaves (strings,
// numbers, booleans, null) are values: a field holding an object, or an empty
// array, counts as absent, so only {"exists": false} matches it.
func (p *Pattern) Match(doc any) bool { return p.root.match(doc) }

// MatchJSON decodes b and matches it.
func (p *Pattern) MatchJSON(b []byte) (bool, error) {
	doc, err := DecodeJSON(b)
	if err != nil {
		return false, err
	}
	return p.Match(doc), nil
}

func (o *object) match(v any) bool {
	m, _ := v.(map[string]any)
	for i := range o.fields {
		if !o.fields[i].match(m) {
			return false
		}
	}
	for _, alts := range o.ors {
		ok := false
		for _, a := range alts {
			if a.match(v) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func (f *field) match(m map[string]any) bool {
	v, present := m[f.name]
	if f.nested != nil {
		return matchNested(f.nested, v)
	}
	var leaves []value
	if present {
		leaves = appendLeaves(leaves, v)
	}
	for i := range f.rules {
		if f.rules[i].match(leaves) {
			return true
		}
	}
	return false
}

// matchNested matches a nested pattern object: within one element when v is
// an array, and against an empty object when v is absent or not an object.
func matchNested(o *object, v any) bool {
	arr, ok := v.([]any)
	if !ok {
		return o.match(v)
	}
	elems := flatten(nil, arr)
	if len(elems) == 0 {
		return o.match(nil)
	}
	for _, e := range elems {
		if o.match(e) {
			return true
		}
	}
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
	case float64:
		return value{kind: kindNumber, s: strconv.FormatFloat(x, 'f', -1, 64)}, true
	case float32:
		return value{kind: kindNumber, s: strconv.FormatFloat(float64(x), 'f', -1, 32)}, true
	case int:
		return value{kind: kindNumber, s: strconv.Itoa(x)}, true
	case int64:
		return value{kind: kindNumber, s: strconv.FormatInt(x, 10)}, true
	case json.Number, string, bool, nil:
		return leafValue(x)
	}
	return value{}, false
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
		if r.ignoreCase {
			return foldPrefix(v.s, r.str)
		}
		return strings.HasPrefix(v.s, r.str)
	case ruleSuffix:
		if v.kind != kindString {
			return false
		}
		if r.ignoreCase {
			return foldSuffix(v.s, r.str)
		}
		return strings.HasSuffix(v.s, r.str)
	case ruleEqualsIgnoreCase:
		return v.kind == kindString && strings.EqualFold(v.s, r.str)
	case ruleNumeric:
		f, ok := number(v)
		if !ok {
			return false
		}
		if r.hasEq {
			return f == r.eq
		}
		if r.hasLo && (f < r.lo || (r.loOpen && f == r.lo)) {
			return false
		}
		if r.hasHi && (f > r.hi || (r.hiOpen && f == r.hi)) {
			return false
		}
		return true
	case ruleAnythingBut:
		return r.matchAnythingBut(v)
	}
	return false
}

func (r *rule) matchAnythingBut(v value) bool {
	if v.kind == kindString {
		for _, s := range r.notStrings {
			if v.s == s {
				return false
			}
		}
		for _, p := range r.notPrefixes {
			if strings.HasPrefix(v.s, p) {
				return false
			}
		}
		for _, s := range r.notSuffixes {
			if strings.HasSuffix(v.s, s) {
				return false
			}
		}
		for _, s := range r.notFolded {
			if strings.EqualFold(v.s, s) {
				return false
			}
		}
		return true
	}
	if f, ok := number(v); ok {
		for _, n := range r.notNumbers {
			if f == n {
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

// Criteria is a set of patterns that are ORed, as the filters of one event
// source mapping are. No patterns match everything.
type Criteria []*Pattern

// CompileAll compiles every pattern and reports every invalid one at once.
func CompileAll(patterns []string) (Criteria, error) {
	c := make(Criteria, 0, len(patterns))
	var errs []error
	for i, src := range patterns {
		p, err := Compile(src)
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
