package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/google/go-cmp/cmp"

	"github.com/flowbus/flowbus/shared/apigw"
	"github.com/flowbus/flowbus/shared/bus"
	"github.com/flowbus/flowbus/shared/event"
	"github.com/flowbus/flowbus/shared/ingest"
	"github.com/flowbus/flowbus/shared/metrics"
	"github.com/flowbus/flowbus/shared/schema"
	"github.com/flowbus/flowbus/shared/testenv"
)

// recorder is a publisher that keeps what it is given.
type recorder struct{ got []*event.Event }

func (r *recorder) Publish(_ context.Context, evs []*event.Event) []bus.Result {
	r.got = append(r.got, evs...)
	res := make([]bus.Result, len(evs))
	for i := range res {
		res[i] = bus.Result{SequenceNumber: "4959", ShardID: "shardId-000000000000"}
	}
	return res
}

func newHandler(pub ingest.Publisher) lambda.Handler {
	h := &handler{svc: ingest.New(pub, 500, event.DefaultSource, schema.NewRegistry(schema.AcceptUnknown)), maxBody: 1 << 20, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	return lambda.NewHandler(h.Handle)
}

func invoke(t *testing.T, h lambda.Handler, req events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	t.Helper()
	raw, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	out, err := h.Invoke(context.Background(), raw)
	if err != nil {
		t.Fatalf("invoke: %v", err)
	}
	var resp events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatal(err)
	}
	return resp
}

func sample(t *testing.T, name string) events.APIGatewayV2HTTPRequest {
	t.Helper()
	raw, err := os.ReadFile("../../events/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var req events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(raw, &req); err != nil {
		t.Fatal(err)
	}
	return req
}

func TestSampleEvents(t *testing.T) {
	for _, tt := range []struct {
		file   string
		events int
	}{{"publish.json", 3}, {"publish-cloudevent.json", 1}, {"publish-base64.json", 1}} {
		t.Run(tt.file, func(t *testing.T) {
			pub := &recorder{}
			resp := invoke(t, newHandler(pub), sample(t, tt.file))
			if resp.StatusCode != 202 {
				t.Fatalf("status %d: %s", resp.StatusCode, resp.Body)
			}
			var body ingest.Response
			if err := json.Unmarshal([]byte(resp.Body), &body); err != nil {
				t.Fatal(err)
			}
			if body.FailedEntryCount != 0 || len(body.Entries) != tt.events || len(pub.got) != tt.events {
				t.Fatalf("answer %s, %d events published; want %d", resp.Body, len(pub.got), tt.events)
			}
			for i, e := range pub.got {
				if e.ID == "" || e.Time.IsZero() || body.Entries[i].ID != e.ID {
					t.Errorf("event %d: id %q time %v, entry %+v", i, e.ID, e.Time, body.Entries[i])
				}
			}
		})
	}
}

