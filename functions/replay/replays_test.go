package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/flowbus/flowbus/shared/apigw"
	"github.com/flowbus/flowbus/shared/bus"
	"github.com/flowbus/flowbus/shared/dynamostore"
	"github.com/flowbus/flowbus/shared/replay"
	"github.com/flowbus/flowbus/shared/schema"
	"github.com/flowbus/flowbus/shared/testenv"
)

func replayHandler(t *testing.T, workflows int) (*handler, *queued, func() int) {
	t.Helper()
	cfg := testenv.AWS(t)
	db, table := testenv.Table(t, cfg)
	kc, stream := testenv.Stream(t, cfg, 1)
	store := dynamostore.New(db, table, dynamostore.Options{})
	for w := range workflows {
		seedInto(t, store, []string{"wf-a", "wf-b", "wf-c"}[w], 30)
	}
	pub := bus.NewPublisher(kc, stream, bus.Options{})
	records := replay.NewRecords(db, table)
	q := &queued{}
	h := &handler{store: store, schemas: schema.NewRegistry(schema.AcceptUnknown), records: records, continuer: q, log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		runner: &replay.Runner{Records: records, Source: store, PageSize: 10, Publishers: func(string) replay.Publisher { return pub }}}
	onStream := func() int {
		_, _, recs := testenv.ReadShard(t, kc, stream)
		n := 0
		for _, r := range recs {
			if r.Data[0] == '[' {
				var batch []json.RawMessage
				_ = json.Unmarshal(r.Data, &batch)
				n += len(batch)
			} else {
				n++
			}
		}
		return n
	}
	return h, q, onStream
}

