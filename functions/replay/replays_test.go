package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

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
	// A time window across workflows: 202, then the worker invocation.
	status, rec = call(t, h, "POST", "POST /replays", nil, `{"from":"2024-01-01T00:00:00Z","to":"2024-01-01T00:10:00Z"}`)
	if status != 202 || rec.State != replay.Pending || len(q.ids) != 1 || q.ids[0] != rec.ID {
		t.Fatalf("window replay: %d %+v, continued %v", status, rec, q.ids)
	}
	worker, _ := json.Marshal(replay.WorkerEvent{ReplayID: rec.ID})
	inv := invoker{h: h, api: lambda.NewHandler(h.Handle).Invoke}
	if _, err := inv.Invoke(context.Background(), worker); err != nil {
		t.Fatal(err)
	}
	status, rec = call(t, h, "GET", "GET /replays/{replay_id}", map[string]string{"replay_id": rec.ID}, "")
	if status != 200 || rec.State != replay.Completed || rec.Events != 30 {
		t.Errorf("after the worker: %d %+v, want completed with 30 events", status, rec)
	}
	if n := onStream(); n != 50 {
		t.Errorf("%d events on the stream, want 50", n)
	}
	// Cancel one that has not started.
	_, pending := call(t, h, "POST", "POST /replays", nil, `{"from":"2024-01-01T00:00:00Z","to":"2024-01-02T00:00:00Z"}`)
	status, rec = call(t, h, "DELETE", "DELETE /replays/{replay_id}", map[string]string{"replay_id": pending.ID}, "")
	if status != 202 || rec.State != replay.Cancelled {
		t.Errorf("cancel: %d %+v", status, rec)
	}
	if status, _ := call(t, h, "GET", "GET /replays/{replay_id}", map[string]string{"replay_id": "nope"}, ""); status != 404 {
		t.Errorf("unknown replay: status %d, want 404", status)
	}
}

func TestBadReplayRequests(t *testing.T) {
	h := &handler{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, body := range []string{
		``, `{`, `{"workflow_id":"w","bogus":1}`, `{"types":["a"]}`,
		`{"from":"2024-01-02T00:00:00Z","to":"2024-01-01T00:00:00Z"}`, `{"workflow_id":"w","types":[""]}`,
	} {
		req := events.APIGatewayV2HTTPRequest{RouteKey: "POST /replays", Body: body}
		req.RequestContext.HTTP.Method = "POST"
		resp, err := h.Handle(context.Background(), req)
		if err != nil || resp.StatusCode != 400 || resp.Headers["Content-Type"] != apigw.ContentTypeProblem {
			t.Errorf("body %q: %d %s", body, resp.StatusCode, resp.Body)
		}
	}
}
