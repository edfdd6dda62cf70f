package event

import (
	"fmt"
	"strconv"
	"time"

	"github.com/flowbus/flowbus/shared/jsonscan"
)

// DecodeOptions changes what Decode accepts.
type DecodeOptions struct {
	// Wire accepts the attributes only flowbus itself writes on the stream
	// (flowbusidgen, sequence). Producers may not send them.
	Wire bool
	// DefaultSource is used when the event names no source. Empty leaves
	// source empty, which Validate reports.
	DefaultSource string
	// Intern, when set, shares the strings of source, type and workflow id
	// across the events of a batch.
	Intern *Interner
}

// Decode reads one event from a JSON object in either shape: CloudEvents
// structured mode (specversion, id, source, type, time, data, extension
// attributes) or the simple shape (type, workflow_id, timestamp, data,
// metadata, version). Problems with fields are all reported at once as a
// *ValidationError; malformed JSON is a *jsonscan.SyntaxError. Data and
// Extension values point into b.
func Decode(b []byte, opts DecodeOptions) (Event, error) {
	var e Event
	s := opts.scanner(b)
	if s.Peek() != '{' {
		if _, err := s.Value(); err != nil {
			return Event{}, err
		}
		if err := s.End(); err != nil {
			return Event{}, err
		}
		return Event{}, &ValidationError{Fields: []FieldError{{Field: "event", Reason: "must be a JSON object"}}}
	}
	err := decodeObject(s, &e, opts, nil)
	if _, invalid := err.(*ValidationError); err != nil && !invalid {
		return Event{}, err
	}
	if endErr := s.End(); endErr != nil {
		return Event{}, endErr
	}
	if err != nil {
		return Event{}, err
	}
	return e, nil
}

// JSONOptions are the rules producers' JSON is read with: strings must be
// valid UTF-8 (encoding/json would read each bad byte as U+FFFD, and the
// event would not be what was sent), and objects and arrays nest at most
// 1000 deep, counted from the top of the body.
var JSONOptions = jsonscan.Options{MaxDepth: 1000, ValidUTF8: true}

// wireJSON are the rules records on the stream are read with: as
// JSONOptions, but with encoding/json's depth limit, since a record nests
// an event one level deeper (in a batch array) than the body it came in.
var wireJSON = jsonscan.Options{ValidUTF8: true}

// scanner returns a Scanner over b with the rules for opts.
func (opts DecodeOptions) scanner(b []byte) *jsonscan.Scanner {
	if opts.Wire {
		return jsonscan.NewOptions(b, wireJSON)
	}
	return jsonscan.NewOptions(b, JSONOptions)
}

