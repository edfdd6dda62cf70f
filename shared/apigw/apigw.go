package apigw

import (
	"encoding/base64"
	"encoding/json"
	"mime"
	"strconv"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/flowbus/flowbus/shared/event"
)

// ContentTypeProblem is RFC 9457's media type.
const ContentTypeProblem = "application/problem+json"

// Problem is an RFC 9457 problem details body.
type Problem struct {
	Type   string             `json:"type"`
	Title  string             `json:"title"`
	Status int                `json:"status"`
	Detail string             `json:"detail,omitempty"`
	Errors []event.FieldError `json:"errors,omitempty"`
	Limit  int                `json:"limit,omitempty"`
}

// Problem types, documented in docs/api.md.
const (
	TypeMalformed   = "https://flowbus.dev/problems/malformed-json"
	TypeEmpty       = "https://flowbus.dev/problems/empty-body"
	TypeTooLarge    = "https://flowbus.dev/problems/too-large"
	TypeMediaType   = "https://flowbus.dev/problems/unsupported-media-type"
	TypeInvalid     = "https://flowbus.dev/problems/invalid-event"
	TypeMethod      = "https://flowbus.dev/problems/method-not-allowed"
	TypeNotFound    = "https://flowbus.dev/problems/not-found"
	TypeUnavailable = "https://flowbus.dev/problems/unavailable"
	TypeInternal    = "https://flowbus.dev/problems/internal"
	TypeUpcast      = "https://flowbus.dev/problems/cannot-upcast"
	// TypeInvalidRequest is a request body (a subscription, a pattern
	// test) with wrong fields, each named in errors.
	TypeInvalidRequest = "https://flowbus.dev/problems/invalid-request"
	// TypeConflict is a write refused by the state it would change: a
	// name taken, a stale version.
	TypeConflict = "https://flowbus.dev/problems/conflict"
	// TypeRequestTimeout is the local HTTP API's answer to a body that
	// TypeUnauthorized: no valid token or signature (401); the local HTTP
	// API answers it, API Gateway answers {"message":"Unauthorized"}.
	TypeUnauthorized = "https://flowbus.dev/problems/unauthorized"
	// TypeForbidden: the caller is authenticated but the policy does not
	// grant the request (403); nothing was read or written.
	TypeForbidden = "https://flowbus.dev/problems/forbidden"
	// does not arrive in time.
	TypeRequestTimeout = "https://flowbus.dev/problems/request-timeout"
)

// ProblemResponse answers with a problem details body.
func ProblemResponse(p Problem) events.APIGatewayV2HTTPResponse {
	body, _ := json.Marshal(p) // a Problem always marshals
	return events.APIGatewayV2HTTPResponse{
		StatusCode: p.Status,
		Headers:    map[string]string{"Content-Type": ContentTypeProblem},
		Body:       string(body),
	}
}

// JSON answers with v as application/json.
func JSON(status int, v any) events.APIGatewayV2HTTPResponse {
	body, err := json.Marshal(v)
	if err != nil {
		return ProblemResponse(Problem{Type: TypeInternal, Title: "Internal error", Status: 500})
	}
	return events.APIGatewayV2HTTPResponse{
		StatusCode: status,
		Headers:    map[string]string{"Content-Type": "application/json"},
		Body:       string(body),
	}
}

// CheckRoute refuses a request API Gateway routed here by a route this
// function does not serve (a template out of step with the code). A request
// without a route key (a hand-made event) passes.
func CheckRoute(req *events.APIGatewayV2HTTPRequest, routes []string) *Problem {
	if req.RouteKey == "" || req.RouteKey == "$default" {
		return nil
	}
	for _, r := range routes {
		if r == req.RouteKey {
			return nil
		}
	}
	return &Problem{Type: TypeNotFound, Title: "No such route", Status: 404, Detail: "this function does not serve " + req.RouteKey}
}

// Header returns a request header; HTTP API lowercases header names, but a
// hand-written event may not.
func Header(req *events.APIGatewayV2HTTPRequest, name string) string {
	if v, ok := req.Headers[name]; ok {
		return v
	}
	for k, v := range req.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// Body returns the request body, decoding base64 when API Gateway encoded
// it, and refuses bodies over maxBytes before decoding them.
func Body(req *events.APIGatewayV2HTTPRequest, maxBytes int) ([]byte, *Problem) {
	raw := req.Body
	if req.IsBase64Encoded {
		if base64.StdEncoding.DecodedLen(len(raw)) > maxBytes+2 {
			return nil, tooLarge(maxBytes)
		}
		b, err := base64.StdEncoding.DecodeString(raw)
		if err != nil {
			return nil, &Problem{Type: TypeMalformed, Title: "Body is not valid base64", Status: 400}
		}
		raw = string(b)
	}
	if len(raw) > maxBytes {
		return nil, tooLarge(maxBytes)
	}
	if strings.TrimSpace(raw) == "" {
		return nil, &Problem{Type: TypeEmpty, Title: "Empty body", Status: 400, Detail: "send an event, an array of events or {\"events\": [...]}"}
	}
	return []byte(raw), nil
}

func tooLarge(maxBytes int) *Problem {
	return &Problem{Type: TypeTooLarge, Title: "Body too large", Status: 413,
		Detail: "the body is larger than " + strconv.Itoa(maxBytes) + " bytes", Limit: maxBytes}
}

// MediaType is the parsed Content-Type of a request.
type MediaType string

// Media types the publish route accepts.
const (
	MediaJSON             MediaType = "application/json"
	MediaCloudEvent       MediaType = "application/cloudevents+json"
	MediaCloudEventsBatch MediaType = "application/cloudevents-batch+json"
)

// ParseMediaType reads the Content-Type header. A missing header, and the
// form type curl -d sends, count as JSON when the body is JSON; anything
// else that is not one of the three JSON types is refused with 415.
func ParseMediaType(header string, body []byte) (MediaType, *Problem) {
	unsupported := &Problem{Type: TypeMediaType, Title: "Unsupported media type", Status: 415,
		Detail: "use application/json, application/cloudevents+json or application/cloudevents-batch+json"}
	if header == "" {
		return MediaJSON, nil
	}
	mt, params, err := mime.ParseMediaType(header)
	if err != nil {
		return "", unsupported
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		unsupported.Detail = "only the utf-8 charset is accepted"
		return "", unsupported
	}
	switch MediaType(mt) {
	case MediaJSON, MediaCloudEvent, MediaCloudEventsBatch:
		return MediaType(mt), nil
	case "application/x-www-form-urlencoded", "text/plain":
		if b := strings.TrimSpace(string(body)); b != "" && (b[0] == '{' || b[0] == '[') {
			return MediaJSON, nil
		}
	}
	return "", unsupported
}
