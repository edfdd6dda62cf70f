package event

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// SpecVersion is the only CloudEvents version flowbus speaks.
const SpecVersion = "1.0"

// Limits enforced before an event reaches Kinesis. MaxRecordBytes is the
// Kinesis record limit (data plus partition key); an event is at most that
// minus its workflow id, so a record of one event always fits.
const (
	MaxRecordBytes     = 1 << 20
	MaxWorkflowIDBytes = 256 // Kinesis partition key limit
	MaxTypeBytes       = 256
	MaxSourceBytes     = 1024
	MaxIDBytes         = 256
	MaxSubjectBytes    = 1024
	MaxContentType     = 256
	MaxDataSchemaBytes = 2048
	MaxExtensions      = 32
	MaxExtensionName   = 20 // CloudEvents: names SHOULD NOT exceed 20 characters
)

// Attribute names flowbus adds to CloudEvents. They are ordinary extension
// attributes on the wire, so any CloudEvents SDK can read them.
const (
	AttrWorkflowID   = "workflowid"   // the partition key: a workflow's events stay in order
	AttrPartitionKey = "partitionkey" // CloudEvents partitioning extension, accepted as an alias
	AttrVersion      = "dataversion"  // schema version of data (the simple shape's "version")
	AttrMetadata     = "metadata"     // the simple shape's metadata object, as a JSON string
	AttrSequence     = "sequence"     // per-workflow position in the event store (sequence extension)
	AttrIDGenerated  = "flowbusidgen" // wire only: the publisher generated the id
	// The replay marker, like EventBridge's replay-name: a replayed event
	// keeps its id, time and sequence and carries these two.
	AttrReplayID   = "replayid"   // the replay that put the event back on a stream
	AttrReplayedAt = "replayedat" // when it did
)

// DefaultSource is the source given to simple-shape events that name none.
const DefaultSource = "/flowbus"

// Errors callers match with errors.Is.
var (
	ErrInvalid  = errors.New("invalid event")
	ErrTooLarge = errors.New("event too large")
)

// Event is one event. Data holds the data member as the JSON value it was
// sent as; when DataBase64 is set it holds the JSON string of data_base64.
type Event struct {
	ID              string
	Source          string
	Type            string
	Subject         string
	Time            time.Time
	DataContentType string
	DataSchema      string
	Data            []byte
	DataBase64      bool

	WorkflowID string
	Version    int    // schema version of Data, 0 when not given
	Metadata   []byte // a JSON object, nil when not given
	Sequence   uint64 // position in the workflow's history, 0 until stored

	Extensions []Extension

	// IDGenerated is true when flowbus, not the producer, chose the id. It
	// travels on the stream only, never to readers.
	IDGenerated bool
}

// Extension is a CloudEvents extension attribute; Value is its JSON value
// (a string, number or boolean) as sent.
type Extension struct {
	Name  string
	Value []byte
}

// FieldError says which field of an event is wrong and why.
type FieldError struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
	Limit  int    `json:"limit,omitempty"`
}

// ValidationError lists every problem found in one event.
type ValidationError struct {
	Fields []FieldError
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("invalid event: ")
	for i, f := range e.Fields {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(f.Field)
		b.WriteString(": ")
		b.WriteString(f.Reason)
	}
	return b.String()
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *ValidationError) Unwrap() error { return ErrInvalid }

// fieldErrors collects problems, allocating only when there is one.
type fieldErrors struct {
	fields []FieldError
}

func (v *fieldErrors) add(field, reason string, limit int) {
	v.fields = append(v.fields, FieldError{Field: field, Reason: reason, Limit: limit})
}

func (v *fieldErrors) err() error {
	if len(v.fields) == 0 {
		return nil
	}
	return &ValidationError{Fields: v.fields}
}

// Validate checks the attributes of e against the CloudEvents rules and the
// flowbus limits. An empty id is allowed: the publisher generates one.
func (e *Event) Validate() error {
	var v fieldErrors
	e.validate(&v)
	return v.err()
}

func (e *Event) validate(v *fieldErrors) {
	bounded(v, "workflow_id", e.WorkflowID, MaxWorkflowIDBytes, true)
	bounded(v, "type", e.Type, MaxTypeBytes, true)
	bounded(v, "source", e.Source, MaxSourceBytes, true)
	bounded(v, "id", e.ID, MaxIDBytes, false)
	bounded(v, "subject", e.Subject, MaxSubjectBytes, false)
	bounded(v, "datacontenttype", e.DataContentType, MaxContentType, false)
	bounded(v, "dataschema", e.DataSchema, MaxDataSchemaBytes, false)
	if e.Version < 0 {
		v.add("version", "must be a positive integer", 0)
	}
	if len(e.Extensions) > MaxExtensions {
		v.add("extensions", fmt.Sprintf("%d extension attributes, more than the limit", len(e.Extensions)), MaxExtensions)
	}
}

func bounded(v *fieldErrors, field, val string, limit int, required bool) {
	switch {
	case val == "" && required:
		v.add(field, "is required", 0)
	case len(val) > limit:
		v.add(field, fmt.Sprintf("is %d bytes, more than the limit", len(val)), limit)
	}
}

// MaxEncodedBytes is the largest encoded size e may have: a record holding
// only e must fit the Kinesis limit together with its partition key.
func (e *Event) MaxEncodedBytes() int { return MaxRecordBytes - len(e.WorkflowID) }

// Replayed reports whether e carries the replay marker.
func (e *Event) Replayed() bool {
	_, ok := e.Extension(AttrReplayID)
	return ok
}

// Extension returns the value of the named extension attribute.
func (e *Event) Extension(name string) ([]byte, bool) {
	for _, x := range e.Extensions {
		if x.Name == name {
			return x.Value, true
		}
	}
	return nil, false
}