// decodeObject reads one event object into e; spec, when not nil, is set
// to whether the object names its specversion.
func decodeObject(s *jsonscan.Scanner, e *Event, opts DecodeOptions, spec *bool) error {
	if s.Peek() != '{' {
		return &ValidationError{Fields: []FieldError{{Field: "event", Reason: "must be a JSON object"}}}
	}
	if err := s.BeginObject(); err != nil {
		return err
	}
	v := &fieldErrors{}
	var (
		haveSpec, haveData, haveTime bool
		wfField                      string
		seen                         uint32 // the known attributes given, by attrBit
	)
	for first := true; ; first = false {
		key, more, err := s.NextKey(first)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		// A key given twice is refused whatever its values: encoding/json
		// and most decoders keep the last, others the first, so the event
		// would mean different things to different readers.
		if bit := attrBit(key); bit != 0 {
			if seen&bit != 0 {
				v.add(string(key), "is given twice", 0)
			}
			seen |= bit
		} else if e.hasExtension(key) {
			v.add(string(key), "is given twice", 0)
		}
		if s.Null() {
			continue // null is absent, as the CloudEvents JSON format says
		}
		switch string(key) {
		case "specversion":
			k := "specversion"
			haveSpec = true
			if s.Peek() != '"' {
				if _, err := str(s, v, k); err != nil {
					return err
				}
				break
			}
			// Compared as bytes: converting every event's "1.0" to a
			// string would cost an allocation.
			sv, err := strBytes(s, v, k)
			if err != nil {
				return err
			}
			if string(sv) != SpecVersion && len(sv) > 0 {
				v.add(k, fmt.Sprintf("must be %q, got %q", SpecVersion, sv), 0)
			}
		case "id":
			k := "id"
			if e.ID, err = copiedStr(s, v, k, opts.Intern); err != nil {
				return err
			}
			if e.ID == "" {
				v.add(k, "must not be empty when given", 0)
			}
		case "source":
			if e.Source, err = internedStr(s, v, "source", opts.Intern, slotSource); err != nil {
				return err
			}
		case "type":
			if e.Type, err = internedStr(s, v, "type", opts.Intern, slotType); err != nil {
				return err
			}
		case "subject":
			if e.Subject, err = str(s, v, "subject"); err != nil {
				return err
			}
		case "time", "timestamp":
			k := keyName(key)
			if haveTime {
				v.add(k, "time and timestamp both given", 0)
			}
			haveTime = true
			if s.Peek() != '"' {
				if _, err := str(s, v, k); err != nil {
					return err
				}
				continue
			}
			ts, err := s.StringBytes()
			if err != nil {
				return err
			}
			if len(ts) > 0 {
				t, ok := parseTime(ts)
				if !ok {
					v.add(k, "must be an RFC 3339 timestamp such as 2024-01-01T00:00:00Z", 0)
				}
				e.Time = t
			}
		case "datacontenttype":
			if e.DataContentType, err = str(s, v, "datacontenttype"); err != nil {
				return err
			}
		case "dataschema":
			if e.DataSchema, err = str(s, v, "dataschema"); err != nil {
				return err
			}
		case "data":
			if haveData {
				v.add("data", "data and data_base64 both given", 0)
			}
			haveData = true
			if e.Data, err = s.Value(); err != nil {
				return err
			}
		case "data_base64":
			if haveData {
				v.add("data_base64", "data and data_base64 both given", 0)
			}
			haveData = true
			if s.Peek() != '"' {
				v.add("data_base64", "must be a base64 string", 0)
			}
			if e.Data, err = s.Value(); err != nil {
				return err
			}
			if e.Data[0] == '"' && !validBase64(e.Data) {
				v.add("data_base64", "is not base64 (RFC 4648, standard alphabet, padded)", 0)
			}
			e.DataBase64 = true
		case "workflow_id", AttrWorkflowID, AttrPartitionKey:
			k := keyName(key)
			id, err := internedStr(s, v, k, opts.Intern, slotWorkflow)
			if err != nil {
				return err
			}
			if wfField != "" && id != e.WorkflowID {
				v.add(k, fmt.Sprintf("disagrees with %s", wfField), 0)
			}
			wfField, e.WorkflowID = k, id
		case "version", AttrVersion:
			k := keyName(key)
			if s.Peek() == '"' {
				raw, err := s.String()
				if err != nil {
					return err
				}
				n, perr := strconv.Atoi(raw)
				if perr != nil || n < 1 {
					v.add(k, "must be a positive integer", 0)
				}
				e.Version = n
				continue
			}
			raw, err := s.Value()
			if err != nil {
				return err
			}
			n, perr := strconv.Atoi(string(raw))
			if perr != nil || n < 1 {
				v.add(k, "must be a positive integer", 0)
			}
			e.Version = n
		case AttrMetadata:
			if err := decodeMetadata(s, e, v, !opts.Wire); err != nil {
				return err
			}
		case AttrSequence:
			k := AttrSequence
			raw, err := str(s, v, k)
			if err != nil {
				return err
			}
			if !opts.Wire {
				v.add(k, "is assigned by the event store and cannot be set", 0)
				continue
			}
			if e.Sequence, err = strconv.ParseUint(raw, 10, 64); err != nil {
				v.add(k, "must be a decimal sequence number", 0)
			}
		case AttrReplayID, AttrReplayedAt:
			k := keyName(key)
			raw, err := s.Value()
			if err != nil {
				return err
			}
			if !opts.Wire {
				v.add(k, "is set by flowbus replays and cannot be sent", 0)
				continue
			}
			e.Extensions = append(e.Extensions, Extension{Name: k, Value: raw})
		case AttrIDGenerated:
			k := AttrIDGenerated
			raw, err := s.Value()
			if err != nil {
				return err
			}
			if !opts.Wire {
				v.add(k, "is reserved for flowbus", 0)
				continue
			}
			e.IDGenerated = string(raw) == "true"
		default:
			raw, err := s.Value()
			if err != nil {
				return err
			}
			if reason := extensionProblem(key, raw); reason != "" {
				v.add(string(key), reason, 0)
				continue
			}
			if !opts.Wire && jsonscan.LoneSurrogate(raw) {
				v.add(string(key), reasonLoneSurrogate, 0)
				continue
			}
			e.Extensions = append(e.Extensions, Extension{Name: string(key), Value: raw})
		}
	}
	if e.Source == "" && !haveSpec {
		e.Source = opts.DefaultSource
	}
	if spec != nil {
		*spec = haveSpec
	}
	e.validate(v)
	return v.err()
}

// attrKeys are the attributes a decoder knows, each a bit of attrBit.
var attrKeys = [...]string{"specversion", "id", "source", "type", "subject", "time", "timestamp", "datacontenttype",
	"dataschema", "data", "data_base64", "workflow_id", AttrWorkflowID, AttrPartitionKey, "version", AttrVersion,
	AttrMetadata, AttrSequence, AttrReplayID, AttrReplayedAt, AttrIDGenerated}

