package pattern

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"unicode/utf8"
)

// ErrInvalid is what every compile error wraps; the error itself is an
// *Error naming the field at fault.
var ErrInvalid = errors.New("invalid event pattern")

// Error is a pattern that can never be valid: Field is the dotted path of the
// field at fault ("data.amount"; "$or[1]" names an alternative; empty for the
// whole pattern), Reason says why, and Limit is the limit exceeded when the
// pattern is too large or too complex (0 otherwise).
type Error struct {
	Field  string
	Reason string
	Limit  int
}

func (e *Error) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%v: %s", ErrInvalid, e.Reason)
	}
	return fmt.Sprintf("%v: %s: %s", ErrInvalid, e.Field, e.Reason)
}

func (e *Error) Unwrap() error { return ErrInvalid }

// Mode is the dialect a pattern is read in.
type Mode int

const (
	// EventBridge is the whole language of EventBridge rules on an event bus.
	EventBridge Mode = iota
	// Lambda is the subset Lambda event filtering (an event source mapping's
	// FilterCriteria) accepts: no wildcard, no cidr, no anything-but wildcard.
	Lambda
)

func (m Mode) String() string {
	if m == Lambda {
		return "Lambda"
	}
	return "EventBridge"
}

// Limits a pattern must stay within.
const (
	// MaxLength is EventBridge's quota on an event pattern, in characters.
	MaxLength = 2048
	// MaxLambdaLength is what CloudFormation accepts for one Lambda filter
	// (FilterCriteria.Filters[].Pattern), in characters.
	MaxLambdaLength = 4096
	// MaxCombinations bounds how many plain conjunctions a pattern stands
	// for: the product of its fields' value lists, with each $or adding up
	// its alternatives. EventBridge refuses patterns that are "too complex"
	// without publishing its figure; this one is flowbus's.
	MaxCombinations = 1000
)

// Numeric operands must lie in this range, as in EventBridge (and Lambda,
// which uses the same engine).
const (
	minNumeric = -5.0e9
	maxNumeric = 5.0e9
)

// MaxLengthFor returns the pattern length limit of a mode.
func MaxLengthFor(m Mode) int {
	if m == Lambda {
		return MaxLambdaLength
	}
	return MaxLength
}

// Pattern is one compiled event pattern. It is safe for concurrent use.
type Pattern struct {
	root *object
	mode Mode
	src  string
}

// object is a pattern object: every field must match, and when or is set one
// of its alternatives must match the same value.
type object struct {
	fields []field
	or     []*object
}

// field is one named member of a pattern object: either a nested object or
// a list of rules, one of which must match.
type field struct {
	name   string
	nested *object
	rules  []rule
}

// Compile reads a pattern, a JSON object, in the given mode. A pattern that
// can never be valid is an *Error (wrapping ErrInvalid) naming the field.
// The empty pattern {} matches every event.
func Compile(src string, mode Mode) (*Pattern, error) {
	if n, limit := utf8.RuneCountInString(src), MaxLengthFor(mode); n > limit {
		return nil, &Error{Reason: fmt.Sprintf("the pattern is %d characters long, at most %d are allowed", n, limit), Limit: limit}
	}
	doc, err := DecodeJSON([]byte(src))
	if err != nil {
		return nil, &Error{Reason: "not JSON: " + err.Error()}
	}
	m, ok := doc.(map[string]any)
	if !ok {
		return nil, &Error{Reason: "the pattern must be a JSON object, not " + describe(doc)}
	}
	c := compiler{mode: mode}
	root, err := c.object(m, "", true)
	if err != nil {
		return nil, err
	}
	// combinations stops counting past the limit: say "more than", not its count.
	if root.combinations() > MaxCombinations {
		return nil, &Error{Reason: fmt.Sprintf("the pattern stands for more than %d combinations of values and $or alternatives, at most %d are allowed", MaxCombinations, MaxCombinations), Limit: MaxCombinations}
	}
	return &Pattern{root: root, mode: mode, src: src}, nil
}

// MustCompile is Compile for patterns known to be valid, such as those in
// tests; it panics on an error.
func MustCompile(src string, mode Mode) *Pattern {
	p, err := Compile(src, mode)
	if err != nil {
		panic(err)
	}
	return p
}

// String returns the pattern as it was given.
func (p *Pattern) String() string { return p.src }

// Mode returns the mode the pattern was compiled in.
func (p *Pattern) Mode() Mode { return p.mode }

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
	for _, a := range o.or {
		a.collectFields(seen)
	}
}

// combinations counts the conjunctions o stands for, saturating just above
// MaxCombinations so that no product overflows.
func (o *object) combinations() int {
	n := 1
	for i := range o.fields {
		f := &o.fields[i]
		k := len(f.rules)
		if f.nested != nil {
			k = f.nested.combinations()
		}
		n = min(n*max(k, 1), MaxCombinations+1)
	}
	if len(o.or) > 0 {
		sum := 0
		for _, a := range o.or {
			sum = min(sum+a.combinations(), MaxCombinations+1)
		}
		n = min(n*sum, MaxCombinations+1)
	}
	return n
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

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
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
