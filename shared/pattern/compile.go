package pattern

import (
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"sort"
	"strconv"
	"strings"
)

type ruleKind uint8

const (
	ruleExact ruleKind = iota
	rulePrefix
	ruleSuffix
	ruleEqualsIgnoreCase
	ruleWildcard
	ruleCIDR
	ruleExists
	ruleNumeric
	ruleAnythingBut
)

// butKind is what an anything-but excludes.
type butKind uint8

const (
	butValues butKind = iota // strings or numbers
	butPrefix
	butSuffix
	butIgnoreCase
	butWildcard
)

var butNames = [...]string{butPrefix: "prefix", butSuffix: "suffix", butIgnoreCase: "equals-ignore-case", butWildcard: "wildcard"}

// rule is one element of a field's rule list. It keeps the operands as they
// were written, so that a compiled pattern renders back (Canonical).
type rule struct {
	kind ruleKind

	exact  value  // ruleExact
	str    string // prefix, suffix, equals-ignore-case, wildcard, cidr operand
	fold   bool   // prefix / suffix with {"equals-ignore-case": ...}
	exists bool   // ruleExists

	wild   wildcard     // ruleWildcard
	prefix netip.Prefix // ruleCIDR

	num []numOp // ruleNumeric, in the order written

	// ruleAnythingBut
	but     butKind
	butList bool // written as a list
	strs    []string
	nums    []numLit
	wilds   []wildcard
}

// numOp is one operator/number pair of a numeric rule.
type numOp struct {
	op string
	numLit
}

// numLit is a number as written and its value.
type numLit struct {
	text string
	f    float64
}

type valueKind uint8

const (
	kindNull valueKind = iota
	kindBool
	kindNumber
	kindString
)

// value is a JSON leaf: a number keeps its literal text, because EventBridge
// compares exact numbers by their string representation: 300, 300.0 and
// 3.0e2 are three different values.
type value struct {
	kind valueKind
	s    string // string value, or number text
	b    bool
}

type compiler struct {
	mode Mode
}

func invalid(path, format string, args ...any) error {
	return &Error{Field: path, Reason: fmt.Sprintf(format, args...)}
}

func (c *compiler) object(m map[string]any, path string, root bool) (*object, error) {
	if len(m) == 0 && !root {
		return nil, invalid(path, "an empty object tests nothing: name the fields to match")
	}
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
			alts, err := c.or(v, path)
			if err != nil {
				return nil, err
			}
			o.or = alts
			continue
		}
		switch x := v.(type) {
		case map[string]any:
			nested, err := c.object(x, p, false)
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
				r, err := c.rule(elem, p)
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

func (c *compiler) or(v any, path string) ([]*object, error) {
	p := joinPath(path, "$or")
	list, ok := v.([]any)
	if !ok || len(list) < 2 {
		return nil, invalid(p, "$or takes a list of at least two pattern objects")
	}
	alts := make([]*object, 0, len(list))
	for i, elem := range list {
		ap := fmt.Sprintf("%s[%d]", p, i)
		m, ok := elem.(map[string]any)
		if !ok || len(m) == 0 {
			return nil, invalid(ap, "an $or alternative must be a non-empty pattern object")
		}
		a, err := c.object(m, ap, false)
		if err != nil {
			return nil, err
		}
		alts = append(alts, a)
	}
	return alts, nil
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

func (c *compiler) eventBridgeOnly(path, op string) error {
	if c.mode == Lambda {
		return invalid(path, "%s is an EventBridge operator that Lambda event filtering does not support", op)
	}
	return nil
}

func (c *compiler) rule(elem any, path string) (rule, error) {
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
			return rule{kind: kind, str: s, fold: fold}, nil
		case "equals-ignore-case":
			s, ok := operand.(string)
			if !ok {
				return rule{}, invalid(path, "equals-ignore-case takes a string, not %s", describe(operand))
			}
			return rule{kind: ruleEqualsIgnoreCase, str: s}, nil
		case "wildcard":
			if err := c.eventBridgeOnly(path, op); err != nil {
				return rule{}, err
			}
			s, ok := operand.(string)
			if !ok {
				return rule{}, invalid(path, "wildcard takes a string, not %s", describe(operand))
			}
			w, err := compileWildcard(s, path)
			if err != nil {
				return rule{}, err
			}
			return rule{kind: ruleWildcard, str: s, wild: w}, nil
		case "cidr":
			if err := c.eventBridgeOnly(path, op); err != nil {
				return rule{}, err
			}
			s, ok := operand.(string)
			if !ok {
				return rule{}, invalid(path, "cidr takes a string such as \"10.0.0.0/24\" or \"2001:db8::/32\", not %s", describe(operand))
			}
			pfx, err := netip.ParsePrefix(s)
			if err != nil {
				return rule{}, invalid(path, "cidr %q is not an IPv4 or IPv6 network in CIDR notation", s)
			}
			return rule{kind: ruleCIDR, str: s, prefix: pfx.Masked()}, nil
		case "exists":
			b, ok := operand.(bool)
			if !ok {
				return rule{}, invalid(path, "exists takes true or false, not %s", describe(operand))
			}
			return rule{kind: ruleExists, exists: b}, nil
		case "anything-but":
			return c.anythingBut(operand, path)
		case "numeric":
			return compileNumeric(operand, path)
		default:
			return rule{}, invalid(path, "unknown operator %q", op)
		}
	}
	panic("unreachable")
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

func (c *compiler) anythingBut(operand any, path string) (rule, error) {
	r := rule{kind: ruleAnythingBut, but: butValues}
	switch x := operand.(type) {
	case string:
		r.strs = []string{x}
	case json.Number:
		n, err := numericOperand(x, path)
		if err != nil {
			return rule{}, err
		}
		r.nums = []numLit{n}
	case []any:
		r.butList = true
		if len(x) == 0 {
			return rule{}, invalid(path, "anything-but takes at least one value")
		}
		for _, e := range x {
			switch v := e.(type) {
			case string:
				r.strs = append(r.strs, v)
			case json.Number:
				n, err := numericOperand(v, path)
				if err != nil {
					return rule{}, err
				}
				r.nums = append(r.nums, n)
			default:
				return rule{}, invalid(path, "anything-but lists hold strings or numbers, not %s", describe(e))
			}
		}
		if len(r.strs) > 0 && len(r.nums) > 0 {
			return rule{}, invalid(path, "an anything-but list must hold only strings or only numbers")
		}
	case map[string]any:
		if len(x) != 1 {
			return rule{}, invalid(path, "anything-but takes one of prefix, suffix, equals-ignore-case or wildcard")
		}
		for op, v := range x {
			switch op {
			case "prefix":
				r.but = butPrefix
			case "suffix":
				r.but = butSuffix
			case "equals-ignore-case":
				r.but = butIgnoreCase
			case "wildcard":
				r.but = butWildcard
			default:
				return rule{}, invalid(path, "anything-but does not take %q", op)
			}
			// Lambda's filter rule syntax has anything-but of values only
			// (its "Not"), as Pipes' does.
			if err := c.eventBridgeOnly(path, "anything-but "+op); err != nil {
				return rule{}, err
			}
			strs, list, err := stringOrStrings(v, path, "anything-but "+op)
			if err != nil {
				return rule{}, err
			}
			r.strs, r.butList = strs, list
			if r.but == butWildcard {
				for _, s := range strs {
					w, err := compileWildcard(s, path)
					if err != nil {
						return rule{}, err
					}
					r.wilds = append(r.wilds, w)
				}
			}
		}
	default:
		return rule{}, invalid(path, "anything-but takes a string, a number, a list or an object, not %s", describe(operand))
	}
	return r, nil
}

func stringOrStrings(v any, path, what string) ([]string, bool, error) {
	switch x := v.(type) {
	case string:
		return []string{x}, false, nil
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, false, invalid(path, "%s takes strings, not %s", what, describe(e))
			}
			out = append(out, s)
		}
		if len(out) > 0 {
			return out, true, nil
		}
	}
	return nil, false, invalid(path, "%s takes a string or a non-empty list of strings", what)
}