func call(t *testing.T, h *handler, method, routeKey string, params map[string]string, body string) (int, replay.Record) {
	t.Helper()
	req := events.APIGatewayV2HTTPRequest{RouteKey: routeKey, PathParameters: params, Body: body}
	req.RequestContext.HTTP.Method = method
	raw, _ := json.Marshal(req)
	out, err := lambda.NewHandler(h.Handle).Invoke(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	var resp events.APIGatewayV2HTTPResponse
	var rec replay.Record
	_ = json.Unmarshal(out, &resp)
	_ = json.Unmarshal([]byte(resp.Body), &rec)
	return resp.StatusCode, rec
}

func TestReplayRoutes(t *testing.T) {
	h, q, onStream := replayHandler(t, 3)
	// One workflow: done before the answer.
	status, rec := call(t, h, "POST", "POST /replays", nil, `{"workflow_id":"wf-b","types":["workflow.*"]}`)
	if status != 200 || rec.State != replay.Completed || rec.Events != 20 {
		t.Fatalf("one-workflow replay: %d %+v", status, rec)
	}
	if n := onStream(); n != 20 {
		t.Errorf("%d events on the stream, want 20", n)
	}
	// A time window across workflows: its first page during the request
	// (all of it, here), else 202 and the worker invocation.
	status, rec = call(t, h, "POST", "POST /replays", nil, `{"from":"2024-01-01T00:00:00Z","to":"2024-01-01T00:10:00Z"}`)
	switch {
	case status == 200 && rec.State == replay.Completed && len(q.ids) == 0:
	case status == 202 && len(q.ids) == 1 && q.ids[0] == rec.ID:
		worker, _ := json.Marshal(replay.WorkerEvent{ReplayID: rec.ID})
		inv := invoker{h: h, api: lambda.NewHandler(h.Handle).Invoke}
		if _, err := inv.Invoke(context.Background(), worker); err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("window replay: %d %+v, continued %v", status, rec, q.ids)
	}
	status, rec = call(t, h, "GET", "GET /replays/{replay_id}", map[string]string{"replay_id": rec.ID}, "")
	if status != 200 || rec.State != replay.Completed || rec.Events != 30 {
		t.Errorf("after the worker: %d %+v, want completed with 30 events", status, rec)
	}
	if n := onStream(); n != 50 {
		t.Errorf("%d events on the stream, want 50", n)
	}
	// Cancel one that has not started.
	pending, err := h.records.Create(context.Background(), replay.Spec{WorkflowID: "wf-a"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	status, rec = call(t, h, "DELETE", "DELETE /replays/{replay_id}", map[string]string{"replay_id": pending.ID}, "")
	if status != 202 || rec.State != replay.Cancelled {
		t.Errorf("cancel: %d %+v", status, rec)
	}
	if status, _ := call(t, h, "GET", "GET /replays/{replay_id}", map[string]string{"replay_id": "01JDX0000000000000000000AB"}, ""); status != 404 {
		t.Errorf("unknown replay: status %d, want 404", status)
	}
}

// A replay that cannot start answers a failure, not 200 or 202: 422 naming
// the target stream that refused it, with the failed record.
func TestReplayToMissingStreamFails(t *testing.T) {
	h, q, _ := replayHandler(t, 1)
	cfg := testenv.AWS(t)
	kc := kinesis.NewFromConfig(cfg)
	h.runner.Publishers = func(stream string) replay.Publisher { return bus.NewPublisher(kc, stream, bus.Options{}) }
	missing := testenv.Name("no-such-stream")
	for _, body := range []string{
		`{"workflow_id":"wf-a","target":{"stream":"` + missing + `"}}`,
		`{"from":"2024-01-01T00:00:00Z","to":"2024-01-02T00:00:00Z","target":{"stream":"` + missing + `"}}`,
	} {
		resp := invokeReq(t, h, "POST", "POST /replays", nil, map[string]string{"content-type": "application/json"}, body)
		var got struct {
			apigw.Problem
			Replay replay.Record `json:"replay"`
		}
		_ = json.Unmarshal([]byte(resp.Body), &got)
		if resp.StatusCode != 422 || resp.Headers["Content-Type"] != apigw.ContentTypeProblem {
			t.Fatalf("body %s: %d %s", body, resp.StatusCode, resp.Body)
		}
		if len(got.Errors) != 1 || got.Errors[0].Field != "target.stream" || !strings.Contains(got.Detail, missing) {
			t.Errorf("problem %+v, want it to name target.stream %s", got.Problem, missing)
		}
		if got.Replay.State != replay.Failed || got.Replay.Error == "" {
			t.Errorf("replay %+v, want failed with its error", got.Replay)
		}
		if rec, err := h.records.Get(context.Background(), got.Replay.ID); err != nil || rec.State != replay.Failed {
			t.Errorf("stored record %+v, %v; want failed", rec, err)
		}
	}
	if len(q.ids) != 0 {
		t.Errorf("failed replays handed on to workers: %v", q.ids)
	}
}

func invokeReq(t *testing.T, h *handler, method, routeKey string, params, headers map[string]string, body string) events.APIGatewayV2HTTPResponse {
	t.Helper()
	req := events.APIGatewayV2HTTPRequest{RouteKey: routeKey, PathParameters: params, Headers: headers, Body: body}
	req.RequestContext.HTTP.Method = method
	raw, _ := json.Marshal(req)
	out, err := lambda.NewHandler(h.Handle).Invoke(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	var resp events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatal(err)
	}
	return resp
}

// Requests refused before any lookup: no store is needed to answer them.
func TestReplayClientErrors(t *testing.T) {
	h := &handler{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	long := strings.Repeat("A", 2042)
	tests := []struct {
		name, method, route string
		params, headers     map[string]string
		body                string
		status              int
		problemType         string
	}{
		{"long id", "GET", "GET /replays/{replay_id}", map[string]string{"replay_id": long}, nil, "", 404, apigw.TypeNotFound},
		{"long id, delete", "DELETE", "DELETE /replays/{replay_id}", map[string]string{"replay_id": long}, nil, "", 404, apigw.TypeNotFound},
		{"not a ULID", "GET", "GET /replays/{replay_id}", map[string]string{"replay_id": "nope"}, nil, "", 404, apigw.TypeNotFound},
		{"text/xml", "POST", "POST /replays", nil, map[string]string{"content-type": "text/xml"}, `{"workflow_id":"w"}`, 415, apigw.TypeMediaType},
		{"cloudevents", "POST", "POST /replays", nil, map[string]string{"content-type": "application/cloudevents+json"}, `{"workflow_id":"w"}`, 415, apigw.TypeMediaType},
		{"latin-1", "POST", "POST /replays", nil, map[string]string{"content-type": "application/json; charset=iso-8859-1"}, `{"workflow_id":"w"}`, 415, apigw.TypeMediaType},
		{"form, not JSON", "POST", "POST /replays", nil, map[string]string{"content-type": "application/x-www-form-urlencoded"}, `a=b`, 415, apigw.TypeMediaType},
		{"too large", "POST", "POST /replays", nil, map[string]string{"content-type": "application/json"}, `{"workflow_id":"` + strings.Repeat("w", 70<<10) + `"}`, 413, apigw.TypeTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := invokeReq(t, h, tt.method, tt.route, tt.params, tt.headers, tt.body)
			var p apigw.Problem
			_ = json.Unmarshal([]byte(resp.Body), &p)
			if resp.StatusCode != tt.status || p.Type != tt.problemType || resp.Headers["Content-Type"] != apigw.ContentTypeProblem {
				t.Errorf("status %d %s, want %d %s", resp.StatusCode, resp.Body, tt.status, tt.problemType)
			}
		})
	}
}

func TestBadReplayRequests(t *testing.T) {
	h := &handler{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, body := range []string{
		``, `{`, `{"workflow_id":"w","bogus":1}`, `{"types":["a"]}`,
		`{"from":"2024-01-02T00:00:00Z","to":"2024-01-01T00:00:00Z"}`, `{"workflow_id":"w","types":[""]}`,
		`{"workflow_id":"w","target":{"bogus":1}}`, `{"workflow_id":"w","target":{"subscription":7}}`,
	} {
		req := events.APIGatewayV2HTTPRequest{RouteKey: "POST /replays", Body: body}
		req.RequestContext.HTTP.Method = "POST"
		resp, err := h.Handle(context.Background(), req)
		if err != nil || resp.StatusCode != 400 || resp.Headers["Content-Type"] != apigw.ContentTypeProblem {
			t.Errorf("body %q: %d %s", body, resp.StatusCode, resp.Body)
		}
	}
}

// A target member given empty is refused naming it: an empty subscription
// must not become a replay to every consumer of the bus stream.
func TestEmptyReplayTarget(t *testing.T) {
	h := &handler{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for body, field := range map[string]string{
		`{"workflow_id":"w","target":{"subscription":""}}`:              "target.subscription",
		`{"workflow_id":"w","target":{"stream":""}}`:                    "target.stream",
		`{"workflow_id":"w","target":{"subscription":"","match":true}}`: "target.subscription",
	} {
		resp := invokeReq(t, h, "POST", "POST /replays", nil, map[string]string{"content-type": "application/json"}, body)
		var p apigw.Problem
		_ = json.Unmarshal([]byte(resp.Body), &p)
		if resp.StatusCode != 400 || len(p.Errors) == 0 || p.Errors[0].Field != field {
			t.Errorf("body %s: %d %s, want 400 naming %s", body, resp.StatusCode, resp.Body, field)
		}
	}
}
