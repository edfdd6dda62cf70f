package httpapi

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The fixed parts of the request context of a local API.
const (
	AccountID = "123456789012"
	APIID     = "local"
	Stage     = "$default"
)

// event is the payload format 2.0 event, field for field as API Gateway
// sends it. (events.APIGatewayV2HTTPRequest decodes it, but encodes an
// empty mTLS authentication block API Gateway leaves out.)
type event struct {
	Version               string            `json:"version"`
	RouteKey              string            `json:"routeKey"`
	RawPath               string            `json:"rawPath"`
	RawQueryString        string            `json:"rawQueryString"`
	Cookies               []string          `json:"cookies,omitempty"`
	Headers               map[string]string `json:"headers"`
	QueryStringParameters map[string]string `json:"queryStringParameters,omitempty"`
	PathParameters        map[string]string `json:"pathParameters,omitempty"`
	RequestContext        requestContext    `json:"requestContext"`
	StageVariables        map[string]string `json:"stageVariables,omitempty"`
	Body                  string            `json:"body,omitempty"`
	IsBase64Encoded       bool              `json:"isBase64Encoded"`
}

type requestContext struct {
	AccountID    string      `json:"accountId"`
	APIID        string      `json:"apiId"`
	Authorizer   *jwtContext `json:"authorizer,omitempty"`
	DomainName   string      `json:"domainName"`
	DomainPrefix string      `json:"domainPrefix"`
	HTTP         httpContext `json:"http"`
	RequestID    string      `json:"requestId"`
	RouteKey     string      `json:"routeKey"`
	Stage        string      `json:"stage"`
	Time         string      `json:"time"`
	TimeEpoch    int64       `json:"timeEpoch"`
}

type httpContext struct {
	Method    string `json:"method"`
	Path      string `json:"path"`
	Protocol  string `json:"protocol"`
	SourceIP  string `json:"sourceIp"`
	UserAgent string `json:"userAgent"`
}

// requestTime is the request context's time format.
const requestTime = "02/Jan/2006:15:04:05 -0700"

// newEvent builds the event API Gateway sends for r, routed by rt with the
// path parameters params, whose body was read into body.
func newEvent(r *http.Request, rt *route, params map[string]string, body []byte, requestID string, now time.Time, auth *jwtContext) event {
	now = now.UTC()
	sourceIP := r.RemoteAddr
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		sourceIP = host
	}
	ev := event{
		Version:               "2.0",
		RouteKey:              rt.key,
		RawPath:               r.URL.EscapedPath(),
		RawQueryString:        r.URL.RawQuery,
		Cookies:               cookies(r.Header),
		Headers:               headers(r, sourceIP, len(body)),
		QueryStringParameters: query(r.URL.RawQuery),
		PathParameters:        params,
		RequestContext: requestContext{
			AccountID:    AccountID,
			APIID:        APIID,
			Authorizer:   auth,
			DomainName:   r.Host,
			DomainPrefix: domainPrefix(r.Host),
			HTTP: httpContext{
				Method:    r.Method,
				Path:      r.URL.Path,
				Protocol:  r.Proto,
				SourceIP:  sourceIP,
				UserAgent: r.UserAgent(),
			},
			RequestID: requestID,
			RouteKey:  rt.key,
			Stage:     Stage,
			Time:      now.Format(requestTime),
			TimeEpoch: now.UnixMilli(),
		},
	}
	if len(body) > 0 {
		if textual(r.Header.Get("Content-Type")) && utf8.Valid(body) {
			ev.Body = string(body)
		} else {
			ev.Body = base64.StdEncoding.EncodeToString(body)
			ev.IsBase64Encoded = true
		}
	}
	return ev
}

// headers lowercases the names and joins repeated headers with commas, as
// API Gateway does; cookies go to the cookies field instead. API Gateway adds
// the forwarding headers and a trace id.
func headers(r *http.Request, sourceIP string, bodyLen int) map[string]string {
	h := make(map[string]string, len(r.Header)+6)
	for k, vs := range r.Header {
		k = strings.ToLower(k)
		if k == "cookie" {
			continue
		}
		h[k] = strings.Join(vs, ",")
	}
	h["host"] = r.Host
	if bodyLen > 0 {
		h["content-length"] = strconv.Itoa(bodyLen)
	}
	if xff := h["x-forwarded-for"]; xff != "" {
		h["x-forwarded-for"] = xff + ", " + sourceIP
	} else {
		h["x-forwarded-for"] = sourceIP
	}
	if addr, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if _, port, err := net.SplitHostPort(addr.String()); err == nil {
			h["x-forwarded-port"] = port
		}
	}
	h["x-forwarded-proto"] = "http"
	if r.TLS != nil {
		h["x-forwarded-proto"] = "https"
	}
	if h["x-amzn-trace-id"] == "" {
		h["x-amzn-trace-id"] = traceID(time.Now())
	}
	return h
}

// cookies lists every cookie of the Cookie headers, "name=value" each.
func cookies(h http.Header) []string {
	var out []string
	for _, line := range h.Values("Cookie") {
		for _, c := range strings.Split(line, ";") {
			if c = strings.TrimSpace(c); c != "" {
				out = append(out, c)
			}
		}
	}
	return out
}

// query decodes the query string; a repeated parameter's values are joined
// with commas. It is nil for no query.
func query(raw string) map[string]string {
	if raw == "" {
		return nil
	}
	q := map[string]string{}
	for _, part := range strings.Split(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		k, v = queryUnescape(k), queryUnescape(v)
		if old, ok := q[k]; ok {
			v = old + "," + v
		}
		q[k] = v
	}
	if len(q) == 0 {
		return nil
	}
	return q
}

func queryUnescape(s string) string {
	if v, err := url.QueryUnescape(s); err == nil {
		return v
	}
	return s
}

// textual tells whether a body of this content type travels as text; any
// other goes base64 encoded.
func textual(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		mt, _, _ = strings.Cut(strings.ToLower(contentType), ";")
		mt = strings.TrimSpace(mt)
	}
	switch {
	case strings.HasPrefix(mt, "text/"), strings.HasSuffix(mt, "+json"), strings.HasSuffix(mt, "+xml"):
		return true
	}
	switch mt {
	case "application/json", "application/xml", "application/javascript", "application/x-javascript",
		"application/ecmascript", "application/x-www-form-urlencoded", "application/graphql", "application/yaml":
		return true
	}
	return false
}

// domainPrefix is the first label of the host name.
func domainPrefix(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	first, _, _ := strings.Cut(host, ".")
	return first
}

// newRequestID returns an id shaped as API Gateway's ("JKJaXmPLvHcESHA=").
func newRequestID() string {
	var b [11]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return base64.StdEncoding.EncodeToString(b[:])
}

// traceID returns an X-Ray trace header as API Gateway adds it.
func traceID(now time.Time) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("Root=1-%08x-%s", now.Unix(), hex.EncodeToString(b[:]))
}
