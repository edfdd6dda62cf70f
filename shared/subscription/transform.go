package subscription

import (
	"bytes"
	"crypto/sha256"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/flowbus/flowbus/shared/event"
	"github.com/flowbus/flowbus/shared/pattern"
)

// InputTransformer reshapes an event before delivery, as EventBridge's:
// InputPathsMap names values of the CloudEvent (in structured JSON) by
// JSONPath, such as "$.data.order.id" or "$.workflowid", and InputTemplate
// is the JSON to deliver, with <name> placeholders for them.
//
// A placeholder inside a JSON string is replaced by the value's text (a
// string's contents, any other value's JSON), escaped for the string; one
// outside a string by the value's JSON. A path that finds nothing gives
// null, or nothing inside a string.
type InputTransformer struct {
	InputPathsMap map[string]string `json:"input_paths_map,omitempty"`
	InputTemplate string            `json:"input_template"`
}

// Limits of an input transformer (EventBridge's).
const (
	MaxInputPaths      = 100
	MaxInputPathBytes  = 256
	MaxInputTemplate   = 8192
	maxPlaceholderName = 64
)

var (
	varNameRE     = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
	placeholderRE = regexp.MustCompile(`<([A-Za-z0-9_.-]{1,64})>`)
)

// Transformer is a compiled InputTransformer. It is safe for concurrent use.
type Transformer struct {
	paths map[string][]step
	segs  []segment
}

// step is one step of a path: a member name, or an array index when name
// is empty.
type step struct {
	name  string
	index int
}

// segment is a run of the template: literal text, or a placeholder, inside
// a JSON string or not.
type segment struct {
	lit      string
	name     string // placeholder when not empty
	inString bool
}

// Compile checks the transformer and prepares it; problems are a
// *ValidationError naming fields under "input_transformer".
func (it *InputTransformer) Compile() (*Transformer, error) {
	var p problems
	t := &Transformer{paths: make(map[string][]step, len(it.InputPathsMap))}
	if len(it.InputPathsMap) > MaxInputPaths {
		p.add("input_transformer.input_paths_map", "has more variables than the limit", MaxInputPaths)
	}
	for name, path := range it.InputPathsMap {
		field := "input_transformer.input_paths_map." + name
		switch {
		case !varNameRE.MatchString(name):
			p.add(field, "a variable name must be 1 to 64 of A-Z a-z 0-9 . _ -", maxPlaceholderName)
			continue
		case strings.HasPrefix(strings.ToLower(name), "flowbus.") || strings.HasPrefix(strings.ToLower(name), "aws."):
			p.add(field, "names starting with flowbus. or aws. are reserved", 0)
			continue
		case len(path) > MaxInputPathBytes:
			p.add(field, "the path is longer than the limit", MaxInputPathBytes)
			continue
		}
		steps, err := parsePath(path)
		if err != nil {
			p.add(field, err.Error(), 0)
			continue
		}
		t.paths[name] = steps
	}
	switch {
	case it.InputTemplate == "":
		p.add("input_transformer.input_template", "is required", 0)
	case len(it.InputTemplate) > MaxInputTemplate:
		p.add("input_transformer.input_template", "is longer than the limit", MaxInputTemplate)
	default:
		t.segs = splitTemplate(it.InputTemplate)
		for _, s := range t.segs {
			if s.name != "" {
				if _, ok := it.InputPathsMap[s.name]; !ok {
					p.add("input_transformer.input_template", "<"+s.name+"> is not a variable of input_paths_map", 0)
				}
			}
		}
		if out, err := t.render(func(string) any { return nil }); err != nil {
			p.add("input_transformer.input_template", "builds more than an event may hold", MaxOutputBytes)
		} else if !json.Valid(out) {
			p.add("input_transformer.input_template", "is not JSON once placeholders are filled in (a placeholder cannot be an object key)", 0)
		}
	}
	if len(p) > 0 {
		return nil, &ValidationError{Fields: p}
	}
	return t, nil
}

// parsePath reads EventBridge's JSONPath subset: $ then .name (letters,
// digits, _ and -) or [index] steps.
func parsePath(s string) ([]step, error) {
	if !strings.HasPrefix(s, "$") {
		return nil, errors.New("a path must start with $, such as $.data.order or $.workflowid")
	}
	var steps []step
	rest := s[1:]
	for rest != "" {
		switch rest[0] {
		case '.':
			n := 1
			for n < len(rest) && isNameByte(rest[n]) {
				n++
			}
			if n == 1 {
				return nil, fmt.Errorf("a path step after . must be a name of A-Z a-z 0-9 _ - at %q", rest)
			}
			steps = append(steps, step{name: rest[1:n]})
			rest = rest[n:]
		case '[':
			end := strings.IndexByte(rest, ']')
			if end < 2 {
				return nil, fmt.Errorf("an index must be [n] at %q", rest)
			}
			i, err := strconv.Atoi(rest[1:end])
			if err != nil || i < 0 {
				return nil, fmt.Errorf("an index must be a number ≥ 0 at %q", rest)
			}
			steps = append(steps, step{index: i})
			rest = rest[end+1:]
		default:
			return nil, fmt.Errorf("unexpected %q: use .name and [index] steps", rest)
		}
	}
	return steps, nil
}

