package event

import (
	"github.com/flowbus/flowbus/shared/jsonscan"
)

// Item is one element of a batch: its event, or why it is not one.
type Item struct {
	Event Event
	Raw   []byte // the element as it stands in the input
	Err   error
}

// DecodeBatch reads a body that holds one event object, a JSON array of
// events (CloudEvents batch mode), or, when wrapped is set, {"events":[...]}.
// Malformed JSON anywhere fails the whole body before any event is decoded;
// a well-formed element that is not a valid event gets its own Item.Err.
func DecodeBatch(b []byte, opts DecodeOptions, wrapped bool) ([]Item, error) {
	s := jsonscan.New(b)
	if _, err := s.Value(); err != nil {
		return nil, err
	}
	if err := s.End(); err != nil {
		return nil, err
	}
	s.Reset(b)
	switch s.Peek() {
	case '[':
		return decodeArray(s, b, opts)
	case '{':
		if wrapped {
			if inner, ok := unwrap(b); ok {
				s.Reset(inner)
				return decodeArray(s, inner, opts)
			}
		}
		var e Event
		err := decodeObject(s, &e, opts)
		if err != nil {
			return []Item{{Raw: b, Err: err}}, nil
		}
		return []Item{{Event: e, Raw: b}}, nil
	default:
		return nil, &jsonscan.SyntaxError{Offset: s.Offset(), Msg: "want an event object or an array of events"}
	}
}

// CountBatch returns how many events DecodeBatch would return, reading only
// the top level, so a caller can refuse an oversized batch before decoding.
func CountBatch(b []byte, wrapped bool) (int, error) {
	s := jsonscan.New(b)
	switch s.Peek() {
	case '[':
	case '{':
		inner, ok := unwrap(b)
		if !wrapped || !ok {
			return 1, nil
		}
		s.Reset(inner)
	default:
		return 0, &jsonscan.SyntaxError{Offset: s.Offset(), Msg: "want an event object or an array of events"}
	}
	if err := s.BeginArray(); err != nil {
		return 0, err
	}
	n := 0
	for first := true; ; first = false {
		more, err := s.NextElement(first)
		if err != nil {
			return 0, err
		}
		if !more {
			return n, nil
		}
		if _, err := s.Value(); err != nil {
			return 0, err
		}
		n++
	}
}

// unwrap returns the array of an object whose only member is "events".
func unwrap(b []byte) ([]byte, bool) {
	s := jsonscan.New(b)
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

func decodeArray(s *jsonscan.Scanner, src []byte, opts DecodeOptions) ([]Item, error) {
	if err := s.BeginArray(); err != nil {
		return nil, err
	}
	items := make([]Item, 0, 16)
	for first := true; ; first = false {
		more, err := s.NextElement(first)
		if err != nil {
			return nil, err
		}
		if !more {
			return items, nil
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
		// The input was checked to be well formed, so decodeObject reads
		// the whole object and can only report field errors.
		if err := decodeObject(s, &it.Event, opts); err != nil {
			if _, ok := err.(*ValidationError); !ok {
				return nil, err
			}
			it.Err = err
		}
		it.Raw = src[start:s.Offset()]
	}
}

// AppendRecord writes the Kinesis record data for events of one workflow:
// the event object itself for one event, a CloudEvents batch (a JSON array)
// for more.
func AppendRecord(dst []byte, events []*Event) []byte {
	if len(events) == 1 {
		return Append(dst, events[0], true)
	}
	dst = append(dst, '[')
	for i, e := range events {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = Append(dst, e, true)
	}
	return append(dst, ']')
}
