package event

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flowbus/flowbus/shared/jsonscan"
)

var publicOpts = DecodeOptions{DefaultSource: DefaultSource}

func TestDecodeSimpleShape(t *testing.T) {
	in := `{"type":"workflow.started","workflow_id":"123","timestamp":"2024-01-01T00:00:00Z","data":{"step":1},"metadata":{"origin":"n8n"},"version":2}`
	got, err := Decode([]byte(in), publicOpts)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	want := Event{
		Source: DefaultSource, Type: "workflow.started", WorkflowID: "123",
		Time: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), Data: []byte(`{"step":1}`),
		Metadata: []byte(`{"origin":"n8n"}`), Version: 2,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Decode (-want +got):\n%s", diff)
	}
}

func TestRoundTripCloudEvents(t *testing.T) {
	in := Event{
		ID: "01J0000000000000000000000A", Source: "/n8n/flows/7", Type: "order.placed", Subject: "orders/9",
		Time: time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC), DataContentType: "application/json",
		DataSchema: "https://example.com/s.json", Data: []byte(`{"a":"é\n"}`), WorkflowID: "wf-ü",
		Version: 3, Metadata: []byte(`{"k":"v"}`), Sequence: 42,
		Extensions:  []Extension{{Name: "traceparent", Value: []byte(`"00-abc-01"`)}, {Name: "n", Value: []byte(`5`)}},
		IDGenerated: true,
	}
	raw := Append(nil, &in, true)
	got, err := Decode(raw, DecodeOptions{Wire: true})
	if err != nil {
		t.Fatalf("Decode(%s): %v", raw, err)
	}
	if diff := cmp.Diff(in, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s\nencoded: %s", diff, raw)
	}
	if !strings.Contains(string(raw), `"sequence":"00000000000000000042"`) {
		t.Errorf("encoded %s, want a zero-padded sequence", raw)
	}
	public := Append(nil, &in, false)
	if strings.Contains(string(public), AttrIDGenerated) {
		t.Errorf("public encoding %s carries the wire-only attribute", public)
	}
}