// attrBit is the bit of a known attribute (1 << its index in attrKeys), 0
// for an extension. A switch on constants compiles to a search by length
// and value, cheaper than a loop over attrKeys for every key of every
// event; TestAttrBit holds the two together.
func attrBit(key []byte) uint32 {
	switch string(key) {
	case "specversion":
		return 1 << 0
	case "id":
		return 1 << 1
	case "source":
		return 1 << 2
	case "type":
		return 1 << 3
	case "subject":
		return 1 << 4
	case "time":
		return 1 << 5
	case "timestamp":
		return 1 << 6
	case "datacontenttype":
		return 1 << 7
	case "dataschema":
		return 1 << 8
	case "data":
		return 1 << 9
	case "data_base64":
		return 1 << 10
	case "workflow_id":
		return 1 << 11
	case AttrWorkflowID:
		return 1 << 12
	case AttrPartitionKey:
		return 1 << 13
	case "version":
		return 1 << 14
	case AttrVersion:
		return 1 << 15
	case AttrMetadata:
		return 1 << 16
	case AttrSequence:
		return 1 << 17
	case AttrReplayID:
		return 1 << 18
	case AttrReplayedAt:
		return 1 << 19
	case AttrIDGenerated:
		return 1 << 20
	}
	return 0
}

// hasExtension reports whether e already has an extension named name.
func (e *Event) hasExtension(name []byte) bool {
	for _, x := range e.Extensions {
		if x.Name == string(name) {
			return true
		}
	}
	return false
}

// validBase64 reports whether raw, a JSON string with its quotes, holds
// standard padded base64 (line breaks, which RFC 2045 allows, are refused).
func validBase64(raw []byte) bool {
	b, err := jsonscan.NewOptions(raw, JSONOptions).StringBytes()
	if err != nil || len(b)%4 != 0 {
		return false
	}
	for i, c := range b {
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '+', c == '/':
		case c == '=' && (i == len(b)-1 || (i == len(b)-2 && b[i+1] == '=')):
		default:
			return false
		}
	}
	return true
}

// keyName returns the attribute name for a key among a few known spellings
// without allocating.
func keyName(key []byte) string {
	for _, name := range [...]string{"time", "timestamp", "workflow_id", AttrWorkflowID, AttrPartitionKey, "version", AttrVersion, AttrReplayID, AttrReplayedAt} {
		if string(key) == name {
			return name
		}
	}
	return string(key)
}

// str reads a string attribute; a value of another JSON type is a field error.
func str(s *jsonscan.Scanner, v *fieldErrors, field string) (string, error) {
	if s.Peek() != '"' {
		if _, err := s.Value(); err != nil {
			return "", err
		}
		v.add(field, "must be a string", 0)
		return "", nil
	}
	b, err := strBytes(s, v, field)
	return string(b), err
}

// strBytes reads the value of a string attribute. A lone surrogate escape
// in it is a field error: it would be read as U+FFFD, and two different
// values, two workflow ids say, would become the same.
func strBytes(s *jsonscan.Scanner, v *fieldErrors, field string) ([]byte, error) {
	raw, plain, err := s.RawString()
	if err != nil || plain {
		return raw, err
	}
	if jsonscan.LoneSurrogate(raw) {
		v.add(field, reasonLoneSurrogate, 0)
	}
	return jsonscan.AppendUnquoted(make([]byte, 0, len(raw)), raw), nil
}

// internedStr is str through an Interner, remembering the value in slot.
func internedStr(s *jsonscan.Scanner, v *fieldErrors, field string, in *Interner, slot int) (string, error) {
	if s.Peek() != '"' {
		return str(s, v, field)
	}
	b, err := strBytes(s, v, field)
	if err != nil {
		return "", err
	}
	return in.stringAt(slot, b), nil
}

// copiedStr is str through Interner.Copy.
func copiedStr(s *jsonscan.Scanner, v *fieldErrors, field string, in *Interner) (string, error) {
	if s.Peek() != '"' {
		return str(s, v, field)
	}
	b, err := strBytes(s, v, field)
	if err != nil {
		return "", err
	}
	return in.Copy(b), nil
}

