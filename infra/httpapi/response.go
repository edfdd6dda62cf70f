package httpapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/flowbus/flowbus/infra/lambdarun"
	"github.com/flowbus/flowbus/shared/apigw"
)

// response is what API Gateway sends the client.
type response struct {
	status  int
	headers http.Header
	body    []byte
}

// Gateway answers to failures, as API Gateway words them.
var (
	internalError      = message(http.StatusInternalServerError, "Internal Server Error") // Lambda refused or failed the invocation
	badGateway         = message(http.StatusBadGateway, "Internal Server Error")          // the function failed, or its answer is invalid
	integrationTimeout = message(http.StatusServiceUnavailable, "Service Unavailable")    // the integration timeout passed
)

func message(status int, msg string) response {
	body, _ := json.Marshal(map[string]string{"message": msg}) // a string map always marshals
	return response{status: status, headers: http.Header{"Content-Type": {"application/json"}}, body: body}
}

// Refusals of the request itself are problem+json (RFC 9457), as flowbus's
// functions answer, so a client reads every 4xx the same way. API Gateway
// words its own as {"message":"Not Found"} and so on; docs/api.md says
// where the local API differs.
func problem(p apigw.Problem, headers ...string) response {
	body, _ := json.Marshal(p) // a Problem always marshals
	h := http.Header{"Content-Type": {apigw.ContentTypeProblem}}
	for i := 0; i+1 < len(headers); i += 2 {
		h.Set(headers[i], headers[i+1])
	}
	return response{status: p.Status, headers: h, body: body}
}

var (
	bodyTooLarge = problem(apigw.Problem{Type: apigw.TypeTooLarge, Title: "Body too large", Status: http.StatusRequestEntityTooLarge,
		Detail: fmt.Sprintf("the body is over API Gateway's %d-byte payload limit", MaxBodyBytes), Limit: MaxBodyBytes})
	payloadTooLarge = problem(apigw.Problem{Type: apigw.TypeTooLarge, Title: "Request too large for Lambda", Status: http.StatusRequestEntityTooLarge,
		Detail: fmt.Sprintf("the request as a Lambda event (the body, base64-encoded unless its Content-Type is text or JSON, "+
			"with the headers) is over Lambda's %d-byte synchronous invocation limit", lambdarun.MaxPayloadBytes),
		Limit: lambdarun.MaxPayloadBytes})
	bodyTimeout = problem(apigw.Problem{Type: apigw.TypeRequestTimeout, Title: "Request body too slow", Status: http.StatusRequestTimeout,
		Detail: fmt.Sprintf("the body did not arrive within %v", BodyTimeout), Limit: int(BodyTimeout / time.Second)}, "Connection", "close")
	badRequest = problem(apigw.Problem{Type: apigw.TypeMalformed, Title: "Bad request", Status: http.StatusBadRequest,
		Detail: "the body could not be read"}, "Connection", "close")
)

// unauthorized answers a request whose token the authorizer refused: 401
// problem+json naming why, and the WWW-Authenticate header API Gateway
// sends. (API Gateway's body is {"message":"Unauthorized"}; docs/api.md.)
func unauthorized(err error) response {
	detail := "the issuer's keys could not be fetched"
	var ae *authError
	if errors.As(err, &ae) {
		detail = ae.reason
	}
	return problem(apigw.Problem{Type: apigw.TypeUnauthorized, Title: "Unauthorized", Status: http.StatusUnauthorized, Detail: detail},
		"WWW-Authenticate", `Bearer error="invalid_token", error_description="`+strings.ReplaceAll(detail, `"`, `'`)+`"`)
}

func notFound(r *http.Request) response {
	return problem(apigw.Problem{Type: apigw.TypeNotFound, Title: "No such route", Status: http.StatusNotFound,
		Detail: "no route serves " + r.Method + " " + r.URL.EscapedPath()})
}

func methodNotAllowed(r *http.Request, allow []string) response {
	return problem(apigw.Problem{Type: apigw.TypeMethod, Title: "Method not allowed", Status: http.StatusMethodNotAllowed,
		Detail: r.URL.EscapedPath() + " takes " + strings.Join(allow, ", ")}, "Allow", strings.Join(allow, ", "))
}

// errInvalidResponse is an answer API Gateway cannot map to a response.
var errInvalidResponse = errors.New("invalid Lambda response")

// mapResponse turns a function's answer into the HTTP response, following
// payload format 2.0: an object with a statusCode gives the status, headers,
// cookies and body (base64 decoded if isBase64Encoded); any other JSON is
// the body of a 200 application/json response. Other fields are ignored, as
// HTTP APIs ignore them.
func mapResponse(payload []byte) (response, error) {
	if !json.Valid(payload) {
		return response{}, fmt.Errorf("%w: not JSON", errInvalidResponse)
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(payload, &obj) != nil || obj == nil || obj["statusCode"] == nil {
		return response{status: http.StatusOK, headers: http.Header{"Content-Type": {"application/json"}}, body: payload}, nil
	}
	var out struct {
		StatusCode      json.Number            `json:"statusCode"`
		Headers         map[string]interface{} `json:"headers"`
		Cookies         []string               `json:"cookies"`
		Body            *string                `json:"body"`
		IsBase64Encoded *bool                  `json:"isBase64Encoded"`
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		return response{}, fmt.Errorf("%w: %w", errInvalidResponse, err)
	}
	status, err := strconv.Atoi(out.StatusCode.String())
	if err != nil || status < 100 || status > 599 {
		return response{}, fmt.Errorf("%w: statusCode %s", errInvalidResponse, out.StatusCode)
	}
	res := response{status: status, headers: http.Header{}}
	for k, v := range out.Headers {
		switch v := v.(type) {
		case string:
			res.headers.Set(k, v)
		case json.Number, bool:
			res.headers.Set(k, fmt.Sprint(v))
		case nil:
		default:
			return response{}, fmt.Errorf("%w: header %s is not a string", errInvalidResponse, k)
		}
	}
	for _, c := range out.Cookies {
		res.headers.Add("Set-Cookie", c)
	}
	if res.headers.Get("Content-Type") == "" {
		res.headers.Set("Content-Type", "application/json")
	}
	if out.Body != nil {
		res.body = []byte(*out.Body)
		if out.IsBase64Encoded != nil && *out.IsBase64Encoded {
			if res.body, err = base64.StdEncoding.DecodeString(*out.Body); err != nil {
				return response{}, fmt.Errorf("%w: body is not base64: %w", errInvalidResponse, err)
			}
		}
	}
	return res, nil
}

// hopByHop are the headers API Gateway sets itself.
var hopByHop = map[string]bool{"Content-Length": true, "Transfer-Encoding": true, "Connection": true, "Keep-Alive": true, "Upgrade": true}

func (res response) write(w http.ResponseWriter) {
	for k, vs := range res.headers {
		if !hopByHop[http.CanonicalHeaderKey(k)] {
			w.Header()[http.CanonicalHeaderKey(k)] = vs
		}
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(res.body)))
	w.WriteHeader(res.status)
	_, _ = w.Write(res.body) // the client went away
}
