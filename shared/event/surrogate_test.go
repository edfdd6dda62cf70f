package event

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// A lone surrogate escape would be read as U+FFFD, so two different
// values would become the same: it is refused in every envelope attribute,
// naming it, and kept as sent in data.
func TestDecodeRefusesLoneSurrogates(t *testing.T) {
	tests := []struct {
		name, in string
		field    string
	}{
		{"workflow_id", `{"type":"a","workflow_id":"\ud800"}`, "workflow_id"},
		{"workflowid", `{"specversion":"1.0","id":"1","source":"s","type":"a","workflowid":"w-\udfff"}`, "workflowid"},
		{"partitionkey", `{"specversion":"1.0","id":"1","source":"s","type":"a","partitionkey":"\uDBFFx"}`, "partitionkey"},
		{"high then high", `{"type":"a","workflow_id":"\ud800\ud800"}`, "workflow_id"},
		{"low then high", `{"type":"a","workflow_id":"\udc00\ud800"}`, "workflow_id"},
		{"high at the end after a pair", `{"type":"a","workflow_id":"\ud83d\ude00\ud83d"}`, "workflow_id"},
		{"type", `{"type":"a\ud800","workflow_id":"w"}`, "type"},
		{"source", `{"type":"a","workflow_id":"w","source":"/\ud800"}`, "source"},
		{"id", `{"type":"a","workflow_id":"w","id":"\ud800"}`, "id"},
		{"subject", `{"type":"a","workflow_id":"w","subject":"\ud800"}`, "subject"},
		{"datacontenttype", `{"type":"a","workflow_id":"w","datacontenttype":"\ud800"}`, "datacontenttype"},
		{"dataschema", `{"type":"a","workflow_id":"w","dataschema":"\ud800"}`, "dataschema"},
		{"extension", `{"type":"a","workflow_id":"w","traceparent":"\ud800"}`, "traceparent"},
		{"metadata object", `{"type":"a","workflow_id":"w","metadata":{"k":"\ud800"}}`, "metadata"},
		{"metadata object key", `{"type":"a","workflow_id":"w","metadata":{"\udc00":1}}`, "metadata"},
		{"metadata string", `{"type":"a","workflow_id":"w","metadata":"{\"k\":\"\ud800\"}"}`, "metadata"},
		{"metadata string, escaped inside", `{"type":"a","workflow_id":"w","metadata":"{\"k\":\"\\ud800\"}"}`, "metadata"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode([]byte(tt.in), publicOpts)
			var verr *ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("Decode(%s) = %v, want a *ValidationError", tt.in, err)
			}
			var got []string
			for _, f := range verr.Fields {
				got = append(got, f.Field)
			}
			if diff := cmp.Diff([]string{tt.field}, got); diff != "" {
				t.Errorf("fields (-want +got):\n%s\nerror: %v", diff, err)
			}
		})
	}
}

func TestDecodeAcceptsWhatIsNotALoneSurrogate(t *testing.T) {
	tests := []struct {
		name, in, workflow string
	}{
		{"a pair", `{"type":"a","workflow_id":"w\ud83d\ude00"}`, "w\U0001F600"},
		{"an escaped backslash", `{"type":"a","workflow_id":"\\ud800"}`, `\ud800`},
		{"U+FFFD as sent", `{"type":"a","workflow_id":"\ufffd` + "\uFFFD" + `"}`, "\uFFFD\uFFFD"},
		{"a lone surrogate in data", `{"type":"a","workflow_id":"w","data":{"k":"\ud800"}}`, "w"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Decode([]byte(tt.in), publicOpts)
			if err != nil {
				t.Fatalf("Decode(%s): %v", tt.in, err)
			}
			if e.WorkflowID != tt.workflow {
				t.Errorf("workflow id %q, want %q", e.WorkflowID, tt.workflow)
			}
		})
	}
	e, err := Decode([]byte(`{"type":"a","workflow_id":"w","data":{"k":"\ud800"}}`), publicOpts)
	if err != nil || string(e.Data) != `{"k":"\ud800"}` {
		t.Errorf("data %s, %v; want it as sent", e.Data, err)
	}
}

// Records on the stream keep what was accepted before lone surrogates were
// refused: raw extension and metadata values are read as they are.
func TestWireKeepsRawLoneSurrogates(t *testing.T) {
	in := `{"specversion":"1.0","id":"1","source":"s","type":"a","workflowid":"w","traceparent":"\ud800","metadata":"{\"k\":\"\\ud800\"}"}`
	e, err := Decode([]byte(in), DecodeOptions{Wire: true})
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if v, _ := e.Extension("traceparent"); string(v) != `"\ud800"` || string(e.Metadata) != `{"k":"\ud800"}` {
		t.Errorf("traceparent %s, metadata %s", v, e.Metadata)
	}
}

func TestDecodeBatchReportsSpecVersion(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []bool
	}{
		{`{"type":"a","workflow_id":"w"}`, []bool{false}},
		{`{"specversion":"1.0","id":"1","source":"s","type":"a","workflowid":"w"}`, []bool{true}},
		{`[{"specversion":"1.0","id":"1","source":"s","type":"a","workflowid":"w"},{"specversion":null,"id":"2","source":"s","type":"a","workflowid":"w"},{"id":"3","source":"s","type":"a","workflowid":"w"}]`, []bool{true, false, false}},
	} {
		items, err := DecodeBatch([]byte(tt.in), publicOpts, true, 0)
		if err != nil {
			t.Fatalf("DecodeBatch(%s): %v", tt.in, err)
		}
		var got []bool
		for _, it := range items {
			got = append(got, it.SpecVersion)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("DecodeBatch(%s) specversion given (-want +got):\n%s", tt.in, diff)
		}
	}
}
