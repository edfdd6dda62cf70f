package ingest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/flowbus/flowbus/shared/bus"
	"github.com/flowbus/flowbus/shared/event"
	"github.com/flowbus/flowbus/shared/jsonscan"
	"github.com/flowbus/flowbus/shared/schema"
)

// Publisher is what ingest needs of bus.Publisher.
type Publisher interface {
	Publish(ctx context.Context, events []*event.Event) []bus.Result
}

// EncodedPublisher is a Publisher that also takes events ingest has
// encoded already (to check their size), so that no event is encoded
// twice. bus.Publisher is one.
type EncodedPublisher interface {
	Publisher
	PublishEncoded(ctx context.Context, events []bus.Encoded) []bus.Result
}

// Entry is the outcome for one event of a request, like an EventBridge
// PutEvents result entry.
type Entry struct {
	ID             string             `json:"id,omitempty"`
	SequenceNumber string             `json:"sequence_number,omitempty"`
	SubSequence    *int               `json:"sub_sequence_number,omitempty"` // index inside an aggregated record
	ShardID        string             `json:"shard_id,omitempty"`
	ErrorCode      string             `json:"error_code,omitempty"`
	ErrorMessage   string             `json:"error_message,omitempty"`
	Errors         []event.FieldError `json:"errors,omitempty"`
}

// Response is one entry per event of a request, in request order.
type Response struct {
	FailedEntryCount int     `json:"failed_entry_count"`
	Entries          []Entry `json:"entries"`
}

// CodeInvalid marks an entry refused by validation.
const CodeInvalid = "InvalidEvent"

// Service publishes request bodies. Build it once per cold start.
type Service struct {
	pub           Publisher
	ids           *event.IDSource
	now           func() time.Time
	maxBatch      int
	defaultSource string
	schemas       *schema.Registry
}

// New returns a Service; schemas validates each event's data for its type
// and version (nil checks none).
func New(pub Publisher, maxBatch int, defaultSource string, schemas *schema.Registry) *Service {
	return &Service{pub: pub, ids: event.NewIDSource(), now: time.Now, maxBatch: maxBatch, defaultSource: defaultSource, schemas: schemas}
}

// Outcome is what Publish did with a body it took.
type Outcome struct {
	Response *Response
	// NothingSent is true when no event went out because of the stream:
	// every event given to it failed there (others may have been invalid).
	NothingSent bool
	// PublishedByType counts the events that went out, by event type.
	PublishedByType map[string]int
}

// Publish reads body as kind and puts its valid events on the stream. A
// body refused as a whole, with nothing written, is an error:
// ErrNotCloudEvent, ErrNotBatch, ErrNoEvents, *TooManyError,
// *MalformedError, or *InvalidError for a body of one invalid event.
func (s *Service) Publish(ctx context.Context, body []byte, kind Kind) (Outcome, error) {
	return s.PublishChecked(ctx, body, kind, nil)
}

// Check decides whether the valid events of a request may be published,
// before any is: an error refuses the whole request (nothing is written)
// and PublishChecked returns it as it is.
type Check func(ctx context.Context, events []*event.Event) error

