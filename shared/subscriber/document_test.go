package subscriber

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flowbus/flowbus/shared/event"
	"github.com/flowbus/flowbus/shared/pattern"
)

// TestDocumentIsTheEncodedEvent holds document to the slow way the router
// takes: encode the event as a CloudEvent and decode it for the matcher.
func TestDocumentIsTheEncodedEvent(t *testing.T) {
	at := time.Date(2026, 12, 1, 10, 11, 12, 123456789, time.FixedZone("x", 3600))
	for _, e := range []*event.Event{
		ev("wf", "id-1", "workflow.started"),
		{Source: "/s", Type: "t", WorkflowID: "w\"q\\x\u00e9\u2028", Time: at},
		{ID: "x", Source: "/s", Type: "t", WorkflowID: "w", Subject: "sub", DataContentType: "application/json",
			DataSchema: "https://x/y", Version: 3, Metadata: []byte(`{"origin":"n8n","n":1}`), Sequence: 42, Time: at,
			Extensions: []event.Extension{{Name: "replayid", Value: []byte(`"r-1"`)}, {Name: "hops", Value: []byte(`3`)},
				{Name: "flag", Value: []byte(`true`)}, {Name: "ratio", Value: []byte(`1.50`)}},
			Data: []byte(`{"amount":150,"items":[{"sku":"a"},{"sku":"b"}],"n":null,"s":"\u00e9"}`)},
		{ID: "b", Source: "/s", Type: "t", WorkflowID: "w", DataBase64: true, Data: []byte(`"aGVsbG8="`)},
		{ID: "c", Source: "/s", Type: "t", WorkflowID: "w", Data: []byte(`"just a string"`)},
		{ID: "d", Source: "/s", Type: "t", WorkflowID: "w", Data: []byte(`12.50`)},
	} {
		for _, withData := range []bool{false, true} {
			enc := *e
			if !withData {
				enc.Data = nil
			}
			want, err := pattern.DecodeJSON(event.Append(nil, &enc, false))
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]any{"stale": "from the last event"}
			if err := document(got, e, withData); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, any(got)); diff != "" {
				t.Errorf("event %q withData=%v (-want +got):\n%s", e.ID, withData, diff)
			}
		}
	}
}
