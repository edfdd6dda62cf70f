package filter

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
)

// ErrInvalidPattern is what every compile error wraps.
var ErrInvalidPattern = errors.New("invalid filter pattern")

// Numeric operands must lie in this range, as in EventBridge (and Lambda, which
// uses the same engine).
const (
	minNumeric = -5.0e9
	maxNumeric = 5.0e9
)

// Pattern is one compiled filter pattern. It is safe for concurrent use.
type Pattern struct {
	root *object
	src  string
}

// object is a pattern object: every field must match, and for every $or one of
// its alternatives must match the same value.
type object struct {
	fields []field
	ors    [][]*object
}

// field is one named member of a pattern object: either a nested object or
// a list of rules, one of which must match.
type field struct {
	name   string
	nested *object
	rules  []rule
}

type ruleKind int

const (
	ruleExact ruleKind = iota
	rulePrefix
	ruleSuffix
	ruleEqualsIgnoreCase
	ruleAnythingBut
	ruleNumeric
	ruleExists
)

// rule is one element of a field's rule list.
type rule struct {
	kind ruleKind

	exact      value  // ruleExact
	str        string // prefix, suffix, equals-ignore-case operand
	ignoreCase bool   // prefix / suffix with {"equals-ignore-case": ...}
	exists     bool   // ruleExists

	// ruleAnythingBut: the value matches unless it is one of these.
	notStrings  []string
	notNumbers  []float64
	notPrefixes []string
	notSuffixes []string
	notFolded   []string // equals-ignore-case

	// ruleNumeric: an optional equality, lower and upper bound.
	eq             float64
	hasEq          bool
	lo, hi         float64
	hasLo, hasHi   bool
	loOpen, hiOpen bool
}

type valueKind int

const (
	kindNull valueKind = iota
	kindBool
	kindNumber
	kindString
)

// value is a JSON leaf: a number keeps its literal text, because Lambda (like
// EventBridge) compares exact numbers by their string representation: 300,
// 300.0 and 3.0e2 are three different values.
type value struct {
	kind valueKind
	s    string // string value, or number text
	b    bool
}

// Compile parses a filter pattern, a JSON object as written in
// FilterCriteria.Filters[].Pattern. Every error wraps ErrInvalidPattern and
// names the field path at fault.
func Compile(pattern string) (*Pattern, error) {
	doc, err := DecodeJSON([]byte(pattern))
	if err != nil {
		return nil, fmt.Errorf("%w: not JSON: %w", ErrInvalidPattern, err)
	}
	m, ok := doc.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: the pattern must be a JSON object", ErrInvalidPattern)
	}
	root, err := compileObject(m, "")
	if err != nil {
		return nil, err
	}
	return &Pattern{root: root, src: pattern}, nil
}

// String returns the pattern as it was given.
func (p *Pattern) String() string { return p.src }

