package subscription

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/flowbus/flowbus/shared/event"
	"github.com/flowbus/flowbus/shared/webhook"
)

var local = webhook.Policy{AllowPlainLoopback: true}

func TestParseAppliesDefaults(t *testing.T) {
	s, err := Parse([]byte(`{"name":"orchestrator","pattern":{"type":["workflow.started"]},
		"target":{"type":"http","url":"http://127.0.0.1:9000/hook"},"delivery":{"retry_attempts":0}}`))
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultDelivery()
	want.RetryAttempts = 0
	if diff := cmp.Diff(want, s.Delivery); diff != "" {
		t.Errorf("delivery (-want +got):\n%s", diff)
	}
	if s.State != Enabled {
		t.Errorf("got state %q, want enabled", s.State)
	}
	if err := s.Validate(local); err != nil {
		t.Errorf("got %v, want valid", err)
	}
	if err := s.Validate(webhook.Policy{}); err == nil {
		t.Error("plain http to loopback accepted without AllowPlainLoopback")
	}
}

func TestParseNamesTheField(t *testing.T) {
	for _, c := range []struct{ body, field string }{
		{`{"name":"a","nope":1}`, "nope"},
		{`{"name":5}`, "name"},
		{`{"delivery":{"timeout_seconds":"x"}}`, "delivery.timeout_seconds"},
		{`[1]`, ""},
	} {
		_, err := Parse([]byte(c.body))
		var ve *ValidationError
		if !errors.As(err, &ve) {
			t.Errorf("%s: got %v, want a ValidationError", c.body, err)
			continue
		}
		if got := ve.Fields[0].Field; got != c.field {
			t.Errorf("%s: got field %q, want %q", c.body, got, c.field)
		}
	}
}

func fields(err error) []string {
	var ve *ValidationError
	if !errors.As(err, &ve) {
		return nil
	}
	var out []string
	for _, f := range ve.Fields {
		out = append(out, f.Field)
	}
	return out
}