func TestDecodeRejects(t *testing.T) {
	long := strings.Repeat("x", 300)
	tests := []struct {
		name, in string
		fields   []string // fields named in the error, in order
	}{
		{"missing workflow id", `{"type":"a"}`, []string{"workflow_id"}},
		{"missing type", `{"workflow_id":"w"}`, []string{"type"}},
		{"both missing", `{}`, []string{"workflow_id", "type"}},
		{"workflow id too long", `{"type":"a","workflow_id":"` + long + `"}`, []string{"workflow_id"}},
		{"type too long", `{"type":"` + long + `","workflow_id":"w"}`, []string{"type"}},
		{"type not a string", `{"type":5,"workflow_id":"w"}`, []string{"type", "type"}},
		{"bad time", `{"type":"a","workflow_id":"w","timestamp":"yesterday"}`, []string{"timestamp"}},
		{"bad version", `{"type":"a","workflow_id":"w","version":"two"}`, []string{"version"}},
		{"zero version", `{"type":"a","workflow_id":"w","version":0}`, []string{"version"}},
		{"metadata not object", `{"type":"a","workflow_id":"w","metadata":[1]}`, []string{"metadata"}},
		{"wrong specversion", `{"specversion":"0.3","id":"1","source":"s","type":"a","workflowid":"w"}`, []string{"specversion"}},
		{"cloudevent without source", `{"specversion":"1.0","id":"1","type":"a","workflowid":"w"}`, []string{"source"}},
		{"empty id", `{"id":"","type":"a","workflow_id":"w"}`, []string{"id"}},
		{"data twice", `{"type":"a","workflow_id":"w","data":1,"data_base64":"AA=="}`, []string{"data_base64"}},
		{"bad extension name", `{"type":"a","workflow_id":"w","Trace_ID":"x"}`, []string{"Trace_ID"}},
		{"object extension", `{"type":"a","workflow_id":"w","ext":{"a":1}}`, []string{"ext"}},
		{"sequence set by producer", `{"type":"a","workflow_id":"w","sequence":"1"}`, []string{"sequence"}},
		{"reserved attribute", `{"type":"a","workflow_id":"w","flowbusidgen":true}`, []string{"flowbusidgen"}},
		{"forged replay marker", `{"type":"a","workflow_id":"w","replayid":"r","replayedat":"2024-01-01T00:00:00Z"}`, []string{"replayid", "replayedat"}},
		{"conflicting workflow ids", `{"type":"a","workflow_id":"w","workflowid":"v"}`, []string{"workflowid"}},
		{"type twice", `{"type":"a","workflow_id":"w","type":"b"}`, []string{"type"}},
		{"type twice, same value", `{"type":"a","workflow_id":"w","type":"a"}`, []string{"type"}},
		{"type twice, escaped key", `{"type":"a","workflow_id":"w","typ\u0065":"b"}`, []string{"type"}},
		{"type twice, one null", `{"type":"a","workflow_id":"w","type":null}`, []string{"type"}},
		{"workflow id twice, same value", `{"type":"a","workflow_id":"w","workflow_id":"w"}`, []string{"workflow_id"}},
		{"source twice", `{"type":"a","workflow_id":"w","source":"/a","source":"/b"}`, []string{"source"}},
		{"id twice", `{"type":"a","workflow_id":"w","id":"1","id":"2"}`, []string{"id"}},
		{"time twice", `{"type":"a","workflow_id":"w","time":"2024-01-01T00:00:00Z","time":"2024-01-02T00:00:00Z"}`, []string{"time", "time"}},
		{"data twice, same key", `{"type":"a","workflow_id":"w","data":1,"data":2}`, []string{"data", "data"}},
		{"metadata twice", `{"type":"a","workflow_id":"w","metadata":{},"metadata":{}}`, []string{"metadata"}},
		{"extension twice", `{"type":"a","workflow_id":"w","ext":"x","ext":"y"}`, []string{"ext"}},
		{"data_base64 not base64", `{"type":"a","workflow_id":"w","data_base64":"!!!"}`, []string{"data_base64"}},
		{"data_base64 unpadded", `{"type":"a","workflow_id":"w","data_base64":"AAE"}`, []string{"data_base64"}},
		{"data_base64 padding inside", `{"type":"a","workflow_id":"w","data_base64":"AA==AAAA"}`, []string{"data_base64"}},
		{"data_base64 url alphabet", `{"type":"a","workflow_id":"w","data_base64":"-_-_"}`, []string{"data_base64"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode([]byte(tt.in), publicOpts)
			var verr *ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("Decode(%s) = %v, want a *ValidationError", tt.in, err)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("errors.Is(%v, ErrInvalid) = false", err)
			}
			var got []string
			for _, f := range verr.Fields {
				got = append(got, f.Field)
			}
			if diff := cmp.Diff(tt.fields, got); diff != "" {
				t.Errorf("fields (-want +got):\n%s\nerror: %v", diff, err)
			}
		})
	}
}

func TestDecodeMalformedJSON(t *testing.T) {
	for _, in := range []string{``, `{`, `{"type":}`, `{"type":"a",}`, `{"a":"b"} x`, `{"a":"\x01"}`, `{"a":tru}`, `{"a":01}`, `[{"type":"a"},{"type":`, `[{"type":"a","workflow_id":"w"}] [`, `{"type":"a","workflow_id":"w"} {}`} {
		if _, err := Decode([]byte(in), publicOpts); !errors.Is(err, jsonscan.ErrSyntax) {
			t.Errorf("Decode(%q) = %v, want a syntax error", in, err)
		}
		if _, err := DecodeBatch([]byte(in), publicOpts, true, 0); in != "" && !errors.Is(err, jsonscan.ErrSyntax) {
			t.Errorf("DecodeBatch(%q) = %v, want a syntax error", in, err)
		}
	}
}

