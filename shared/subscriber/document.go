package subscriber

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/flowbus/flowbus/shared/event"
	"github.com/flowbus/flowbus/shared/pattern"
)

// document fills doc with e as a CloudEvent in structured JSON, the way
// pattern.DecodeJSON reads event.Append's output (strings, json.Number,
// maps), without encoding and decoding it: the document a subscription's
// pattern sees. Data is decoded only when withData is set. A test holds it
// to pattern.DecodeJSON(event.Append(nil, e, false)).
func document(doc map[string]any, e *event.Event, withData bool) error {
	clear(doc)
	doc["specversion"] = event.SpecVersion
	if e.ID != "" {
		doc["id"] = e.ID
	}
	doc["source"] = e.Source
	doc["type"] = e.Type
	if e.Subject != "" {
		doc["subject"] = e.Subject
	}
	if !e.Time.IsZero() {
		doc["time"] = e.Time.UTC().Format(time.RFC3339Nano)
	}
	if e.DataContentType != "" {
		doc["datacontenttype"] = e.DataContentType
	}
	if e.DataSchema != "" {
		doc["dataschema"] = e.DataSchema
	}
	doc["workflowid"] = e.WorkflowID
	if e.Version > 0 {
		doc[event.AttrVersion] = json.Number(strconv.Itoa(e.Version))
	}
	if len(e.Metadata) > 0 {
		doc[event.AttrMetadata] = string(e.Metadata)
	}
	if e.Sequence > 0 {
		doc[event.AttrSequence] = string(event.AppendSequence(nil, e.Sequence))
	}
	for _, x := range e.Extensions {
		v, err := pattern.DecodeJSON(x.Value)
		if err != nil {
			return err
		}
		doc[x.Name] = v
	}
	if withData && len(e.Data) > 0 {
		v, err := pattern.DecodeJSON(e.Data)
		if err != nil {
			return err
		}
		if e.DataBase64 {
			doc["data_base64"] = v
		} else {
			doc["data"] = v
		}
	}
	return nil
}
