package subscription

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/flowbus/flowbus/shared/event"
)

const sample = `{"specversion":"1.0","id":"e1","source":"/n8n","type":"workflow.started","time":"2024-01-01T00:00:00Z",
	"workflowid":"wf-1","data":{"order":{"id":42,"items":["a","b"],"note":"say \"hi\" <b>"},"ok":true}}`

func TestApply(t *testing.T) {
	for _, c := range []struct {
		name  string
		paths map[string]string
		tpl   string
		want  string
	}{
		{"values outside strings", map[string]string{"wf": "$.workflowid", "o": "$.data.order.id", "ok": "$.data.ok", "items": "$.data.order.items"},
			`{"wf":<wf>,"o":<o>,"ok":<ok>,"items":<items>}`, `{"wf":"wf-1","o":42,"ok":true,"items":["a","b"]}`},
		{"values inside strings", map[string]string{"wf": "$.workflowid", "o": "$.data.order.id", "note": "$.data.order.note", "items": "$.data.order.items"},
			`{"s":"run <wf> for order <o>: <note> <items>"}`, `{"s":"run wf-1 for order 42: say \"hi\" <b> [\"a\",\"b\"]"}`},
		{"index", map[string]string{"first": "$.data.order.items[1]"}, `{"x":<first>}`, `{"x":"b"}`},
		{"missing", map[string]string{"m": "$.data.nope", "i": "$.data.order.items[5]"}, `{"x":<m>,"s":"[<m>]","i":<i>}`, `{"x":null,"s":"[]","i":null}`},
		{"whole event part", map[string]string{"d": "$.data.order"}, `<d>`, `{"id":42,"items":["a","b"],"note":"say \"hi\" <b>"}`},
		{"escaped quote keeps string state", map[string]string{"wf": "$.workflowid"}, `{"s":"a\"<wf>","v":<wf>}`, `{"s":"a\"wf-1","v":"wf-1"}`},
		{"no placeholders", nil, `{"fixed":[1,2]}`, `{"fixed":[1,2]}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			tr, err := (&InputTransformer{InputPathsMap: c.paths, InputTemplate: c.tpl}).Compile()
			if err != nil {
				t.Fatal(err)
			}
			got, err := tr.Apply([]byte(sample))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != c.want {
				t.Errorf("got %s, want %s", got, c.want)
			}
			if !json.Valid(got) {
				t.Errorf("%s is not JSON", got)
			}
		})
	}
}

func TestDerive(t *testing.T) {
	tr, err := (&InputTransformer{InputPathsMap: map[string]string{"wf": "$.workflowid"},
		InputTemplate: `{"type":"workflow.trigger","workflow_id":<wf>,"data":{"action":"trigger"},"id":"ignored"}`}).Compile()
	if err != nil {
		t.Fatal(err)
	}
	src, err := event.Decode([]byte(sample), event.DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := tr.Derive("orchestrator", &src)
	if err != nil {
		t.Fatal(err)
	}
	if d.Type != "workflow.trigger" || d.WorkflowID != "wf-1" || d.Source != event.DefaultSource || string(d.Data) != `{"action":"trigger"}` {
		t.Errorf("got %+v", d)
	}
	if d.ID != DerivedID("orchestrator", "e1") || d.ID == DerivedID("other", "e1") {
		t.Errorf("got id %q, want one fixed by subscription and source id", d.ID)
	}
	ext := func(e *event.Event, name string) string {
		v, _ := e.Extension(name)
		return string(v)
	}
	if ext(&d, AttrCausationID) != `"e1"` || ext(&d, AttrCorrelationID) != `"e1"` || Hops(&d) != 1 {
		t.Errorf("got causation %s correlation %s hops %d", ext(&d, AttrCausationID), ext(&d, AttrCorrelationID), Hops(&d))
	}
	d.Time = time.Now()
	d2, err := tr.Derive("orchestrator", &d)
	if err != nil {
		t.Fatal(err)
	}
	if ext(&d2, AttrCausationID) != `"`+d.ID+`"` || ext(&d2, AttrCorrelationID) != `"e1"` || Hops(&d2) != 2 {
		t.Errorf("second hop: causation %s correlation %s hops %d", ext(&d2, AttrCausationID), ext(&d2, AttrCorrelationID), Hops(&d2))
	}
}

func TestDeriveKeepsTheWorkflow(t *testing.T) {
	tr, err := (&InputTransformer{InputTemplate: `{"type":"x.y"}`}).Compile()
	if err != nil {
		t.Fatal(err)
	}
	src, _ := event.Decode([]byte(sample), event.DecodeOptions{})
	d, err := tr.Derive("s", &src)
	if err != nil || d.WorkflowID != "wf-1" {
		t.Errorf("got %v %q, want workflow wf-1", err, d.WorkflowID)
	}
}