func TestRefusedBodies(t *testing.T) {
	one := `{"type":"a","workflow_id":"w"}`
	tests := []struct {
		name        string
		contentType string
		body        string
		base64      bool
		method      string
		status      int
		problemType string
	}{
		{"malformed JSON", "application/json", `{"type":`, false, "", 400, apigw.TypeMalformed},
		{"trailing garbage", "application/json", one + ` x`, false, "", 400, apigw.TypeMalformed},
		{"malformed element", "application/json", `[` + one + `,{"type":}]`, false, "", 400, apigw.TypeMalformed},
		{"empty body", "application/json", "", false, "", 400, apigw.TypeEmpty},
		{"blank body", "application/json", "  \n", false, "", 400, apigw.TypeEmpty},
		{"empty array", "application/json", "[]", false, "", 400, apigw.TypeEmpty},
		{"not JSON at top", "application/json", `"hello"`, false, "", 400, apigw.TypeMalformed},
		{"wrong content type", "text/xml", `<event/>`, false, "", 415, apigw.TypeMediaType},
		{"form without JSON", "application/x-www-form-urlencoded", `a=b`, false, "", 415, apigw.TypeMediaType},
		{"bad charset", "application/json; charset=latin1", one, false, "", 415, apigw.TypeMediaType},
		{"oversize body", "application/json", `{"type":"a","workflow_id":"w","data":"` + strings.Repeat("x", 1<<20) + `"}`, false, "", 413, apigw.TypeTooLarge},
		{"oversize base64 body", "application/json", base64.StdEncoding.EncodeToString([]byte(strings.Repeat(" ", 2<<20))), true, "", 413, apigw.TypeTooLarge},
		{"bad base64", "application/json", "!!!", true, "", 400, apigw.TypeMalformed},
		{"too many events", "application/json", "[" + strings.TrimSuffix(strings.Repeat(one+",", 501), ",") + "]", false, "", 413, apigw.TypeTooLarge},
		{"cloudevent as array", "application/cloudevents+json", "[" + one + "]", false, "", 400, apigw.TypeMalformed},
		{"batch as object", "application/cloudevents-batch+json", one, false, "", 400, apigw.TypeMalformed},
		{"single invalid event", "application/json", `{"type":"a"}`, false, "", 400, apigw.TypeInvalid},
		{"cloudevent without specversion", "application/cloudevents+json", `{"id":"1","source":"s","type":"a","workflowid":"w"}`, false, "", 400, apigw.TypeInvalid},
		{"GET", "application/json", one, false, "GET", 405, apigw.TypeMethod},
		{"type given twice", "application/json", `{"type":"a","workflow_id":"w","type":"b"}`, false, "", 400, apigw.TypeInvalid},
		{"data_base64 not base64", "application/cloudevents+json", `{"specversion":"1.0","id":"1","source":"s","type":"a","workflowid":"w","data_base64":"!!!"}`, false, "", 400, apigw.TypeInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub := &recorder{}
			req := events.APIGatewayV2HTTPRequest{Headers: map[string]string{"content-type": tt.contentType}, Body: tt.body, IsBase64Encoded: tt.base64}
			req.RequestContext.HTTP.Method = "POST"
			if tt.method != "" {
				req.RequestContext.HTTP.Method = tt.method
			}
			resp := invoke(t, newHandler(pub), req)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, resp.Body)
			}
			if ct := resp.Headers["Content-Type"]; ct != apigw.ContentTypeProblem {
				t.Errorf("content type %q, want %q", ct, apigw.ContentTypeProblem)
			}
			var p apigw.Problem
			if err := json.Unmarshal([]byte(resp.Body), &p); err != nil {
				t.Fatalf("body %s: %v", resp.Body, err)
			}
			if p.Type != tt.problemType || p.Status != tt.status || p.Title == "" {
				t.Errorf("problem %+v, want type %s and status %d", p, tt.problemType, tt.status)
			}
			if p.Status == 413 && p.Limit == 0 {
				t.Errorf("problem %+v names no limit", p)
			}
			if len(pub.got) != 0 {
				t.Errorf("%d events published from a refused body", len(pub.got))
			}
		})
	}
}

func TestMixedBatchSendsTheValidOnes(t *testing.T) {
	pub := &recorder{}
	body := `[{"type":"a","workflow_id":"w","id":"ok-1"},{"type":"a"},{"type":"a","workflow_id":"` + strings.Repeat("w", 300) + `"},{"type":"b","workflow_id":"w","id":"ok-2"}]`
	req := events.APIGatewayV2HTTPRequest{Headers: map[string]string{"content-type": "application/json"}, Body: body}
	resp := invoke(t, newHandler(pub), req)
	if resp.StatusCode != 202 {
		t.Fatalf("status %d: %s", resp.StatusCode, resp.Body)
	}
	var got ingest.Response
	if err := json.Unmarshal([]byte(resp.Body), &got); err != nil {
		t.Fatal(err)
	}
	if got.FailedEntryCount != 2 {
		t.Errorf("failed_entry_count %d, want 2", got.FailedEntryCount)
	}
	var codes []string
	for _, e := range got.Entries {
		codes = append(codes, e.ErrorCode)
	}
	if diff := cmp.Diff([]string{"", ingest.CodeInvalid, ingest.CodeInvalid, ""}, codes); diff != "" {
		t.Errorf("entry codes (-want +got):\n%s", diff)
	}
	if e := got.Entries[2]; len(e.Errors) != 1 || e.Errors[0].Field != "workflow_id" || e.Errors[0].Limit != event.MaxWorkflowIDBytes {
		t.Errorf("entry 2 errors %+v, want workflow_id with its limit", e.Errors)
	}
	if len(pub.got) != 2 || pub.got[0].ID != "ok-1" || pub.got[1].ID != "ok-2" {
		t.Errorf("published %d events, want ok-1 and ok-2", len(pub.got))
	}
}

// TestPublishToStream sends the sample request through the real publisher to
// the Kinesis engine and reads the records back.
func TestPublishToStream(t *testing.T) {
	cfg := testenv.AWS(t)
	kc, stream := testenv.Stream(t, cfg, 1)
	h := newHandler(bus.NewPublisher(kc, stream, bus.Options{}))
	resp := invoke(t, h, sample(t, "publish.json"))
	if resp.StatusCode != 202 {
		t.Fatalf("status %d: %s", resp.StatusCode, resp.Body)
	}
	// A refused body writes nothing.
	bad := sample(t, "publish.json")
	bad.Body = bad.Body[:len(bad.Body)-2]
	if resp := invoke(t, h, bad); resp.StatusCode != 400 {
		t.Fatalf("truncated body: status %d", resp.StatusCode)
	}
	_, _, recs := testenv.ReadShard(t, kc, stream)
	var types []string
	for _, r := range recs {
		items, err := event.DecodeBatch(r.Data, event.DecodeOptions{Wire: true}, false, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			if it.Event.WorkflowID != *r.PartitionKey {
				t.Errorf("event of %s in a record keyed %s", it.Event.WorkflowID, *r.PartitionKey)
			}
			types = append(types, it.Event.WorkflowID+" "+it.Event.Type)
		}
	}
	want := []string{"order-123 workflow.started", "order-123 workflow.step.completed", "order-124 workflow.started"}
	if diff := cmp.Diff(want, types); diff != "" {
		t.Errorf("stream (-want +got):\n%s", diff)
	}
}

