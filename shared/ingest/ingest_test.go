package ingest

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/flowbus/flowbus/shared/bus"
	"github.com/flowbus/flowbus/shared/event"
	"github.com/flowbus/flowbus/shared/jsonscan"
)

// events keeps the events it is given.
type events struct{ got []*event.Event }

func (p *events) Publish(_ context.Context, evs []*event.Event) []bus.Result {
	p.got = append(p.got, evs...)
	return make([]bus.Result, len(evs))
}

// encoded keeps the encoded events it is given.
type encoded struct {
	events
	enc []bus.Encoded
}

func (p *encoded) PublishEncoded(_ context.Context, evs []bus.Encoded) []bus.Result {
	p.enc = append(p.enc, evs...)
	return make([]bus.Result, len(evs))
}

// Bodies refused as a whole are errors in ingest's terms.
func TestPublishRefusals(t *testing.T) {
	one := `{"type":"a","workflow_id":"w"}`
	tests := []struct {
		name  string
		kind  Kind
		body  string
		check func(error) bool
	}{
		{"not JSON", Events, `{"type":`, func(err error) bool {
			var m *MalformedError
			return errors.As(err, &m) && errors.Is(err, jsonscan.ErrSyntax)
		}},
		{"no events", Events, `[]`, func(err error) bool { return errors.Is(err, ErrNoEvents) }},
		{"too many", Events, "[" + strings.TrimSuffix(strings.Repeat(one+",", 3), ",") + "]", func(err error) bool {
			var tm *TooManyError
			return errors.As(err, &tm) && tm.Limit == 2 && errors.Is(err, event.ErrTooMany)
		}},
		{"array as a CloudEvent", CloudEvent, "[" + one + "]", func(err error) bool { return errors.Is(err, ErrNotCloudEvent) }},
		{"object as a batch", CloudEventsBatch, one, func(err error) bool { return errors.Is(err, ErrNotBatch) }},
		{"one invalid event", Events, `{"type":"a","workflow_id":"\ud800"}`, func(err error) bool {
			var inv *InvalidError
			return errors.As(err, &inv) && len(inv.Fields) == 1 && inv.Fields[0].Field == "workflow_id"
		}},
		{"a CloudEvent without specversion", CloudEvent, `{"id":"1","source":"s","type":"a","workflowid":"w"}`, func(err error) bool {
			var inv *InvalidError
			return errors.As(err, &inv) && len(inv.Fields) == 1 && inv.Fields[0].Field == "specversion"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub := &events{}
			_, err := New(pub, 2, "/test", nil).Publish(context.Background(), []byte(tt.body), tt.kind)
			if !tt.check(err) {
				t.Errorf("Publish: %v (%T)", err, err)
			}
			if len(pub.got) != 0 {
				t.Errorf("%d events published from a refused body", len(pub.got))
			}
		})
	}
}

// A publisher that takes encoded events gets each event's bytes as ingest
// encoded them for the size check, the same a plain publisher would write.
func TestPublishPassesTheEncodedBytesOn(t *testing.T) {
	body := []byte(`[{"type":"a","workflow_id":"w1","id":"1","timestamp":"2024-01-01T00:00:00Z","data":{"n":1}},
		{"type":"a"},
		{"type":"b","workflow_id":"w2","id":"2","timestamp":"2024-01-01T00:00:00Z","metadata":{"origin":"n8n"}},
		{"type":"c","workflow_id":"w1","data":"` + strings.Repeat("x", event.MaxRecordBytes) + `"},
		{"type":"c","workflow_id":"w1","id":"3","timestamp":"2024-01-01T00:00:00Z"}]`)
	pub := &encoded{}
	out, err := New(pub, 500, "/test", nil).Publish(context.Background(), body, Events)
	if err != nil {
		t.Fatal(err)
	}
	if out.Response.FailedEntryCount != 2 || len(pub.got) != 0 {
		t.Fatalf("failed %d, %d events by Publish; want 2 and none", out.Response.FailedEntryCount, len(pub.got))
	}
	var got, want []string
	for _, e := range pub.enc {
		got = append(got, e.WorkflowID+" "+string(e.Data))
		ev, err := event.Decode(e.Data, event.DecodeOptions{Wire: true})
		if err != nil {
			t.Fatalf("%s: %v", e.Data, err)
		}
		want = append(want, ev.WorkflowID+" "+string(event.Append(nil, &ev, true)))
	}
	if diff := cmp.Diff([]string{"w1", "w2", "w1"}, ids(pub.enc)); diff != "" {
		t.Errorf("workflows (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("encoded events (-want +got):\n%s", diff)
	}
}

func ids(enc []bus.Encoded) []string {
	var out []string
	for _, e := range enc {
		out = append(out, e.WorkflowID)
	}
	return out
}