// PublishChecked is Publish with check (nil: none) run on the request's
// valid events, defaults applied (source), before they go to the stream.
func (s *Service) PublishChecked(ctx context.Context, body []byte, kind Kind, check Check) (Outcome, error) {
	opts := event.DecodeOptions{DefaultSource: s.defaultSource, Intern: event.NewInterner()}
	first := jsonscan.New(body).Peek()
	switch {
	case kind == CloudEvent && first != '{':
		return Outcome{}, ErrNotCloudEvent
	case kind == CloudEventsBatch && first != '[':
		return Outcome{}, ErrNotBatch
	}
	if kind != Events {
		opts.DefaultSource = "" // CloudEvents name their source
	}
	items, err := event.DecodeBatch(body, opts, kind == Events, s.maxBatch)
	if errors.Is(err, event.ErrTooMany) {
		return Outcome{}, &TooManyError{Limit: s.maxBatch}
	}
	if err != nil {
		return Outcome{}, &MalformedError{Err: err}
	}
	if len(items) == 0 {
		return Outcome{}, ErrNoEvents
	}

	now := s.now().UTC()
	entries := make([]Entry, len(items))
	valid := make([]*event.Event, 0, len(items))
	index := make([]int, 0, len(items))
	ends := make([]int, 0, len(items)) // where each valid event's bytes end in arena
	// Each valid event is encoded once, here, to check its size; the
	// publisher takes the bytes as they are.
	arena := make([]byte, 0, len(body)+encodedOverhead*len(items))
	for i := range items {
		it := &items[i]
		if it.Err == nil && kind != Events && !it.SpecVersion {
			it.Err = &event.ValidationError{Fields: []event.FieldError{{Field: "specversion", Reason: "is required for CloudEvents"}}}
		}
		if it.Err == nil && s.schemas != nil {
			it.Err = s.schemas.Validate(&it.Event)
		}
		if it.Err != nil {
			entries[i] = invalidEntry(it.Event.ID, it.Err)
			continue
		}
		e := &it.Event
		if e.ID == "" {
			e.ID, e.IDGenerated = s.ids.New(now), true
		}
		if e.Time.IsZero() {
			e.Time = now
		}
		start := len(arena)
		arena = event.Append(arena, e, true)
		if size, limit := len(arena)-start, e.MaxEncodedBytes(); size > limit {
			arena = arena[:start]
			entries[i] = Entry{ID: e.ID, ErrorCode: CodeInvalid, ErrorMessage: "event too large",
				Errors: []event.FieldError{{Field: "event", Reason: fmt.Sprintf("is %d bytes encoded, more than a Kinesis record allows", size), Limit: limit}}}
			continue
		}
		valid = append(valid, e)
		index = append(index, i)
		ends = append(ends, len(arena))
	}
	if len(valid) == 0 && len(items) == 1 && first == '{' {
		// One event, refused: a plain client error.
		return Outcome{}, &InvalidError{Message: entries[0].ErrorMessage, Fields: entries[0].Errors}
	}

	if check != nil && len(valid) > 0 {
		if err := check(ctx, valid); err != nil {
			return Outcome{}, err
		}
	}
	resp := &Response{Entries: entries}
	sent, streamFailures := 0, 0
	byType := map[string]int{}
	if len(valid) > 0 {
		var results []bus.Result
		if ep, ok := s.pub.(EncodedPublisher); ok {
			encoded := make([]bus.Encoded, len(valid))
			start := 0
			for k, end := range ends {
				encoded[k] = bus.Encoded{WorkflowID: valid[k].WorkflowID, Data: arena[start:end:end]}
				start = end
			}
			results = ep.PublishEncoded(ctx, encoded)
		} else {
			results = s.pub.Publish(ctx, valid)
		}
		for k, r := range results {
			i := index[k]
			if r.Err != nil {
				entries[i] = Entry{ID: valid[k].ID, ErrorCode: r.Err.Code, ErrorMessage: r.Err.Message}
				streamFailures++
				continue
			}
			sub := r.SubSequence
			entries[i] = Entry{ID: valid[k].ID, SequenceNumber: r.SequenceNumber, SubSequence: &sub, ShardID: r.ShardID}
			sent++
			byType[valid[k].Type]++
		}
	}
	for _, e := range entries {
		if e.ErrorCode != "" {
			resp.FailedEntryCount++
		}
	}
	return Outcome{Response: resp, NothingSent: sent == 0 && streamFailures > 0, PublishedByType: byType}, nil
}

// encodedOverhead is about what encoding adds to an event as sent (an
// id, a time, specversion and source), to size the buffer events are
// encoded in.
const encodedOverhead = 160

func invalidEntry(id string, err error) Entry {
	e := Entry{ID: id, ErrorCode: CodeInvalid, ErrorMessage: err.Error()}
	var verr *event.ValidationError
	if errors.As(err, &verr) {
		e.Errors = verr.Fields
	}
	return e
}