func TestSchemaValidation(t *testing.T) {
	schemas := schema.NewRegistry(schema.AcceptUnknown)
	schema.RegisterWorkflowEvents(schemas)
	pub := &recorder{}
	h := &handler{svc: ingest.New(pub, 500, event.DefaultSource, schemas), maxBody: 1 << 20, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	body := `[{"type":"workflow.started","workflow_id":"w","version":2,"data":{"status":"running"}},
	          {"type":"workflow.started","workflow_id":"w","version":2,"data":{}},
	          {"type":"workflow.started","workflow_id":"w","version":9}]`
	resp := invoke(t, lambda.NewHandler(h.Handle), events.APIGatewayV2HTTPRequest{Headers: map[string]string{"content-type": "application/json"}, Body: body})
	var got ingest.Response
	if err := json.Unmarshal([]byte(resp.Body), &got); err != nil || resp.StatusCode != 202 {
		t.Fatalf("status %d: %s", resp.StatusCode, resp.Body)
	}
	var fields []string
	for _, e := range got.Entries {
		for _, f := range e.Errors {
			fields = append(fields, f.Field)
		}
	}
	if diff := cmp.Diff([]string{"data.status", "version"}, fields); diff != "" {
		t.Errorf("refused fields (-want +got):\n%s", diff)
	}
	if len(pub.got) != 1 {
		t.Errorf("%d events published, want the valid one", len(pub.got))
	}
}

// TestFiguresAreEmbeddedMetricFormat checks the publish figures come out as
// one EMF record per invocation.
func TestFiguresAreEmbeddedMetricFormat(t *testing.T) {
	var out bytes.Buffer
	rec, err := metrics.NewRecorder(metrics.Namespace, &out, metrics.Options{Dims: map[string]string{"function": "publish"}})
	if err != nil {
		t.Fatal(err)
	}
	h := &handler{svc: ingest.New(&recorder{}, 500, event.DefaultSource, nil), maxBody: 1 << 20, log: slog.New(slog.NewTextHandler(io.Discard, nil)), metrics: rec}
	invoke(t, metrics.Flushing(lambda.NewHandler(h.Handle), rec), sample(t, "publish.json"))
	// One record per dimension set: publish.json holds two event types,
	// and the figures without a type (rejected, duration) make a third.
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d EMF lines, want 3:\n%s", len(lines), out.String())
	}
	published := 0.0
	for _, line := range lines {
		var emf struct {
			AWS struct {
				CloudWatchMetrics []struct {
					Namespace string `json:"Namespace"`
				} `json:"CloudWatchMetrics"`
			} `json:"_aws"`
			Function  string  `json:"function"`
			EventType string  `json:"event_type"`
			Published float64 `json:"events_published"`
		}
		if err := json.Unmarshal([]byte(line), &emf); err != nil {
			t.Fatal(err)
		}
		if emf.AWS.CloudWatchMetrics[0].Namespace != "Flowbus" || emf.Function != "publish" {
			t.Errorf("EMF record %s", line)
		}
		if emf.Published > 0 && emf.EventType == "" {
			t.Errorf("published count without its event type: %s", line)
		}
		published += emf.Published
	}
	if published != 3 {
		t.Errorf("published %v events in EMF, want 3:\n%s", published, out.String())
	}
}

