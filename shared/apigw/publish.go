package apigw

import (
	"errors"
	"fmt"

	"github.com/aws/aws-lambda-go/events"

	"github.com/flowbus/flowbus/shared/ingest"
)

// PublishKind is the kind of body a publish request's media type announces.
func PublishKind(mt MediaType) ingest.Kind {
	switch mt {
	case MediaCloudEvent:
		return ingest.CloudEvent
	case MediaCloudEventsBatch:
		return ingest.CloudEventsBatch
	}
	return ingest.Events
}

// PublishAnswer answers a body ingest took: 202 with one entry per event,
// or 503 with the same body when no event went out because of the stream.
func PublishAnswer(out ingest.Outcome) events.APIGatewayV2HTTPResponse {
	status := 202
	if out.NothingSent {
		status = 503
	}
	return JSON(status, out.Response)
}

// PublishProblem is the problem details for a publish request ingest
// refused as a whole (docs/api.md, POST /events). An error ingest does not
// name is a 500 that says nothing of it.
func PublishProblem(err error) Problem {
	var (
		tooMany   *ingest.TooManyError
		malformed *ingest.MalformedError
		invalid   *ingest.InvalidError
		header    *ingest.HeaderError
	)
	switch {
	case errors.Is(err, ingest.ErrNotCloudEvent):
		return Problem{Type: TypeMalformed, Title: "Not a CloudEvent", Status: 400,
			Detail: "application/cloudevents+json carries one event object; use application/cloudevents-batch+json for an array"}
	case errors.Is(err, ingest.ErrNotBatch):
		return Problem{Type: TypeMalformed, Title: "Not a CloudEvents batch", Status: 400,
			Detail: "application/cloudevents-batch+json carries a JSON array of events"}
	case errors.As(err, &tooMany):
		return Problem{Type: TypeTooLarge, Title: "Too many events", Status: 413,
			Detail: fmt.Sprintf("the request holds more than %d events; send at most %d per request", tooMany.Limit, tooMany.Limit), Limit: tooMany.Limit}
	case errors.As(err, &malformed):
		return Problem{Type: TypeMalformed, Title: "Malformed JSON", Status: 400, Detail: malformed.Error()}
	case errors.Is(err, ingest.ErrNoEvents):
		return Problem{Type: TypeEmpty, Title: "No events", Status: 400, Detail: "the request holds no events"}
	case errors.As(err, &invalid):
		return Problem{Type: TypeInvalid, Title: "Invalid event", Status: 400, Detail: invalid.Message, Errors: invalid.Fields}
	case errors.As(err, &header):
		return Problem{Type: TypeInvalid, Title: "Invalid CloudEvents header", Status: 400,
			Detail: "binary-mode attributes are UTF-8 text, percent-encoded, each given once", Errors: header.Fields}
	case errors.Is(err, ingest.ErrNotMediaType):
		return Problem{Type: TypeMediaType, Title: "Unsupported media type", Status: 415, Detail: "the Content-Type is not a media type"}
	case errors.Is(err, ingest.ErrCharset):
		return Problem{Type: TypeMediaType, Title: "Unsupported media type", Status: 415, Detail: "only the utf-8 charset is accepted"}
	case errors.Is(err, ingest.ErrDataNotJSON):
		return Problem{Type: TypeMalformed, Title: "Malformed JSON data", Status: 400,
			Detail: "the body of a binary-mode CloudEvent with a JSON content type must be JSON"}
	case errors.Is(err, ingest.ErrUnencodable):
		return Problem{Type: TypeMalformed, Title: "Malformed CloudEvent", Status: 400}
	}
	return Problem{Type: TypeInternal, Title: "Internal error", Status: 500}
}