// decodeMetadata reads the metadata attribute; from a producer, a lone
// surrogate escape in it is refused (records on the stream keep what was
// accepted before that rule).
func decodeMetadata(s *jsonscan.Scanner, e *Event, v *fieldErrors, producer bool) error {
	switch s.Peek() {
	case '{':
		raw, err := s.Value()
		if err != nil {
			return err
		}
		if producer && jsonscan.LoneSurrogate(raw) {
			v.add(AttrMetadata, reasonLoneSurrogate, 0)
		}
		e.Metadata = raw
	case '"': // CloudEvents form: the object as a JSON string
		quoted, plain, err := s.RawString()
		if err != nil {
			return err
		}
		raw := quoted
		if !plain {
			raw = jsonscan.AppendUnquoted(make([]byte, 0, len(quoted)), quoted)
			if producer && jsonscan.LoneSurrogate(quoted) {
				v.add(AttrMetadata, reasonLoneSurrogate, 0)
				return nil
			}
		}
		inner := jsonscan.NewOptions(raw, JSONOptions)
		if inner.Peek() != '{' {
			v.add(AttrMetadata, "must be a JSON object", 0)
			return nil
		}
		obj, err := inner.Value()
		if err != nil || inner.End() != nil {
			v.add(AttrMetadata, "must be a JSON object", 0)
			return nil
		}
		if producer && jsonscan.LoneSurrogate(obj) {
			v.add(AttrMetadata, reasonLoneSurrogate, 0)
		}
		e.Metadata = obj
	default:
		if _, err := s.Value(); err != nil {
			return err
		}
		v.add(AttrMetadata, "must be a JSON object", 0)
	}
	return nil
}

// extensionProblem checks an extension attribute against the CloudEvents
// naming rules and type system (string, number, boolean).
func extensionProblem(name, raw []byte) string {
	if len(name) == 0 || len(name) > MaxExtensionName {
		return fmt.Sprintf("unknown attribute; extension names are 1 to %d characters", MaxExtensionName)
	}
	for _, c := range name {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return "unknown attribute; extension names use only a-z and 0-9"
		}
	}
	switch raw[0] {
	case '{', '[':
		return "extension attributes must be a string, number or boolean"
	}
	return ""
}

// Append writes e as a CloudEvents structured-mode JSON object. With wire set
// it also writes the attributes only the stream carries.
func Append(dst []byte, e *Event, wire bool) []byte {
	dst = append(dst, `{"specversion":"1.0"`...)
	if e.ID != "" {
		dst = append(dst, `,"id":`...)
		dst = jsonscan.AppendString(dst, e.ID)
	}
	dst = append(dst, `,"source":`...)
	dst = jsonscan.AppendString(dst, e.Source)
	dst = append(dst, `,"type":`...)
	dst = jsonscan.AppendString(dst, e.Type)
	if e.Subject != "" {
		dst = append(dst, `,"subject":`...)
		dst = jsonscan.AppendString(dst, e.Subject)
	}
	if !e.Time.IsZero() {
		dst = append(dst, `,"time":"`...)
		dst = e.Time.UTC().AppendFormat(dst, time.RFC3339Nano)
		dst = append(dst, '"')
	}
	if e.DataContentType != "" {
		dst = append(dst, `,"datacontenttype":`...)
		dst = jsonscan.AppendString(dst, e.DataContentType)
	}
	if e.DataSchema != "" {
		dst = append(dst, `,"dataschema":`...)
		dst = jsonscan.AppendString(dst, e.DataSchema)
	}
	dst = append(dst, `,"workflowid":`...)
	dst = jsonscan.AppendString(dst, e.WorkflowID)
	if e.Version > 0 {
		dst = append(dst, `,"dataversion":`...)
		dst = strconv.AppendInt(dst, int64(e.Version), 10)
	}
	if len(e.Metadata) > 0 {
		dst = append(dst, `,"metadata":`...)
		dst = jsonscan.AppendString(dst, string(e.Metadata))
	}
	if e.Sequence > 0 {
		dst = append(dst, `,"sequence":"`...)
		dst = AppendSequence(dst, e.Sequence)
		dst = append(dst, '"')
	}
	for _, x := range e.Extensions {
		dst = append(dst, ',')
		dst = jsonscan.AppendString(dst, x.Name)
		dst = append(dst, ':')
		dst = append(dst, x.Value...)
	}
	if wire && e.IDGenerated {
		dst = append(dst, `,"flowbusidgen":true`...)
	}
	if len(e.Data) > 0 {
		if e.DataBase64 {
			dst = append(dst, `,"data_base64":`...)
		} else {
			dst = append(dst, `,"data":`...)
		}
		dst = append(dst, e.Data...)
	}
	return append(dst, '}')
}

// SequenceDigits is the width sequence numbers are zero-padded to, so that
// they sort as strings, as the CloudEvents sequence extension asks.
const SequenceDigits = 20

// AppendSequence writes n zero-padded to SequenceDigits digits.
func AppendSequence(dst []byte, n uint64) []byte {
	var buf [SequenceDigits]byte
	for i := len(buf) - 1; i >= 0; i-- {
		buf[i] = byte('0' + n%10)
		n /= 10
	}
	return append(dst, buf[:]...)
}
