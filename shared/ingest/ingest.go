package ingest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/flowbus/flowbus/shared/apigw"
	"github.com/flowbus/flowbus/shared/bus"
	"github.com/flowbus/flowbus/shared/event"
	"github.com/flowbus/flowbus/shared/jsonscan"
	"github.com/flowbus/flowbus/shared/schema"
)

// Publisher is what ingest needs of bus.Publisher.
type Publisher interface {
	Publish(ctx context.Context, events []*event.Event) []bus.Result
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

// Response is the body of a 202 answer.
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

// Outcome is what Publish did with a body: the status to answer, and either
// a Response or a Problem.
type Outcome struct {
	Status   int
	Response *Response
	Problem  *apigw.Problem
	// PublishedByType counts the events that went out, by event type.
	PublishedByType map[string]int
}

// Publish reads body as mt and puts its valid events on the stream. Nothing
// is written when the body as a whole is refused.
func (s *Service) Publish(ctx context.Context, body []byte, mt apigw.MediaType) Outcome {
	opts := event.DecodeOptions{DefaultSource: s.defaultSource, Intern: event.NewInterner()}
	wrapped := mt == apigw.MediaJSON
	first := jsonscan.New(body).Peek()
	switch {
	case mt == apigw.MediaCloudEvent && first != '{':
		return problem(apigw.Problem{Type: apigw.TypeMalformed, Title: "Not a CloudEvent", Status: 400,
			Detail: "application/cloudevents+json carries one event object; use application/cloudevents-batch+json for an array"})
	case mt == apigw.MediaCloudEventsBatch && first != '[':
		return problem(apigw.Problem{Type: apigw.TypeMalformed, Title: "Not a CloudEvents batch", Status: 400,
			Detail: "application/cloudevents-batch+json carries a JSON array of events"})
	}
	if mt != apigw.MediaJSON {
		opts.DefaultSource = "" // CloudEvents name their source
	}
	items, err := event.DecodeBatch(body, opts, wrapped, s.maxBatch)
	if errors.Is(err, event.ErrTooMany) {
		return problem(apigw.Problem{Type: apigw.TypeTooLarge, Title: "Too many events", Status: 413,
			Detail: fmt.Sprintf("the request holds more than %d events; send at most %d per request", s.maxBatch, s.maxBatch), Limit: s.maxBatch})
	}
	if err != nil {
		return malformed(err)
	}
	if len(items) == 0 {
		return problem(apigw.Problem{Type: apigw.TypeEmpty, Title: "No events", Status: 400, Detail: "the request holds no events"})
	}

	now := s.now().UTC()
	entries := make([]Entry, len(items))
	valid := make([]*event.Event, 0, len(items))
	index := make([]int, 0, len(items))
	var buf []byte
	for i := range items {
		it := &items[i]
		if it.Err == nil && mt != apigw.MediaJSON {
			if !specGiven(it.Raw) {
				it.Err = &event.ValidationError{Fields: []event.FieldError{{Field: "specversion", Reason: "is required for CloudEvents"}}}
			}
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
		buf = event.Append(buf[:0], e, true)
		if limit := e.MaxEncodedBytes(); len(buf) > limit {
			entries[i] = Entry{ID: e.ID, ErrorCode: CodeInvalid, ErrorMessage: "event too large",
				Errors: []event.FieldError{{Field: "event", Reason: fmt.Sprintf("is %d bytes encoded, more than a Kinesis record allows", len(buf)), Limit: limit}}}
			continue
		}
		valid = append(valid, e)
		index = append(index, i)
	}
	if len(valid) == 0 && len(items) == 1 && first == '{' {
		// One event, refused: answer as a plain client error.
		return problem(apigw.Problem{Type: apigw.TypeInvalid, Title: "Invalid event", Status: 400,
			Detail: entries[0].ErrorMessage, Errors: entries[0].Errors})
	}

	resp := &Response{Entries: entries}
	sent, streamFailures := 0, 0
	byType := map[string]int{}
	if len(valid) > 0 {
		results := s.pub.Publish(ctx, valid)
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
	if sent == 0 && streamFailures > 0 {
		return Outcome{Status: 503, Response: resp, PublishedByType: byType}
	}
	return Outcome{Status: 202, Response: resp, PublishedByType: byType}
}

// specGiven reports whether a raw event object names its specversion (the
// decoder has checked its value already).
func specGiven(raw []byte) bool {
	s := jsonscan.New(raw)
	if s.BeginObject() != nil {
		return false
	}
	for first := true; ; first = false {
		k, more, err := s.NextKey(first)
		if err != nil || !more {
			return false
		}
		if string(k) == "specversion" {
			return s.Peek() == '"' // null counts as absent
		}
		if _, err := s.Value(); err != nil {
			return false
		}
	}
}

func invalidEntry(id string, err error) Entry {
	e := Entry{ID: id, ErrorCode: CodeInvalid, ErrorMessage: err.Error()}
	var verr *event.ValidationError
	if errors.As(err, &verr) {
		e.Errors = verr.Fields
	}
	return e
}

func problem(p apigw.Problem) Outcome { return Outcome{Status: p.Status, Problem: &p} }

func malformed(err error) Outcome {
	return problem(apigw.Problem{Type: apigw.TypeMalformed, Title: "Malformed JSON", Status: 400, Detail: err.Error()})
}
