package ingest

import (
	"encoding/base64"
	"encoding/json"
	"mime"
	"net/url"
	"strings"

	"github.com/flowbus/flowbus/shared/apigw"
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
// else becomes data_base64.
func FromBinary(headers map[string]string, body []byte) ([]byte, *apigw.Problem) {
	obj := map[string]any{}
	for k, v := range headers {
		name, ok := cutPrefixFold(k, BinaryHeaderPrefix)
		if !ok {
			continue
		}
		value, err := url.PathUnescape(v)
		if err != nil {
			return nil, &apigw.Problem{Type: apigw.TypeMalformed, Title: "Malformed CloudEvents header", Status: 400, Detail: k + " is not percent-encoded correctly"}
		}
		obj[strings.ToLower(name)] = value
	}
	ct := ""
	for k, v := range headers {
		if strings.EqualFold(k, "content-type") {
			ct = v
		}
	}
	if ct != "" {
		obj["datacontenttype"] = ct
	}
	if len(body) > 0 {
		mt, _, _ := mime.ParseMediaType(ct)
		if ct == "" || mt == "application/json" || strings.HasSuffix(mt, "+json") {
			s := jsonscan.New(body)
			if _, err := s.Value(); err != nil || s.End() != nil {
				return nil, &apigw.Problem{Type: apigw.TypeMalformed, Title: "Malformed JSON data", Status: 400,
					Detail: "the body of a binary-mode CloudEvent with a JSON content type must be JSON"}
			}
			obj["data"] = json.RawMessage(body)
		} else {
			obj["data_base64"] = base64.StdEncoding.EncodeToString(body)
		}
	}
	out, err := json.Marshal(obj)
	if err != nil {
		return nil, &apigw.Problem{Type: apigw.TypeMalformed, Title: "Malformed CloudEvent", Status: 400}
	}
	return out, nil
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return "", false
	}
	return s[len(prefix):], true
}
