package ingest

import (
	"errors"
	"fmt"
	"strings"

	"github.com/flowbus/flowbus/shared/event"
)

// Kind is what a request body holds, as its media type announces it.
type Kind int

const (
	// Events is one event, a JSON array of events or {"events": [...]},
	// each in the simple shape or as a CloudEvent.
	Events Kind = iota
	// CloudEvent is one CloudEvent in structured mode.
	CloudEvent
	// CloudEventsBatch is a JSON array of CloudEvents.
	CloudEventsBatch
)

// A body refused as a whole: nothing of it is published.
var (
	// ErrNoEvents: the body holds no events (an empty array, say).
	ErrNoEvents = errors.New("the request holds no events")
	// ErrNotCloudEvent: a CloudEvent body that is not one event object.
	ErrNotCloudEvent = errors.New("a CloudEvent body must be one event object")
	// ErrNotBatch: a CloudEvents batch body that is not an array.
	ErrNotBatch = errors.New("a CloudEvents batch body must be an array of events")
	// ErrNotMediaType: a binary-mode event whose content type is not a
	// media type.
	ErrNotMediaType = errors.New("the content type is not a media type")
	// ErrCharset: a binary-mode event whose content type names a charset
	// other than utf-8.
	ErrCharset = errors.New("only the utf-8 charset is accepted")
	// ErrDataNotJSON: a binary-mode event with a JSON content type whose
	// data is not JSON.
	ErrDataNotJSON = errors.New("binary-mode data with a JSON content type is not JSON")
	// ErrUnencodable: a binary-mode event that cannot be written as a
	// structured-mode CloudEvent.
	ErrUnencodable = errors.New("the binary-mode event cannot be written in structured mode")
)

// TooManyError refuses a body holding more than Limit events.
type TooManyError struct {
	Limit int
}

func (e *TooManyError) Error() string { return fmt.Sprintf("more than %d events", e.Limit) }

// Unwrap makes errors.Is(err, event.ErrTooMany) true.
func (e *TooManyError) Unwrap() error { return event.ErrTooMany }

// MalformedError refuses a body that is not JSON, or not events where
// events belong; Err says where (a *jsonscan.SyntaxError gives the offset).
type MalformedError struct {
	Err error
}

func (e *MalformedError) Error() string { return e.Err.Error() }
func (e *MalformedError) Unwrap() error { return e.Err }

// InvalidError refuses a body of one event (an object, not an array) that
// broke a rule: the same message and fields its entry would have had.
type InvalidError struct {
	Message string
	Fields  []event.FieldError
}

func (e *InvalidError) Error() string { return e.Message }

// HeaderError refuses a binary-mode event whose attribute headers are not
// UTF-8 text, percent-encoded, each given once; each field names a header.
type HeaderError struct {
	Fields []event.FieldError
}

func (e *HeaderError) Error() string {
	var b strings.Builder
	b.WriteString("binary-mode headers: ")
	for i, f := range e.Fields {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(f.Field + ": " + f.Reason)
	}
	return b.String()
}
