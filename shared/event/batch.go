package event

import (
	"errors"
	"fmt"

	"github.com/flowbus/flowbus/shared/jsonscan"
)

// Item is one element of a batch: its event, or why it is not one.
type Item struct {
	Event Event
	Raw   []byte // the element as it stands in the input
	Err   error
	// SpecVersion is true when the element names its specversion (null
	// counts as absent), as a CloudEvent in structured mode must.
	SpecVersion bool
}

// ErrTooMany is returned by DecodeBatch when a body holds more events than
// its limit allows.
var ErrTooMany = errors.New("too many events")

// DecodeBatch reads a body that holds one event object, a JSON array of
// events (CloudEvents batch mode), or, when wrapped is set, {"events":[...]}.
// Malformed JSON anywhere fails the whole body; a well-formed element that
// is not a valid event gets its own Item.Err. More than limit events (when
// limit > 0) fails with ErrTooMany as soon as the limit is passed.
func DecodeBatch(b []byte, opts DecodeOptions, wrapped bool, limit int) ([]Item, error) {
	return AppendBatch(nil, b, opts, wrapped, limit)
}

// AppendBatch is DecodeBatch appending to items, so that a caller decoding
// many bodies can reuse one slice; on an error it returns items as given.
func AppendBatch(items []Item, b []byte, opts DecodeOptions, wrapped bool, limit int) ([]Item, error) {
	given := items
	s := opts.scanner(b)
	var err error
	switch s.Peek() {
	case '[':
		items, err = decodeArray(s, items, b, opts, limit)
	case '{':
		if wrapped {
			if inner, ok := unwrap(b); ok {
				s.Reset(inner)
				if items, err = decodeArray(s, items, inner, opts, limit); err != nil {
					return given, err
				}
				return items, nil
			}
		}
		var e Event
		var spec bool
		err = decodeObject(s, &e, opts, &spec)
		if _, invalid := err.(*ValidationError); err == nil || invalid {
			items = append(items, Item{Event: e, Raw: b, Err: err, SpecVersion: spec})
			err = nil
		}
	default:
		return given, s.Unexpected("an event object or an array of events")
	}
	if err != nil {
		return given, err
	}
	if err := s.End(); err != nil {
		return given, err
	}
	return items, nil
}

// unwrap returns the array of an object whose only member is "events".
// Nesting is checked when the array is read, from its top.
func unwrap(b []byte) ([]byte, bool) {
	s := jsonscan.NewOptions(b, wireJSON)
	if s.BeginObject() != nil {
		return nil, false
	}
	key, more, err := s.NextKey(true)
	if err != nil || !more || string(key) != "events" || s.Peek() != '[' {
		return nil, false
	}
	arr, err := s.Value()
	if err != nil {
		return nil, false
	}
	if _, more, err := s.NextKey(false); err != nil || more {
		return nil, false
	}
	return arr, true
}

// decodeArray appends the array's events to items (a new slice when nil).
func decodeArray(s *jsonscan.Scanner, items []Item, src []byte, opts DecodeOptions, limit int) ([]Item, error) {
	if err := s.BeginArray(); err != nil {
		return nil, err
	}
	if items == nil {
		items = make([]Item, 0, 16)
	}
	base := len(items)
	for first := true; ; first = false {
		more, err := s.NextElement(first)
		if err != nil {
			return nil, err
		}
		if !more {
			return items, nil
		}
		if limit > 0 && len(items)-base == limit {
			return nil, fmt.Errorf("%w: more than %d", ErrTooMany, limit)
		}
		items = append(items, Item{})
		it := &items[len(items)-1]
		s.Peek()
		start := s.Offset()
		if s.Peek() != '{' {
			if _, err := s.Value(); err != nil {
				return nil, err
			}
			it.Raw = src[start:s.Offset()]
			it.Err = &ValidationError{Fields: []FieldError{{Field: "event", Reason: "must be a JSON object"}}}
			continue
		}
		// decodeObject reads the whole object before it reports field
		// errors; any other error is malformed JSON.
		if err := decodeObject(s, &it.Event, opts, &it.SpecVersion); err != nil {
			if _, ok := err.(*ValidationError); !ok {
				return nil, err
			}
			it.Err = err
		}
		it.Raw = src[start:s.Offset()]
	}
}
