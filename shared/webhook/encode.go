package webhook

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/flowbus/flowbus/shared/event"
	"github.com/flowbus/flowbus/shared/jsonscan"
)

// Mode is how the event travels in the request (CloudEvents HTTP binding).
type Mode uint8

const (
	// Binary puts the attributes in ce- headers and the data alone in the
	// body, with datacontenttype as Content-Type: what a webhook node
	// that expects plain JSON reads without knowing CloudEvents.
	Binary Mode = iota
	// Structured sends the whole event as application/cloudevents+json.
	Structured
)

// Media types of the two modes' bodies.
const (
	StructuredContentType = "application/cloudevents+json; charset=utf-8"
	defaultJSONType       = "application/json"
	defaultBinaryType     = "application/octet-stream"
)

// ErrNoID is returned for an event without an id: webhook-id must be the
// event's id, the same on every attempt, so there is nothing to sign.
var ErrNoID = errors.New("event has no id to use as webhook-id")

// NewRequest builds the signed POST for one attempt at delivering e to t,
// at time now (webhook-timestamp). It does not send it. The request's URL
// is t.URL as given; Deliver checks it against the policy first.
func NewRequest(ctx context.Context, t Target, e *event.Event, now time.Time) (*http.Request, error) {
	if e.ID == "" {
		return nil, ErrNoID
	}
	h := make(http.Header, 16+len(e.Extensions))
	body, err := encode(h, t.Mode, e)
	if err != nil {
		return nil, err
	}
	ts := strconv.FormatInt(now.Unix(), 10)
	h[canonicalID] = []string{e.ID}
	h[canonicalTimestamp] = []string{ts}
	if sig := appendSignatures(nil, t.Secrets, e.ID, ts, body); len(sig) > 0 {
		h[canonicalSignature] = []string{string(sig)}
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URL, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("request for %s: %w", e.ID, err)
	}
	r.Header = h
	return r, nil
}

var (
	canonicalID        = http.CanonicalHeaderKey(HeaderID)
	canonicalTimestamp = http.CanonicalHeaderKey(HeaderTimestamp)
	canonicalSignature = http.CanonicalHeaderKey(HeaderSignature)
)

// encode sets the content headers of e in mode m on h and returns the body.
func encode(h http.Header, m Mode, e *event.Event) ([]byte, error) {
	if m == Structured {
		h["Content-Type"] = []string{StructuredContentType}
		return event.Append(make([]byte, 0, 256+len(e.Data)), e, false), nil
	}
	set := func(name, v string) {
		if needsEncoding(v) {
			v = string(appendHeaderValue(make([]byte, 0, len(v)+16), v))
		}
		h[name] = []string{v}
	}
	h["Ce-Specversion"] = []string{event.SpecVersion}
	set("Ce-Id", e.ID)
	set("Ce-Source", e.Source)
	set("Ce-Type", e.Type)
	if e.Subject != "" {
		set("Ce-Subject", e.Subject)
	}
	if !e.Time.IsZero() {
		h["Ce-Time"] = []string{e.Time.UTC().Format(time.RFC3339Nano)}
	}
	if e.DataSchema != "" {
		set("Ce-Dataschema", e.DataSchema)
	}
	set("Ce-Workflowid", e.WorkflowID)
	if e.Version > 0 {
		h["Ce-Dataversion"] = []string{strconv.Itoa(e.Version)}
	}
	if len(e.Metadata) > 0 {
		set("Ce-Metadata", string(e.Metadata))
	}
	if e.Sequence > 0 {
		h["Ce-Sequence"] = []string{string(event.AppendSequence(nil, e.Sequence))}
	}
	for _, x := range e.Extensions {
		v := x.Value
		if len(v) > 0 && v[0] == '"' {
			s, err := jsonscan.New(v).StringBytes()
			if err != nil {
				return nil, fmt.Errorf("extension %s: %w", x.Name, err)
			}
			v = s
		}
		set(http.CanonicalHeaderKey("ce-"+x.Name), string(v))
	}
	ct := e.DataContentType
	var body []byte
	switch {
	case len(e.Data) == 0:
	case e.DataBase64:
		raw, err := jsonscan.New(e.Data).StringBytes()
		if err != nil {
			return nil, fmt.Errorf("data_base64: %w", err)
		}
		body = make([]byte, base64.StdEncoding.DecodedLen(len(raw)))
		n, err := base64.StdEncoding.Decode(body, raw)
		if err != nil {
			return nil, fmt.Errorf("data_base64: %w", err)
		}
		body = body[:n]
		if ct == "" {
			ct = defaultBinaryType
		}
	case ct == "":
		// CloudEvents' JSON format: data without datacontenttype is JSON.
		ct, body = defaultJSONType, e.Data
	case !isJSONType(ct) && e.Data[0] == '"':
		// Text data travels in JSON as a string; the body is its value.
		s, err := jsonscan.New(e.Data).StringBytes()
		if err != nil {
			return nil, fmt.Errorf("data: %w", err)
		}
		body = s
	default:
		body = e.Data
	}
	if ct != "" {
		if !validHeaderValue(ct) {
			return nil, fmt.Errorf("datacontenttype %q cannot be a Content-Type header", ct)
		}
		h["Content-Type"] = []string{ct}
	}
	return body, nil
}

// validHeaderValue reports whether s can be sent as an HTTP header value
// as it is: no control characters other than tab.
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// isJSONType reports whether a media type is JSON (application/json,
// text/json or any +json suffix), ignoring parameters and case.
func isJSONType(ct string) bool {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = strings.ToLower(strings.TrimSpace(ct))
	return ct == "application/json" || ct == "text/json" || strings.HasSuffix(ct, "+json")
}

// needsEncoding reports whether appendHeaderValue would change s.
func needsEncoding(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '"' || c == '%' {
			return true
		}
	}
	return false
}

// appendHeaderValue percent-encodes s as the CloudEvents HTTP binding asks:
// space, double quote, percent and every byte outside printable ASCII
// (U+0021 to U+007E) become %XX of their UTF-8 bytes.
func appendHeaderValue(dst []byte, s string) []byte {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || c == '"' || c == '%' {
			dst = append(dst, '%', hex[c>>4], hex[c&15])
			continue
		}
		dst = append(dst, c)
	}
	return dst
}