func TestDecodeBatchShapes(t *testing.T) {
	one := `{"type":"a","workflow_id":"w"}`
	bad := `{"type":"a"}`
	tests := []struct {
		name    string
		in      string
		wrapped bool
		want    []bool // per item: valid?
	}{
		{"single", one, true, []bool{true}},
		{"array", "[" + one + "," + bad + "," + one + "]", true, []bool{true, false, true}},
		{"wrapper", `{"events":[` + one + `,` + one + `]}`, true, []bool{true, true}},
		{"wrapper not allowed", `{"events":[` + one + `]}`, false, []bool{false}},
		{"array of non-objects", `[1,"x",` + one + `]`, true, []bool{false, false, true}},
		{"empty array", `[]`, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			items, err := DecodeBatch([]byte(tt.in), publicOpts, tt.wrapped, 0)
			if err != nil {
				t.Fatalf("DecodeBatch: %v", err)
			}
			var got []bool
			for _, it := range items {
				got = append(got, it.Err == nil)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("validity (-want +got):\n%s", diff)
			}
			if len(tt.want) > 1 {
				if _, err := DecodeBatch([]byte(tt.in), publicOpts, tt.wrapped, len(tt.want)-1); !errors.Is(err, ErrTooMany) {
					t.Errorf("DecodeBatch with limit %d = %v, want ErrTooMany", len(tt.want)-1, err)
				}
			}
		})
	}
}

func TestIDsAreSortableAndUnique(t *testing.T) {
	src := NewIDSource()
	now := time.Now()
	prev := ""
	seen := map[string]bool{}
	for i := range 10000 {
		id := src.New(now.Add(time.Duration(i%3) * time.Millisecond))
		if len(id) != 26 {
			t.Fatalf("id %q has %d characters, want 26", id, len(id))
		}
		if id <= prev {
			t.Fatalf("id %q after %q: not increasing", id, prev)
		}
		if seen[id] {
			t.Fatalf("id %q repeated", id)
		}
		seen[id], prev = true, id
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"type":"workflow.started","workflow_id":"123","timestamp":"2024-01-01T00:00:00Z","data":{"a":[1,2,{"b":null}]},"metadata":{"m":1},"version":2}`))
	f.Add([]byte(`{"specversion":"1.0","id":"x","source":"/s","type":"t","workflowid":"w","data_base64":"AAEC","ext":"\u00e9\ud83d\ude00"}`))
	f.Add([]byte(`[{"type":"a","workflow_id":"w"},{"events":[]}]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		items, err := DecodeBatch(b, DecodeOptions{DefaultSource: DefaultSource}, true, 0)
		if err != nil {
			return
		}
		for _, it := range items {
			if it.Err != nil {
				continue
			}
			// A valid event must survive a round trip unchanged.
			raw := Append(nil, &it.Event, true)
			back, err := Decode(raw, DecodeOptions{Wire: true})
			if err != nil {
				t.Fatalf("re-decode of %s: %v", raw, err)
			}
			if diff := cmp.Diff(it.Event, back, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
				t.Fatalf("round trip (-first +second):\n%s", diff)
			}
		}
	})
}

// Data is the producer's: keys given twice inside it are kept as sent, and
// valid base64 is accepted as is.
func TestDecodeKeepsDataAsSent(t *testing.T) {
	for _, tt := range []struct{ in, data string }{
		{`{"type":"a","workflow_id":"w","data":{"k":1,"k":2}}`, `{"k":1,"k":2}`},
		{`{"type":"a","workflow_id":"w","data_base64":"AAEC"}`, `"AAEC"`},
		{`{"type":"a","workflow_id":"w","data_base64":"AA=="}`, `"AA=="`},
		{`{"type":"a","workflow_id":"w","data_base64":"A\/8="}`, `"A\/8="`},
		{`{"type":"a","workflow_id":"w","data_base64":""}`, `""`},
	} {
		e, err := Decode([]byte(tt.in), publicOpts)
		if err != nil {
			t.Fatalf("Decode(%s): %v", tt.in, err)
		}
		if got := string(e.Data); got != tt.data {
			t.Errorf("Decode(%s).Data = %s, want %s", tt.in, got, tt.data)
		}
	}
}

// TestAttrBit holds attrBit's switch to attrKeys: every known attribute has
// its own bit, and an extension none.
func TestAttrBit(t *testing.T) {
	for i, k := range attrKeys {
		if got := attrBit([]byte(k)); got != 1<<i {
			t.Errorf("attrBit(%q) = %b, want %b", k, got, uint32(1)<<i)
		}
	}
	for _, k := range []string{"", "ids", "workflow", "correlationid", "Type"} {
		if got := attrBit([]byte(k)); got != 0 {
			t.Errorf("attrBit(%q) = %b, want 0", k, got)
		}
	}
}
