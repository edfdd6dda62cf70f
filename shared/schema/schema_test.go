package schema

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/flowbus/flowbus/shared/event"
)

func fields(err error) []string {
	var verr *event.ValidationError
	if !errors.As(err, &verr) {
		return nil
	}
	var out []string
	for _, f := range verr.Fields {
		out = append(out, f.Field)
	}
	return out
}

func TestValidate(t *testing.T) {
	r := NewRegistry(RejectUnknown)
	RegisterWorkflowEvents(r)
	r.Register("order.placed", 1, Schema{Fields: map[string]Field{
		"order_id": {Kind: String, Required: true}, "total": {Kind: Number}, "items": {Kind: Integer},
	}})
	tests := []struct {
		name    string
		e       event.Event
		invalid []string
	}{
		{"v1 without data", event.Event{Type: "workflow.started"}, nil},
		{"v1 with data", event.Event{Type: "workflow.started", Data: []byte(`{"a":1}`)}, []string{"data"}},
		{"v2 with status", event.Event{Type: "workflow.started", Version: 2, Data: []byte(`{"status":"running","extra":1}`)}, nil},
		{"v2 without status", event.Event{Type: "workflow.started", Version: 2, Data: []byte(`{}`)}, []string{"data.status"}},
		{"v2 status not a string", event.Event{Type: "workflow.completed", Version: 2, Data: []byte(`{"status":3}`)}, []string{"data.status"}},
		{"unregistered version", event.Event{Type: "workflow.started", Version: 7}, []string{"version"}},
		{"unknown type refused", event.Event{Type: "billing.paid"}, []string{"type"}},
		{"order ok", event.Event{Type: "order.placed", Data: []byte(`{"order_id":"o1","total":9.5,"items":2}`)}, nil},
		{"order wrong kinds", event.Event{Type: "order.placed", Data: []byte(`{"order_id":1,"total":"x","items":2.5,"note":"n"}`)}, []string{"data.items", "data.order_id", "data.total", "data.note"}},
		{"order not an object", event.Event{Type: "order.placed", Data: []byte(`[1]`)}, []string{"data"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := r.Validate(&tt.e)
			if diff := cmp.Diff(tt.invalid, fields(err)); diff != "" {
				t.Errorf("invalid fields (-want +got):\n%s\nerror: %v", diff, err)
			}
			if err != nil && !errors.Is(err, event.ErrInvalid) {
				t.Errorf("error %v does not match event.ErrInvalid", err)
			}
		})
	}
	if err := NewRegistry(AcceptUnknown).Validate(&event.Event{Type: "billing.paid"}); err != nil {
		t.Errorf("accept policy refused an unknown type: %v", err)
	}
}

func TestUpcastChain(t *testing.T) {
	r := NewRegistry(AcceptUnknown)
	RegisterWorkflowEvents(r)
	r.Register(WorkflowTypes, 3, Schema{Fields: map[string]Field{"state": {Kind: String, Required: true}}})
	r.RegisterUpcaster(WorkflowTypes, 2, func(data json.RawMessage) (json.RawMessage, error) {
		var v2 map[string]any
		if err := json.Unmarshal(data, &v2); err != nil {
			return nil, err
		}
		return json.Marshal(map[string]any{"state": v2["status"]})
	})
	e := event.Event{Type: "workflow.started"}
	if err := r.Upcast(&e); err != nil {
		t.Fatal(err)
	}
	if e.Version != 3 || string(e.Data) != `{"state":"unknown"}` {
		t.Errorf("upcast to version %d with %s, want 3 with the v3 state", e.Version, e.Data)
	}
	if err := r.Validate(&e); err != nil {
		t.Errorf("upcast event fails its schema: %v", err)
	}
	latest := event.Event{Type: "workflow.started", Version: 3, Data: []byte(`{"state":"x"}`)}
	if err := r.Upcast(&latest); err != nil || string(latest.Data) != `{"state":"x"}` {
		t.Errorf("an event at the latest version changed: %s, %v", latest.Data, err)
	}
	// A missing step is an error, not old data passed off as new.
	r.Register(WorkflowTypes, 4, Schema{AllowExtra: true})
	e = event.Event{Type: "workflow.started"}
	if err := r.Upcast(&e); !errors.Is(err, ErrMissingUpcaster) {
		t.Errorf("upcast over a missing step = %v, want ErrMissingUpcaster", err)
	}
	other := event.Event{Type: "order.placed", Data: []byte(`{}`)}
	if err := r.Upcast(&other); err != nil || other.Version != 0 {
		t.Errorf("an unregistered type was changed: %+v, %v", other, err)
	}
}
