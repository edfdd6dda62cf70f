package httpapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
)

// response is what API Gateway sends the client.
type response struct {
	status  int
	headers http.Header
	body    []byte
}

// Gateway answers, as API Gateway words them.
var (
	notFound           = message(http.StatusNotFound, "Not Found")
	tooLarge           = message(http.StatusRequestEntityTooLarge, "Request Entity Too Large")
	internalError      = message(http.StatusInternalServerError, "Internal Server Error") // Lambda refused or failed the invocation
	badGateway         = message(http.StatusBadGateway, "Internal Server Error")          // the function failed, or its answer is invalid
	integrationTimeout = message(http.StatusServiceUnavailable, "Service Unavailable")    // the integration timeout passed
)

func message(status int, msg string) response {
	body, _ := json.Marshal(map[string]string{"message": msg}) // a string map always marshals
	return response{status: status, headers: http.Header{"Content-Type": {"application/json"}}, body: body}
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
