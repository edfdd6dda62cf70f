package ingest

import (
	"encoding/base64"
	"encoding/json"
	"mime"
	"net/url"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/flowbus/flowbus/shared/event"
	"github.com/flowbus/flowbus/shared/jsonscan"
)

// BinaryHeaderPrefix marks CloudEvents attributes in HTTP binary mode.
const BinaryHeaderPrefix = "ce-"

// IsBinary reports whether a request is a CloudEvent in HTTP binary mode:
// its attributes in ce- headers, its data in the body.
func IsBinary(headers map[string]string) bool {
	for k := range headers {
		if strings.EqualFold(k, BinaryHeaderPrefix+"specversion") {
			return true
		}
	}
	return false
}

// FromBinary turns a binary-mode CloudEvent (HTTP protocol binding 1.0:
// ce-<attribute> headers, percent-encoded values, Content-Type as
// datacontenttype, the body as data) into its structured-mode JSON, which
// Publish then reads like any CloudEvent. JSON bodies become data; anything
// else becomes data_base64. A refusal is a *HeaderError, ErrNotMediaType,
// ErrCharset, ErrDataNotJSON or ErrUnencodable.
func FromBinary(headers map[string]string, body []byte) ([]byte, error) {
	obj := map[string]any{}
	var fields []event.FieldError
	ct := ""
	for k, v := range headers {
		if strings.EqualFold(k, "content-type") {
			ct = v
		}
		name, ok := cutPrefixFold(k, BinaryHeaderPrefix)
		if !ok {
			continue
		}
		header := strings.ToLower(k)
		value, err := url.PathUnescape(v)
		switch {
		case err != nil:
			fields = append(fields, event.FieldError{Field: header, Reason: "is not percent-encoded correctly"})
			continue
		case !utf8.ValidString(value):
			// Two different byte strings must not become the same
			// replacement characters, in a workflow id least of all.
			fields = append(fields, event.FieldError{Field: header, Reason: "is not UTF-8 once percent-decoded"})
			continue
		}
		name = strings.ToLower(name)
		switch name {
		case "data", "data_base64", "datacontenttype":
			fields = append(fields, event.FieldError{Field: header, Reason: "is not an attribute in binary mode: the body is the data, the Content-Type its datacontenttype"})
			continue
		}
		if _, dup := obj[name]; dup {
			fields = append(fields, event.FieldError{Field: header, Reason: "is given twice"})
			continue
		}
		obj[name] = value
	}
	if len(fields) > 0 {
		sort.Slice(fields, func(i, j int) bool { return fields[i].Field < fields[j].Field })
		return nil, &HeaderError{Fields: fields}
	}
	mt := ""
	if ct != "" {
		var params map[string]string
		var err error
		if mt, params, err = mime.ParseMediaType(ct); err != nil || !utf8.ValidString(ct) {
			return nil, ErrNotMediaType
		}
		if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
			return nil, ErrCharset
		}
		obj["datacontenttype"] = ct
	}
	if len(body) > 0 {
		if ct == "" || mt == "application/json" || strings.HasSuffix(mt, "+json") {
			s := jsonscan.NewOptions(body, event.JSONOptions)
			if _, err := s.Value(); err != nil || s.End() != nil {
				return nil, ErrDataNotJSON
			}
			obj["data"] = json.RawMessage(body)
		} else {
			obj["data_base64"] = base64.StdEncoding.EncodeToString(body)
		}
	}
	out, err := json.Marshal(obj)
	if err != nil {
		return nil, ErrUnencodable
	}
	return out, nil
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return "", false
	}
	return s[len(prefix):], true
}
