package schema

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/flowbus/flowbus/shared/event"
)

// Errors callers match with errors.Is.
var (
	ErrUnknownType     = errors.New("no schema is registered for this type")
	ErrMissingUpcaster = errors.New("no upcaster for this step")
	ErrUnknownVersion  = errors.New("no schema is registered for this version")
)

// Kind is the JSON type a field must have.
type Kind string

// Kinds of JSON values.
const (
	String  Kind = "string"
	Number  Kind = "number"
	Integer Kind = "integer"
	Boolean Kind = "boolean"
	Object  Kind = "object"
	Array   Kind = "array"
	Any     Kind = "any"
)

// Field describes one member of data.
type Field struct {
	Kind     Kind
	Required bool
}

// Schema describes the data of one (type, version): a JSON object with these
// fields, or no data at all when NoData is set.
type Schema struct {
	Fields     map[string]Field
	AllowExtra bool // members not in Fields are accepted
	NoData     bool // the version carries no data
}

// Validate checks data against s; each problem names the field as
// data.<member>.
func (s Schema) Validate(data []byte) []event.FieldError {
	empty := len(data) == 0 || string(data) == "null"
	if s.NoData {
		if !empty && string(data) != "{}" {
			return []event.FieldError{{Field: "data", Reason: "this version carries no data"}}
		}
		return nil
	}
	if empty {
		data = []byte("{}")
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil {
		return []event.FieldError{{Field: "data", Reason: "must be a JSON object"}}
	}
	var errs []event.FieldError
	names := make([]string, 0, len(s.Fields))
	for name := range s.Fields {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		f := s.Fields[name]
		raw, ok := obj[name]
		if !ok || string(raw) == "null" {
			if f.Required {
				errs = append(errs, event.FieldError{Field: "data." + name, Reason: "is required"})
			}
			continue
		}
		if !kindOf(raw, f.Kind) {
			errs = append(errs, event.FieldError{Field: "data." + name, Reason: "must be " + article(f.Kind)})
		}
	}
	if !s.AllowExtra {
		var extra []string
		for name := range obj {
			if _, ok := s.Fields[name]; !ok {
				extra = append(extra, name)
			}
		}
		sort.Strings(extra)
		for _, name := range extra {
			errs = append(errs, event.FieldError{Field: "data." + name, Reason: "is not part of this version's schema"})
		}
	}
	return errs
}

func article(k Kind) string {
	if k == Integer || k == Object || k == Array {
		return "an " + string(k)
	}
	return "a " + string(k)
}

func kindOf(raw json.RawMessage, k Kind) bool {
	if len(raw) == 0 {
		return false
	}
	switch c := raw[0]; k {
	case Any:
		return true
	case String:
		return c == '"'
	case Boolean:
		return c == 't' || c == 'f'
	case Object:
		return c == '{'
	case Array:
		return c == '['
	case Number:
		return c == '-' || (c >= '0' && c <= '9')
	case Integer:
		return (c == '-' || (c >= '0' && c <= '9')) && !strings.ContainsAny(string(raw), ".eE")
	}
	return false
}

// Upcaster turns the data of one version into the data of the next.
type Upcaster func(data json.RawMessage) (json.RawMessage, error)

// UnknownPolicy says what publish does with a type no schema is registered for.
type UnknownPolicy int

// Policies for unknown types.
const (
	AcceptUnknown UnknownPolicy = iota
	RejectUnknown
)

type key struct {
	typ     string
	version int
}

// Registry maps (type, version) to schemas and upcasters. Types are exact,
// or a prefix written "workflow.*"; the longest matching registration wins.
// Build it once at start-up; it is safe for concurrent reads after.
type Registry struct {
	schemas   map[key]Schema
	upcasters map[key]Upcaster
	latest    map[string]int
	unknown   UnknownPolicy
}

// NewRegistry returns an empty registry with the given policy.
func NewRegistry(unknown UnknownPolicy) *Registry {
	return &Registry{schemas: map[key]Schema{}, upcasters: map[key]Upcaster{}, latest: map[string]int{}, unknown: unknown}
}

// Register sets the schema of (typ, version); versions start at 1.
func (r *Registry) Register(typ string, version int, s Schema) {
	r.schemas[key{typ, version}] = s
	r.latest[typ] = max(r.latest[typ], version)
}

// RegisterUpcaster sets the step from version from to from+1 of typ.
func (r *Registry) RegisterUpcaster(typ string, from int, up Upcaster) {
	r.upcasters[key{typ, from}] = up
}

// match returns the registered type pattern for typ.
func (r *Registry) match(typ string) (string, bool) {
	if _, ok := r.latest[typ]; ok {
		return typ, true
	}
	best := ""
	for pattern := range r.latest {
		if prefix, ok := strings.CutSuffix(pattern, "*"); ok && strings.HasPrefix(typ, prefix) && len(pattern) > len(best) {
			best = pattern
		}
	}
	return best, best != ""
}

// version is an event's schema version; events that name none are version 1.
func version(e *event.Event) int {
	if e.Version == 0 {
		return 1
	}
	return e.Version
}

// Validate checks e's data against the schema of its type and version. It
// returns a *event.ValidationError listing every problem.
func (r *Registry) Validate(e *event.Event) error {
	pattern, ok := r.match(e.Type)
	if !ok {
		if r.unknown == RejectUnknown {
			return &event.ValidationError{Fields: []event.FieldError{{Field: "type", Reason: "no schema is registered for " + e.Type}}}
		}
		return nil
	}
	s, ok := r.schemas[key{pattern, version(e)}]
	if !ok {
		return &event.ValidationError{Fields: []event.FieldError{{Field: "version", Reason: fmt.Sprintf("%s has no schema version %d; the latest is %d", e.Type, version(e), r.latest[pattern]), Limit: r.latest[pattern]}}}
	}
	if errs := s.Validate(e.Data); len(errs) > 0 {
		return &event.ValidationError{Fields: errs}
	}
	return nil
}

// Latest is the newest version registered for typ, 0 if none.
func (r *Registry) Latest(typ string) int {
	pattern, ok := r.match(typ)
	if !ok {
		return 0
	}
	return r.latest[pattern]
}

// Upcast brings e to the latest version of its type, step by step. An event
// of an unregistered type, or already at the latest version, is left as it
// is; a missing step is an error wrapping ErrMissingUpcaster, never old data
// passed off as new.
func (r *Registry) Upcast(e *event.Event) error {
	pattern, ok := r.match(e.Type)
	if !ok {
		return nil
	}
	for v := version(e); v < r.latest[pattern]; v++ {
		up, ok := r.upcasters[key{pattern, v}]
		if !ok {
			return fmt.Errorf("upcast %s from version %d to %d: %w", e.Type, v, v+1, ErrMissingUpcaster)
		}
		data, err := up(e.Data)
		if err != nil {
			return fmt.Errorf("upcast %s from version %d to %d: %w", e.Type, v, v+1, err)
		}
		e.Data, e.Version = data, v+1
	}
	return nil
}
