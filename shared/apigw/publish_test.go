package apigw

import (
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/flowbus/flowbus/shared/event"
	"github.com/flowbus/flowbus/shared/ingest"
	"github.com/flowbus/flowbus/shared/jsonscan"
)

// Each refusal of ingest becomes the problem docs/api.md documents for
// POST /events: type, title, status, detail, errors and limit.
func TestPublishProblem(t *testing.T) {
	syntax := &jsonscan.SyntaxError{Offset: 7, Expected: "value", Found: "end of input"}
	fields := []event.FieldError{{Field: "workflow_id", Reason: "is longer than 256 bytes", Limit: 256}}
	headers := []event.FieldError{{Field: "ce-type", Reason: "is given twice"}}
	tests := []struct {
		name string
		err  error
		want Problem
	}{
		{"not a CloudEvent", ingest.ErrNotCloudEvent, Problem{Type: TypeMalformed, Title: "Not a CloudEvent", Status: 400,
			Detail: "application/cloudevents+json carries one event object; use application/cloudevents-batch+json for an array"}},
		{"not a batch", ingest.ErrNotBatch, Problem{Type: TypeMalformed, Title: "Not a CloudEvents batch", Status: 400,
			Detail: "application/cloudevents-batch+json carries a JSON array of events"}},
		{"too many", &ingest.TooManyError{Limit: 500}, Problem{Type: TypeTooLarge, Title: "Too many events", Status: 413,
			Detail: "the request holds more than 500 events; send at most 500 per request", Limit: 500}},
		{"malformed", &ingest.MalformedError{Err: syntax}, Problem{Type: TypeMalformed, Title: "Malformed JSON", Status: 400,
			Detail: "offset 7: expected value, found end of input"}},
		{"no events", ingest.ErrNoEvents, Problem{Type: TypeEmpty, Title: "No events", Status: 400, Detail: "the request holds no events"}},
		{"one invalid event", &ingest.InvalidError{Message: "invalid event: workflow_id: is longer than 256 bytes", Fields: fields},
			Problem{Type: TypeInvalid, Title: "Invalid event", Status: 400, Detail: "invalid event: workflow_id: is longer than 256 bytes", Errors: fields}},
		{"binary headers", &ingest.HeaderError{Fields: headers}, Problem{Type: TypeInvalid, Title: "Invalid CloudEvents header", Status: 400,
			Detail: "binary-mode attributes are UTF-8 text, percent-encoded, each given once", Errors: headers}},
		{"binary content type", ingest.ErrNotMediaType, Problem{Type: TypeMediaType, Title: "Unsupported media type", Status: 415,
			Detail: "the Content-Type is not a media type"}},
		{"binary charset", ingest.ErrCharset, Problem{Type: TypeMediaType, Title: "Unsupported media type", Status: 415,
			Detail: "only the utf-8 charset is accepted"}},
		{"binary data not JSON", ingest.ErrDataNotJSON, Problem{Type: TypeMalformed, Title: "Malformed JSON data", Status: 400,
			Detail: "the body of a binary-mode CloudEvent with a JSON content type must be JSON"}},
		{"binary unencodable", ingest.ErrUnencodable, Problem{Type: TypeMalformed, Title: "Malformed CloudEvent", Status: 400}},
		{"wrapped", fmt.Errorf("publish: %w", ingest.ErrNoEvents), Problem{Type: TypeEmpty, Title: "No events", Status: 400, Detail: "the request holds no events"}},
		{"anything else says nothing of it", errors.New("table t: connection refused"), Problem{Type: TypeInternal, Title: "Internal error", Status: 500}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(PublishProblem(tt.err), tt.want); diff != "" {
				t.Errorf("PublishProblem(%v) (-got +want):\n%s", tt.err, diff)
			}
		})
	}
}

func TestPublishKind(t *testing.T) {
	for mt, want := range map[MediaType]ingest.Kind{
		MediaJSON: ingest.Events, MediaCloudEvent: ingest.CloudEvent, MediaCloudEventsBatch: ingest.CloudEventsBatch,
	} {
		if got := PublishKind(mt); got != want {
			t.Errorf("PublishKind(%s) = %v, want %v", mt, got, want)
		}
	}
}

func TestPublishAnswer(t *testing.T) {
	sub := 0
	resp := &ingest.Response{FailedEntryCount: 1, Entries: []ingest.Entry{
		{ID: "a", SequenceNumber: "4959", SubSequence: &sub, ShardID: "shardId-000000000000"},
		{ErrorCode: ingest.CodeInvalid, ErrorMessage: "invalid event: type: is required", Errors: []event.FieldError{{Field: "type", Reason: "is required"}}},
	}}
	for _, tt := range []struct {
		nothingSent bool
		status      int
	}{{false, 202}, {true, 503}} {
		got := PublishAnswer(ingest.Outcome{Response: resp, NothingSent: tt.nothingSent})
		if got.StatusCode != tt.status || got.Headers["Content-Type"] != "application/json" {
			t.Errorf("NothingSent %v: status %d, content type %q; want %d, application/json", tt.nothingSent, got.StatusCode, got.Headers["Content-Type"], tt.status)
		}
		want := `{"failed_entry_count":1,"entries":[{"id":"a","sequence_number":"4959","sub_sequence_number":0,"shard_id":"shardId-000000000000"},` +
			`{"error_code":"InvalidEvent","error_message":"invalid event: type: is required","errors":[{"field":"type","reason":"is required"}]}]}`
		if got.Body != want {
			t.Errorf("body %s, want %s", got.Body, want)
		}
	}
}