func isNameByte(c byte) bool {
	return c == '_' || c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// splitTemplate cuts a template into literal runs and placeholders, noting
// which placeholders stand inside JSON strings.
func splitTemplate(tpl string) []segment {
	var segs []segment
	inString, escaped := false, false
	start := 0
	for i := 0; i < len(tpl); i++ {
		c := tpl[i]
		if inString {
			switch {
			case escaped:
				escaped = false
				continue
			case c == '\\':
				escaped = true
				continue
			case c == '"':
				inString = false
				continue
			}
		} else if c == '"' {
			inString = true
			continue
		}
		if c != '<' {
			continue
		}
		m := placeholderRE.FindStringSubmatchIndex(tpl[i:])
		if m == nil || m[0] != 0 {
			continue
		}
		if start < i {
			segs = append(segs, segment{lit: tpl[start:i]})
		}
		segs = append(segs, segment{name: tpl[i+m[2] : i+m[3]], inString: inString})
		i += m[1] - 1
		start = i + 1
	}
	if start < len(tpl) {
		segs = append(segs, segment{lit: tpl[start:]})
	}
	return segs
}

// Apply transforms one event, a CloudEvent in structured JSON, into the
// JSON the target gets.
func (t *Transformer) Apply(ev []byte) ([]byte, error) {
	doc, err := pattern.DecodeJSON(ev)
	if err != nil {
		return nil, fmt.Errorf("transform: %w", err)
	}
	return t.ApplyDoc(doc)
}

// ApplyEvent transforms e.
func (t *Transformer) ApplyEvent(e *event.Event) ([]byte, error) {
	return t.Apply(event.Append(nil, e, false))
}

// ApplyDoc transforms an event already decoded with pattern.DecodeJSON
// (the document a pattern was matched against).
func (t *Transformer) ApplyDoc(doc any) ([]byte, error) {
	return t.render(func(name string) any {
		v, ok := lookup(doc, t.paths[name])
		if !ok {
			return nil
		}
		return v
	})
}

// MaxOutputBytes bounds what a transformer builds: what it builds becomes
// one event, at most event.MaxRecordBytes. Rendering stops past it rather
// than building placeholders × value: an 8 KB template of "<e>," around a
// 1 MiB value would be 2 GB, in a function of 256 MB.
const MaxOutputBytes = event.MaxRecordBytes

// ErrOutputTooLarge is a transformer's output past MaxOutputBytes.
var ErrOutputTooLarge = fmt.Errorf("transform: the output is larger than an event may be (%d bytes)", MaxOutputBytes)

func (t *Transformer) render(value func(name string) any) ([]byte, error) {
	var out []byte
	// Each variable's value is encoded once, however often it is placed.
	type encoded struct{ json, text []byte }
	done := make(map[string]*encoded, len(t.paths))
	for _, s := range t.segs {
		if s.name == "" {
			out = append(out, s.lit...)
		} else {
			e := done[s.name]
			if e == nil {
				v := value(s.name)
				e = &encoded{json: appendJSON(nil, v)}
				switch v := v.(type) {
				case nil:
				case string:
					e.text = appendStringContents(nil, v)
				default:
					e.text = appendStringContents(nil, string(e.json))
				}
				done[s.name] = e
			}
			if s.inString {
				out = append(out, e.text...)
			} else {
				out = append(out, e.json...)
			}
		}
		if len(out) > MaxOutputBytes {
			return nil, ErrOutputTooLarge
		}
	}
	return out, nil
}

// lookup follows steps into doc.
func lookup(doc any, steps []step) (any, bool) {
	v := doc
	for _, s := range steps {
		switch x := v.(type) {
		case map[string]any:
			if s.name == "" {
				return nil, false
			}
			var ok bool
			if v, ok = x[s.name]; !ok {
				return nil, false
			}
		case []any:
			if s.name != "" || s.index >= len(x) {
				return nil, false
			}
			v = x[s.index]
		default:
			return nil, false
		}
	}
	return v, true
}

func appendJSON(dst []byte, v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil { // decoded JSON always encodes
		return append(dst, "null"...)
	}
	return append(dst, bytes.TrimRight(buf.Bytes(), "\n")...)
}

// appendStringContents writes s escaped as the inside of a JSON string.
func appendStringContents(dst []byte, s string) []byte {
	q := appendJSON(nil, s)
	return append(dst, q[1:len(q)-1]...)
}

// checkEvent says what is wrong with a bus target's template as an event,
// or "" when it builds a JSON object with a type.
func (t *Transformer) checkEvent() string {
	out, err := t.render(func(string) any { return "x" })
	var m map[string]json.RawMessage
	if err != nil || json.Unmarshal(out, &m) != nil {
		return "must build a JSON object, the new event, for a bus target"
	}
	if _, ok := m["type"]; !ok {
		return "must give the new event a type"
	}
	return ""
}

// sentinels stand for unknown placeholder values in feedsItself.
var sentinels = [2]string{"\x00flowbus-unknown-a", "\x01flowbus-unknown-b"}

// feedsItself reports whether a bus target's output provably matches the
// subscription's own pattern: the template's type is fixed (no
// placeholder) and the pattern matches the derived event with the
// placeholders standing for each of two unrelated unknown values, so
// nothing in the pattern depends on what they turn out to be.
func (t *Transformer) feedsItself(p *pattern.Pattern) bool {
	var types [2]string
	for i, s := range sentinels {
		out, err := t.render(func(string) any { return s })
		if err != nil {
			return false
		}
		src := event.Event{ID: "flowbus-selfcheck", Source: event.DefaultSource, Type: "flowbus.selfcheck", WorkflowID: s}
		e, err := derive(out, "selfcheck", &src)
		if err != nil {
			return false
		}
		types[i] = e.Type
		doc, err := pattern.DecodeJSON(event.Append(nil, &e, false))
		if err != nil || !p.Match(doc) {
			return false
		}
	}
	return types[0] == types[1] && !strings.ContainsAny(types[0], "\x00\x01")
}

// Derive builds the event a bus target publishes from src: the transformer's
// output read as an event in either publish shape, in src's workflow when
// it names none, with causationid (src's id), correlationid (src's, or src's
// id when src starts the chain) and causationhops (src's plus one). Its id
// is fixed by the subscription and src's id, so a delivery retried or
// repeated publishes the same id and the store keeps one copy.
func (t *Transformer) Derive(subscription string, src *event.Event) (event.Event, error) {
	out, err := t.ApplyEvent(src)
	if err != nil {
		return event.Event{}, err
	}
	return derive(out, subscription, src)
}

// Hops is how many derivations led to e (0 for an event a producer sent).
func Hops(e *event.Event) int {
	v, ok := e.Extension(AttrHops)
	if !ok {
		return 0
	}
	n, err := strconv.Atoi(strings.Trim(string(v), `"`))
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// RootID is the id of the event e's chain started from: its correlationid,
// or its own id when it has none (an event a producer sent).
func RootID(e *event.Event) string {
	if v, ok := e.Extension(AttrCorrelationID); ok {
		var s string
		if json.Unmarshal(v, &s) == nil && s != "" {
			return s
		}
	}
	return e.ID
}

var idEncoding = base32.NewEncoding("0123456789ABCDEFGHJKMNPQRSTVWXYZ").WithPadding(base32.NoPadding)

// DerivedID is the id of the event subscription derives from the event with
// id src.
func DerivedID(subscription, src string) string {
	h := sha256.Sum256([]byte(subscription + "\x00" + src))
	return "d" + idEncoding.EncodeToString(h[:16])
}

func derive(out []byte, subscription string, src *event.Event) (event.Event, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(out, &m); err != nil {
		return event.Event{}, fmt.Errorf("derive: the template did not build a JSON object: %w", err)
	}
	for _, k := range []string{AttrCausationID, AttrCorrelationID, AttrHops, "id", "sequence", event.AttrReplayID, event.AttrReplayedAt} {
		delete(m, k) // flowbus sets these
	}
	_, wf1 := m["workflow_id"]
	_, wf2 := m[event.AttrWorkflowID]
	_, wf3 := m[event.AttrPartitionKey]
	if !wf1 && !wf2 && !wf3 {
		m["workflow_id"] = appendJSON(nil, src.WorkflowID)
	}
	corr := RootID(src)
	m["id"] = appendJSON(nil, DerivedID(subscription, src.ID))
	b, err := json.Marshal(m)
	if err != nil {
		return event.Event{}, fmt.Errorf("derive: %w", err)
	}
	e, err := event.Decode(b, event.DecodeOptions{DefaultSource: event.DefaultSource})
	if err != nil {
		return event.Event{}, fmt.Errorf("derive: %w", err)
	}
	e.Extensions = append(e.Extensions,
		event.Extension{Name: AttrCausationID, Value: appendJSON(nil, src.ID)},
		event.Extension{Name: AttrCorrelationID, Value: appendJSON(nil, corr)},
		event.Extension{Name: AttrHops, Value: strconv.AppendInt(nil, int64(Hops(src)+1), 10)},
	)
	if err := e.Validate(); err != nil {
		return event.Event{}, fmt.Errorf("derive: %w", err)
	}
	return e, nil
}