// Binary-mode requests refused as a whole, each naming what is wrong.
func TestCloudEventsBinaryModeRefusals(t *testing.T) {
	attrs := func(extra ...string) map[string]string {
		h := map[string]string{"ce-specversion": "1.0", "ce-id": "r1", "ce-source": "/s", "ce-type": "t", "ce-workflowid": "w"}
		for i := 0; i+1 < len(extra); i += 2 {
			h[extra[i]] = extra[i+1]
		}
		return h
	}
	tests := []struct {
		name    string
		headers map[string]string
		body    string
		status  int
		field   string // named in the problem's errors, if any
	}{
		{"invalid UTF-8 workflow id", attrs("ce-workflowid", "bin-%ff%fe"), "", 400, "ce-workflowid"},
		{"overlong UTF-8 workflow id", attrs("ce-workflowid", "bin-%c0%c1"), "", 400, "ce-workflowid"},
		{"invalid UTF-8 type", attrs("ce-type", "t%80"), "", 400, "ce-type"},
		{"invalid UTF-8 extension", attrs("ce-traceparent", "%ed%a0%80"), "", 400, "ce-traceparent"},
		{"attribute twice", attrs("Ce-Type", "u"), "", 400, "ce-type"},
		{"data in a header", attrs("ce-data_base64", "AAEC"), "", 400, "ce-data_base64"},
		{"latin-1 JSON", attrs("content-type", "application/json; charset=iso-8859-1"), `{"a":1}`, 415, ""},
		{"latin-1 text", attrs("content-type", "text/plain; charset=ISO-8859-1"), "caf\xe9", 415, ""},
		{"not a media type", attrs("content-type", "application/"), "x", 415, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub := &recorder{}
			req := events.APIGatewayV2HTTPRequest{Headers: tt.headers, Body: tt.body}
			req.RequestContext.HTTP.Method = "POST"
			resp := invoke(t, newHandler(pub), req)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, resp.Body)
			}
			if ct := resp.Headers["Content-Type"]; ct != apigw.ContentTypeProblem {
				t.Errorf("content type %q, want %q", ct, apigw.ContentTypeProblem)
			}
			var p apigw.Problem
			if err := json.Unmarshal([]byte(resp.Body), &p); err != nil {
				t.Fatalf("body %s: %v", resp.Body, err)
			}
			if tt.field != "" && (len(p.Errors) != 1 || p.Errors[0].Field != tt.field) {
				t.Errorf("errors %+v, want one naming %s", p.Errors, tt.field)
			}
			if len(pub.got) != 0 {
				t.Errorf("%d events published from a refused request", len(pub.got))
			}
		})
	}
}

func TestCloudEventsBinaryMode(t *testing.T) {
	tests := []struct {
		name    string
		headers map[string]string
		body    string
		status  int
		check   func(t *testing.T, e *event.Event)
	}{
		{"JSON data", map[string]string{"ce-specversion": "1.0", "ce-id": "b1", "ce-source": "/n8n", "ce-type": "order.placed", "ce-workflowid": "wf-1", "content-type": "application/json"}, `{"total":5}`, 202,
			func(t *testing.T, e *event.Event) {
				if e.ID != "b1" || e.WorkflowID != "wf-1" || string(e.Data) != `{"total":5}` || e.DataContentType != "application/json" {
					t.Errorf("event %+v", e)
				}
			}},
		{"binary data, percent-encoded subject", map[string]string{"Ce-Specversion": "1.0", "Ce-Id": "b2", "Ce-Source": "/s", "Ce-Type": "file.uploaded", "Ce-Partitionkey": "wf-2", "Ce-Subject": "a%20b", "Content-Type": "application/octet-stream"}, "\x00\x01", 202,
			func(t *testing.T, e *event.Event) {
				if !e.DataBase64 || string(e.Data) != `"AAE="` || e.Subject != "a b" || e.WorkflowID != "wf-2" {
					t.Errorf("event %+v data %s", e, e.Data)
				}
			}},
		{"no data", map[string]string{"ce-specversion": "1.0", "ce-id": "b3", "ce-source": "/s", "ce-type": "ping", "ce-workflowid": "wf-3"}, "", 202, nil},
		{"bad JSON data", map[string]string{"ce-specversion": "1.0", "ce-id": "b4", "ce-source": "/s", "ce-type": "t", "ce-workflowid": "w", "content-type": "application/json"}, `{"a":`, 400, nil},
		{"missing type", map[string]string{"ce-specversion": "1.0", "ce-id": "b5", "ce-source": "/s", "ce-workflowid": "w"}, "", 400, nil},
		{"bad percent-encoding", map[string]string{"ce-specversion": "1.0", "ce-id": "%zz", "ce-source": "/s", "ce-type": "t", "ce-workflowid": "w"}, "", 400, nil},
		{"percent-encoded UTF-8", map[string]string{"ce-specversion": "1.0", "ce-id": "b6", "ce-source": "/s", "ce-type": "t", "ce-workflowid": "bin-%C3%A9"}, "", 202,
			func(t *testing.T, e *event.Event) {
				if e.WorkflowID != "bin-\u00e9" {
					t.Errorf("workflow id %q, want %q", e.WorkflowID, "bin-\u00e9")
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub := &recorder{}
			req := events.APIGatewayV2HTTPRequest{Headers: tt.headers, Body: tt.body}
			req.RequestContext.HTTP.Method = "POST"
			resp := invoke(t, newHandler(pub), req)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, resp.Body)
			}
			if tt.check != nil {
				if len(pub.got) != 1 {
					t.Fatalf("%d events published, want 1", len(pub.got))
				}
				tt.check(t, pub.got[0])
			}
		})
	}
}