// Fields returns the top-level field names the pattern tests, directly or
// inside a top-level $or, sorted and without repeats.
func (p *Pattern) Fields() []string {
	seen := map[string]bool{}
	p.root.collectFields(seen)
	out := make([]string, 0, len(seen))
	for name := range seen {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// HasField reports whether the pattern tests the top-level field name,
// directly or inside a top-level $or.
func (p *Pattern) HasField(name string) bool {
	seen := map[string]bool{}
	p.root.collectFields(seen)
	return seen[name]
}

func (o *object) collectFields(seen map[string]bool) {
	for _, f := range o.fields {
		seen[f.name] = true
	}
	for _, alts := range o.ors {
		for _, a := range alts {
			a.collectFields(seen)
		}
	}
}

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func invalid(path, format string, args ...any) error {
	return fmt.Errorf("%w: %q: %s", ErrInvalidPattern, path, fmt.Sprintf(format, args...))
}

func compileObject(m map[string]any, path string) (*object, error) {
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	sort.Strings(names)
	o := &object{}
	for _, name := range names {
		v := m[name]
		p := joinPath(path, name)
		if name == "$or" {
			alts, err := compileOr(v, p)
			if err != nil {
				return nil, err
			}
			o.ors = append(o.ors, alts)
			continue
		}
		switch x := v.(type) {
		case map[string]any:
			nested, err := compileObject(x, p)
			if err != nil {
				return nil, err
			}
			o.fields = append(o.fields, field{name: name, nested: nested})
		case []any:
			if len(x) == 0 {
				return nil, invalid(p, "an empty list of values matches nothing")
			}
			rules := make([]rule, 0, len(x))
			for _, elem := range x {
				r, err := compileRule(elem, p)
				if err != nil {
					return nil, err
				}
				rules = append(rules, r)
			}
			o.fields = append(o.fields, field{name: name, rules: rules})
		default:
			return nil, invalid(p, "must be a list of values or an object, not %s", describe(v))
		}
	}
	return o, nil
}

func compileOr(v any, path string) ([]*object, error) {
	list, ok := v.([]any)
	if !ok || len(list) < 2 {
		return nil, invalid(path, "$or takes a list of at least two pattern objects")
	}
	alts := make([]*object, 0, len(list))
	for i, elem := range list {
		m, ok := elem.(map[string]any)
		if !ok || len(m) == 0 {
			return nil, invalid(path, "$or alternative %d must be a non-empty pattern object", i)
		}
		a, err := compileObject(m, path)
		if err != nil {
			return nil, err
		}
		alts = append(alts, a)
	}
	return alts, nil
}

func describe(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

func leafValue(v any) (value, bool) {
	switch x := v.(type) {
	case nil:
		return value{kind: kindNull}, true
	case bool:
		return value{kind: kindBool, b: x}, true
	case json.Number:
		return value{kind: kindNumber, s: x.String()}, true
	case string:
		return value{kind: kindString, s: x}, true
	}
	return value{}, false
}

func compileRule(elem any, path string) (rule, error) {
	if v, ok := leafValue(elem); ok {
		return rule{kind: ruleExact, exact: v}, nil
	}
	m, ok := elem.(map[string]any)
	if !ok {
		return rule{}, invalid(path, "a value in the list must be a string, number, boolean, null or an operator object, not %s", describe(elem))
	}
	if len(m) != 1 {
		return rule{}, invalid(path, "an operator object must have exactly one operator, it has %d", len(m))
	}
	for op, operand := range m {
		switch op {
		case "prefix", "suffix":
			kind := rulePrefix
			if op == "suffix" {
				kind = ruleSuffix
			}
			s, fold, err := stringOrIgnoreCase(operand, path, op)
			if err != nil {
				return rule{}, err
			}
			return rule{kind: kind, str: s, ignoreCase: fold}, nil
		case "equals-ignore-case":
			s, ok := operand.(string)
			if !ok {
				return rule{}, invalid(path, "equals-ignore-case takes a string, not %s", describe(operand))
			}
			return rule{kind: ruleEqualsIgnoreCase, str: s}, nil
		case "exists":
			b, ok := operand.(bool)
			if !ok {
				return rule{}, invalid(path, "exists takes true or false, not %s", describe(operand))
			}
			return rule{kind: ruleExists, exists: b}, nil
		case "anything-but":
			return compileAnythingBut(operand, path)
		case "numeric":
			return compileNumeric(operand, path)
		case "wildcard", "cidr":
			return rule{}, invalid(path, "%s is an EventBridge operator that Lambda event filtering does not support", op)
		default:
			return rule{}, invalid(path, "unknown operator %q", op)
		}
	}
	return rule{}, invalid(path, "empty operator object")
}

// stringOrIgnoreCase reads the operand of prefix and suffix: a string, or
// {"equals-ignore-case": "<string>"}.
func stringOrIgnoreCase(operand any, path, op string) (string, bool, error) {
	switch x := operand.(type) {
	case string:
		return x, false, nil
	case map[string]any:
		if s, ok := x["equals-ignore-case"].(string); ok && len(x) == 1 {
			return s, true, nil
		}
	}
	return "", false, invalid(path, `%s takes a string or {"equals-ignore-case": "<string>"}`, op)
}

func compileAnythingBut(operand any, path string) (rule, error) {
	r := rule{kind: ruleAnythingBut}
	switch x := operand.(type) {
	case string:
		r.notStrings = []string{x}
	case json.Number:
		f, err := numericOperand(x, path)
		if err != nil {
			return rule{}, err
		}
		r.notNumbers = []float64{f}
	case []any:
		if len(x) == 0 {
			return rule{}, invalid(path, "anything-but takes at least one value")
		}
		for _, e := range x {
			switch v := e.(type) {
			case string:
				r.notStrings = append(r.notStrings, v)
			case json.Number:
				f, err := numericOperand(v, path)
				if err != nil {
					return rule{}, err
				}
				r.notNumbers = append(r.notNumbers, f)
			default:
				return rule{}, invalid(path, "anything-but lists hold strings or numbers, not %s", describe(e))
			}
		}
		if len(r.notStrings) > 0 && len(r.notNumbers) > 0 {
			return rule{}, invalid(path, "an anything-but list must hold only strings or only numbers")
		}
	case map[string]any:
		if len(x) != 1 {
			return rule{}, invalid(path, "anything-but takes one of prefix, suffix or equals-ignore-case")
		}
		for op, v := range x {
			strs, err := stringOrStrings(v, path, "anything-but "+op)
			if err != nil {
				return rule{}, err
			}
			switch op {
			case "prefix":
				r.notPrefixes = strs
			case "suffix":
				r.notSuffixes = strs
			case "equals-ignore-case":
				r.notFolded = strs
			default:
				return rule{}, invalid(path, "anything-but does not take %q", op)
			}
		}
	default:
		return rule{}, invalid(path, "anything-but takes a string, a number, a list or an object, not %s", describe(operand))
	}
	return r, nil
}

func stringOrStrings(v any, path, what string) ([]string, error) {
	switch x := v.(type) {
	case string:
		return []string{x}, nil
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, invalid(path, "%s takes strings, not %s", what, describe(e))
			}
			out = append(out, s)
		}
		if len(out) > 0 {
			return out, nil
		}
	}
	return nil, invalid(path, "%s takes a string or a non-empty list of strings", what)
}

func numericOperand(n json.Number, path string) (float64, error) {
	f, err := strconv.ParseFloat(n.String(), 64)
	if err != nil || math.IsInf(f, 0) || f < minNumeric || f > maxNumeric {
		return 0, invalid(path, "number %s is outside the range %g to %g", n, minNumeric, maxNumeric)
	}
	return f, nil
}

func compileNumeric(operand any, path string) (rule, error) {
	list, ok := operand.([]any)
	if !ok || len(list) == 0 || len(list)%2 != 0 || len(list) > 4 {
		return rule{}, invalid(path, `numeric takes one or two operator/number pairs, such as [">", 0, "<=", 5]`)
	}
	r := rule{kind: ruleNumeric}
	for i := 0; i < len(list); i += 2 {
		op, ok := list[i].(string)
		if !ok {
			return rule{}, invalid(path, "numeric operator must be a string, not %s", describe(list[i]))
		}
		n, ok := list[i+1].(json.Number)
		if !ok {
			return rule{}, invalid(path, "numeric %s takes a number, not %s", op, describe(list[i+1]))
		}
		f, err := numericOperand(n, path)
		if err != nil {
			return rule{}, err
		}
		switch op {
		case "=":
			if len(list) != 2 {
				return rule{}, invalid(path, `numeric "=" cannot be combined with another operator`)
			}
			r.eq, r.hasEq = f, true
		case ">", ">=":
			if r.hasLo {
				return rule{}, invalid(path, "numeric has two lower bounds")
			}
			r.lo, r.hasLo, r.loOpen = f, true, op == ">"
		case "<", "<=":
			if r.hasHi {
				return rule{}, invalid(path, "numeric has two upper bounds")
			}
			r.hi, r.hasHi, r.hiOpen = f, true, op == "<"
		default:
			return rule{}, invalid(path, "unknown numeric operator %q", op)
		}
	}
	if r.hasLo && r.hasHi && r.lo >= r.hi {
		return rule{}, invalid(path, "numeric range is empty: the lower bound %g is not below the upper bound %g", r.lo, r.hi)
	}
	return r, nil
}

// DecodeJSON decodes one JSON value the way Match expects documents: objects
// as map[string]any, arrays as []any, numbers as json.Number. Anything after
// the value other than white space is an error.
func DecodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err == nil {
		return nil, errors.New("data after the JSON value")
	} else if !errors.Is(err, io.EOF) {
		return nil, err
	}
	return v, nil
}

func foldPrefix(s, prefix string) bool {
	return strings.HasPrefix(strings.ToLower(s), strings.ToLower(prefix))
}

func foldSuffix(s, suffix string) bool {
	return strings.HasSuffix(strings.ToLower(s), strings.ToLower(suffix))
}