func numericOperand(n json.Number, path string) (numLit, error) {
	f, err := strconv.ParseFloat(n.String(), 64)
	if err != nil || math.IsInf(f, 0) || f < minNumeric || f > maxNumeric {
		return numLit{}, invalid(path, "number %s is outside the range %g to %g", n, minNumeric, maxNumeric)
	}
	return numLit{text: n.String(), f: f}, nil
}

func compileNumeric(operand any, path string) (rule, error) {
	list, ok := operand.([]any)
	if !ok || len(list) == 0 || len(list)%2 != 0 || len(list) > 4 {
		return rule{}, invalid(path, `numeric takes one or two operator/number pairs, such as [">", 0, "<=", 5]`)
	}
	r := rule{kind: ruleNumeric}
	var hasEq, hasLo, hasHi bool
	var lo, hi float64
	for i := 0; i < len(list); i += 2 {
		op, ok := list[i].(string)
		if !ok {
			return rule{}, invalid(path, "numeric operator must be a string, not %s", describe(list[i]))
		}
		n, ok := list[i+1].(json.Number)
		if !ok {
			return rule{}, invalid(path, "numeric %s takes a number, not %s", op, describe(list[i+1]))
		}
		lit, err := numericOperand(n, path)
		if err != nil {
			return rule{}, err
		}
		switch op {
		case "=":
			hasEq = true
		case ">", ">=":
			if hasLo {
				return rule{}, invalid(path, "numeric has two lower bounds")
			}
			hasLo, lo = true, lit.f
		case "<", "<=":
			if hasHi {
				return rule{}, invalid(path, "numeric has two upper bounds")
			}
			hasHi, hi = true, lit.f
		default:
			return rule{}, invalid(path, "unknown numeric operator %q", op)
		}
		r.num = append(r.num, numOp{op: op, numLit: lit})
	}
	if hasEq && len(list) != 2 {
		return rule{}, invalid(path, `numeric "=" cannot be combined with another operator`)
	}
	if hasLo && hasHi && lo >= hi {
		return rule{}, invalid(path, "numeric range is empty: the lower bound %g is not below the upper bound %g", lo, hi)
	}
	return r, nil
}

// wildcard is a compiled wildcard operand: literal parts around each
// unescaped '*'. parts has one more element than there are stars.
type wildcard struct {
	parts []string
}

// compileWildcard reads a wildcard operand: '*' matches any run of
// characters, "\*" is a literal star and "\\" a literal backslash. As in
// EventBridge, two stars in a row and a backslash before anything else are
// refused.
func compileWildcard(s, path string) (wildcard, error) {
	var w wildcard
	var cur strings.Builder
	prevStar := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '*':
			if prevStar {
				return wildcard{}, invalid(path, "wildcard %q has two consecutive wildcard characters", s)
			}
			w.parts = append(w.parts, cur.String())
			cur.Reset()
			prevStar = true
			continue
		case '\\':
			if i+1 == len(s) || (s[i+1] != '*' && s[i+1] != '\\') {
				return wildcard{}, invalid(path, `wildcard %q has a backslash that escapes neither "*" nor "\"`, s)
			}
			i++
			cur.WriteByte(s[i])
		default:
			cur.WriteByte(c)
		}
		prevStar = false
	}
	w.parts = append(w.parts, cur.String())
	return w, nil
}