func TestValidateReportsEveryField(t *testing.T) {
	for _, c := range []struct {
		name string
		body string
		want []string
	}{
		{"valid http", `{"name":"a.b_c-1","pattern":{},"target":{"type":"http","url":"https://example.com/h","mode":"structured","handshake":true}}`, nil},
		{"valid lambda", `{"name":"l","pattern":{},"target":{"type":"lambda","function":"arn:aws:lambda:us-east-1:123456789012:function:fn:live"}}`, nil},
		{"valid lambda name", `{"name":"l","pattern":{},"target":{"type":"lambda","function":"fn"}}`, nil},
		{"valid sqs url", `{"name":"q","pattern":{},"target":{"type":"sqs","queue":"https://sqs.us-east-1.amazonaws.com/123456789012/q.fifo"}}`, nil},
		{"valid sqs arn", `{"name":"q","pattern":{},"target":{"type":"sqs","queue":"arn:aws:sqs:us-east-1:123456789012:q"}}`, nil},
		{"valid kinesis", `{"name":"k","pattern":{},"target":{"type":"kinesis","stream":"arn:aws:kinesis:us-east-1:123456789012:stream/s"}}`, nil},
		{"valid eventbridge", `{"name":"e","pattern":{},"target":{"type":"eventbridge","event_bus":"default","detail_type":"x"}}`, nil},
		{"valid bus", `{"name":"o","pattern":{"type":["workflow.started"]},"target":{"type":"bus"},
			"input_transformer":{"input_paths_map":{"wf":"$.workflowid"},"input_template":"{\"type\":\"workflow.trigger\",\"workflow_id\":<wf>,\"data\":{\"action\":\"trigger\"}}"}}`, nil},
		{"everything wrong", `{"name":"a b","pattern":{"data":{"amount":[{"numeric":[">"]}]}},"target":{"type":"http","url":"http://169.254.169.254/","function":"f"},
			"delivery":{"timeout_seconds":31,"retry_attempts":186,"maximum_event_age_seconds":59,"backoff_base_ms":0,"backoff_max_ms":3600001},"state":"paused"}`,
			[]string{"name", "pattern.data.amount", "target.function", "target.url", "delivery.timeout_seconds", "delivery.retry_attempts",
				"delivery.maximum_event_age_seconds", "delivery.backoff_base_ms", "delivery.backoff_max_ms", "state"}},
		{"missing all", `{}`, []string{"name", "pattern", "target.type"}},
		{"long name", `{"name":"` + strings.Repeat("a", 65) + `","pattern":{},"target":{"type":"lambda","function":"f"}}`, []string{"name"}},
		{"bad target type", `{"name":"a","pattern":{},"target":{"type":"ftp"}}`, []string{"target.type"}},
		{"bad mode", `{"name":"a","pattern":{},"target":{"type":"http","url":"https://example.com","mode":"text"}}`, []string{"target.mode"}},
		{"lambda without function", `{"name":"a","pattern":{},"target":{"type":"lambda"}}`, []string{"target.function"}},
		{"bad queue", `{"name":"a","pattern":{},"target":{"type":"sqs","queue":"not a queue"}}`, []string{"target.queue"}},
		{"bad stream", `{"name":"a","pattern":{},"target":{"type":"kinesis","stream":"a b"}}`, []string{"target.stream"}},
		{"bad bus", `{"name":"a","pattern":{},"target":{"type":"eventbridge"}}`, []string{"target.event_bus"}},
		{"backoff max below base", `{"name":"a","pattern":{},"target":{"type":"lambda","function":"f"},"delivery":{"backoff_base_ms":5000,"backoff_max_ms":10}}`, []string{"delivery.backoff_max_ms"}},
		{"bus without transformer", `{"name":"a","pattern":{},"target":{"type":"bus"}}`, []string{"input_transformer"}},
		{"bus without type", `{"name":"a","pattern":{},"target":{"type":"bus"},"input_transformer":{"input_template":"{\"data\":1}"}}`, []string{"input_transformer.input_template"}},
		{"bus feeding itself", `{"name":"a","pattern":{"type":["workflow.trigger"]},"target":{"type":"bus"},
			"input_transformer":{"input_paths_map":{"wf":"$.workflowid"},"input_template":"{\"type\":\"workflow.trigger\",\"workflow_id\":<wf>}"}}`, []string{"pattern"}},
		{"bus feeding itself on prefix", `{"name":"a","pattern":{"type":[{"prefix":"workflow."}],"source":["/flowbus"]},"target":{"type":"bus"},
			"input_transformer":{"input_template":"{\"type\":\"workflow.trigger\"}"}}`, []string{"pattern"}},
		{"bus whose data contradicts", `{"name":"a","pattern":{"type":["workflow.trigger"],"data":{"action":["start"]}},"target":{"type":"bus"},
			"input_transformer":{"input_template":"{\"type\":\"workflow.trigger\",\"data\":{\"action\":\"trigger\"}}"}}`, nil},
		{"bus with a placeholder type", `{"name":"a","pattern":{"type":[{"prefix":"workflow."}]},"target":{"type":"bus"},
			"input_transformer":{"input_paths_map":{"t":"$.data.next"},"input_template":"{\"type\":\"workflow.<t>\"}"}}`, nil},
		{"bus whose pattern tests an unknown value", `{"name":"a","pattern":{"type":["workflow.trigger"],"data":{"x":["1"]}},"target":{"type":"bus"},
			"input_transformer":{"input_paths_map":{"x":"$.data.x"},"input_template":"{\"type\":\"workflow.trigger\",\"data\":{\"x\":<x>}}"}}`, nil},
		{"transformer problems", `{"name":"a","pattern":{},"target":{"type":"lambda","function":"f"},
			"input_transformer":{"input_paths_map":{"a b":"$.x","aws.x":"$.y","p":"data.x"},"input_template":"{\"k\":<q>}"}}`,
			[]string{"input_transformer.input_paths_map.a b", "input_transformer.input_paths_map.aws.x", "input_transformer.input_paths_map.p", "input_transformer.input_template"}},
		{"placeholder as key", `{"name":"a","pattern":{},"target":{"type":"lambda","function":"f"},
			"input_transformer":{"input_paths_map":{"k":"$.x"},"input_template":"{<k>:1}"}}`, []string{"input_transformer.input_template"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := Parse([]byte(c.body))
			if err != nil {
				t.Fatal(err)
			}
			err = s.Validate(webhook.Policy{})
			if c.want == nil {
				if err != nil {
					t.Fatalf("got %v, want valid", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid", err)
			}
			if diff := cmp.Diff(sortedCopy(c.want), sortedCopy(fields(err))); diff != "" {
				t.Errorf("fields (-want +got):\n%s\n%v", diff, err)
			}
		})
	}
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func TestLimitsAreNamed(t *testing.T) {
	s, _ := Parse([]byte(`{"name":"a","pattern":{},"target":{"type":"lambda","function":"f"},"delivery":{"timeout_seconds":0}}`))
	var ve *ValidationError
	if !errors.As(s.Validate(webhook.Policy{}), &ve) || ve.Fields[0].Limit != 30 {
		t.Errorf("got %+v, want timeout_seconds with limit 30", ve)
	}
}

func TestTargetHelpers(t *testing.T) {
	if !(Target{Type: TargetSQS, Queue: "https://sqs.us-east-1.amazonaws.com/1/q.fifo"}).FIFO() {
		t.Error("a .fifo queue is not FIFO")
	}
	if (Target{Type: TargetSQS, Queue: "arn:aws:sqs:us-east-1:123456789012:q"}).FIFO() {
		t.Error("a standard queue is FIFO")
	}
	if (Target{Mode: ModeStructured}).WebhookMode() != webhook.Structured || (Target{}).WebhookMode() != webhook.Binary {
		t.Error("webhook modes")
	}
}

func TestValidationErrorMessage(t *testing.T) {
	err := &ValidationError{Fields: []event.FieldError{{Field: "name", Reason: "is required"}}}
	if got, want := err.Error(), "invalid subscription: name: is required"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
