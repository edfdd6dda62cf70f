package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/google/go-cmp/cmp"

	"github.com/flowbus/flowbus/shared/apigw"
	"github.com/flowbus/flowbus/shared/dynamostore"
	"github.com/flowbus/flowbus/shared/event"
	"github.com/flowbus/flowbus/shared/eventstore"
	"github.com/flowbus/flowbus/shared/schema"
	"github.com/flowbus/flowbus/shared/testenv"
)

type pageBody struct {
	Events []map[string]any `json:"events"`
	Next   *string          `json:"next"`
}

func seed(t *testing.T, wf string, n int) *dynamostore.Store {
	t.Helper()
	db, table := testenv.Table(t, testenv.AWS(t))
	store := dynamostore.New(db, table, dynamostore.Options{})
	seedInto(t, store, wf, n)
	return store
}

// seedInto stores n events of wf, one a minute from 2024-01-01, typed in
// turn workflow.started, workflow.step, task.done.
func seedInto(t *testing.T, store *dynamostore.Store, wf string, n int) {
	t.Helper()
	var in []eventstore.Incoming
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		e := &event.Event{ID: fmt.Sprintf("e%03d", i), Source: "/t", Type: []string{"workflow.started", "workflow.step", "task.done"}[i%3],
			WorkflowID: wf, Time: base.Add(time.Duration(i) * time.Minute), Data: []byte(fmt.Sprintf(`{"n":%d}`, i))}
		in = append(in, eventstore.Incoming{Event: e, Raw: event.Append(nil, e, true), Pos: eventstore.Position{Shard: "s", Seq: fmt.Sprintf("%05d", i)}})
	}
	if _, err := store.Append(context.Background(), wf, in); err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, h lambda.Handler, wf string, query map[string]string, accept string) events.APIGatewayV2HTTPResponse {
	t.Helper()
	req := events.APIGatewayV2HTTPRequest{PathParameters: map[string]string{"workflow_id": wf}, QueryStringParameters: query, Headers: map[string]string{"accept": accept}}
	req.RequestContext.HTTP.Method = "GET"
	raw, _ := json.Marshal(req)
	out, err := h.Invoke(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	var resp events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatal(err)
	}
	return resp
}

func newHandler(store eventstore.Store) lambda.Handler {
	schemas := schema.NewRegistry(schema.AcceptUnknown)
	schema.RegisterWorkflowEvents(schemas)
	return lambda.NewHandler((&handler{store: store, schemas: schemas, log: slog.New(slog.NewTextHandler(io.Discard, nil))}).Handle)
}

// queued is a Continuer that keeps the replays it was asked to go on with.
type queued struct{ ids []string }

func (q *queued) Continue(_ context.Context, id string) error {
	q.ids = append(q.ids, id)
	return nil
}

func TestPagesInOrder(t *testing.T) {
	h := newHandler(seed(t, "wf", 250))
	var seqs []string
	query := map[string]string{"limit": "100"}
	for pages := 0; ; pages++ {
		resp := get(t, h, "wf", query, "")
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, resp.Body)
		}
		var p pageBody
		if err := json.Unmarshal([]byte(resp.Body), &p); err != nil {
			t.Fatal(err)
		}
		for _, e := range p.Events {
			seqs = append(seqs, e["sequence"].(string))
			if e["data"] == nil || e["specversion"] != "1.0" {
				t.Fatalf("event %v lacks data or specversion", e)
			}
		}
		if p.Next == nil {
			if pages != 2 {
				t.Errorf("%d pages, want 3", pages+1)
			}
			break
		}
		query["after"] = *p.Next
	}
	if len(seqs) != 250 {
		t.Fatalf("read %d events, want 250", len(seqs))
	}
	for i, s := range seqs {
		if want := string(event.AppendSequence(nil, uint64(i+1))); s != want {
			t.Fatalf("event %d has sequence %s, want %s", i, s, want)
		}
	}
}

func TestFilters(t *testing.T) {
	h := newHandler(seed(t, "wf", 30))
	count := func(query map[string]string) int {
		resp := get(t, h, "wf", query, "")
		var p pageBody
		if resp.StatusCode != 200 || json.Unmarshal([]byte(resp.Body), &p) != nil {
			t.Fatalf("status %d: %s", resp.StatusCode, resp.Body)
		}
		return len(p.Events)
	}
	got := map[string]int{
		"prefix":     count(map[string]string{"type": "workflow.*"}),
		"two types":  count(map[string]string{"type": "task.done,workflow.started"}),
		"time range": count(map[string]string{"from": "2024-01-01T00:10:00Z", "to": "2024-01-01T00:20:00Z"}),
		"unknown wf": 0,
	}
	want := map[string]int{"prefix": 20, "two types": 20, "time range": 10, "unknown wf": 0}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
	resp := get(t, h, "nobody", nil, "")
	if resp.StatusCode != 200 || resp.Body != `{"events":[],"next":null}` {
		t.Errorf("unknown workflow: %d %s", resp.StatusCode, resp.Body)
	}
	resp = get(t, h, "wf", map[string]string{"limit": "5"}, string(apigw.MediaCloudEventsBatch))
	var batch []map[string]any
	if resp.Headers["Content-Type"] != string(apigw.MediaCloudEventsBatch) || json.Unmarshal([]byte(resp.Body), &batch) != nil || len(batch) != 5 {
		t.Errorf("batch answer %q %s", resp.Headers["Content-Type"], resp.Body)
	}
}

func TestBadQueries(t *testing.T) {
	h := newHandler(nil) // refused before the store is touched
	for _, tt := range []struct {
		name  string
		query map[string]string
		field string
	}{
		{"limit zero", map[string]string{"limit": "0"}, "limit"},
		{"limit too big", map[string]string{"limit": "1001"}, "limit"},
		{"limit not a number", map[string]string{"limit": "ten"}, "limit"},
		{"forged cursor", map[string]string{"after": "12"}, "after"},
		{"bad from", map[string]string{"from": "yesterday"}, "from"},
		{"inverted range", map[string]string{"from": "2024-01-02T00:00:00Z", "to": "2024-01-01T00:00:00Z"}, "to"},
		{"star inside a type", map[string]string{"type": "work*flow"}, "type"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp := get(t, h, "wf", tt.query, "")
			var p apigw.Problem
			if resp.StatusCode != 400 || json.Unmarshal([]byte(resp.Body), &p) != nil || len(p.Errors) == 0 || p.Errors[0].Field != tt.field {
				t.Errorf("got %d %s, want 400 naming %s", resp.StatusCode, resp.Body, tt.field)
			}
		})
	}
}

func TestSampleEvent(t *testing.T) {
	store := seed(t, "order-123", 60)
	raw, err := os.ReadFile("../../events/replay-workflow-events.json")
	if err != nil {
		t.Fatal(err)
	}
	out, err := newHandler(store).Invoke(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	var resp events.APIGatewayV2HTTPResponse
	var p pageBody
	if json.Unmarshal(out, &resp) != nil || json.Unmarshal([]byte(resp.Body), &p) != nil || resp.StatusCode != 200 || len(p.Events) != 40 {
		t.Errorf("sample: %d, %d events; want 200 and the 40 workflow.* events", resp.StatusCode, len(p.Events))
	}
}

func TestUpcastLatest(t *testing.T) {
	db, table := testenv.Table(t, testenv.AWS(t))
	store := dynamostore.New(db, table, dynamostore.Options{})
	evs := []*event.Event{
		{ID: "a", Source: "/t", Type: "workflow.started", WorkflowID: "wf"},                                                  // WorkflowEventV1
		{ID: "b", Source: "/t", Type: "workflow.completed", WorkflowID: "wf", Version: 2, Data: []byte(`{"status":"done"}`)}, // WorkflowEventV2
		{ID: "c", Source: "/t", Type: "workflow.failed", WorkflowID: "bad", Data: []byte(`{"why":"?"}`)},                     // v1 with data: no upcast
	}
	for i, e := range evs {
		in := []eventstore.Incoming{{Event: e, Raw: event.Append(nil, e, true), Pos: eventstore.Position{Shard: "s", Seq: fmt.Sprint(i + 1)}}}
		if _, err := store.Append(context.Background(), e.WorkflowID, in); err != nil {
			t.Fatal(err)
		}
	}
	h := newHandler(store)
	read := func(wf, upcast string) (int, []map[string]any) {
		resp := get(t, h, wf, map[string]string{"upcast": upcast}, "")
		var p pageBody
		_ = json.Unmarshal([]byte(resp.Body), &p)
		return resp.StatusCode, p.Events
	}
	status, got := read("wf", "latest")
	if status != 200 || len(got) != 2 {
		t.Fatalf("status %d, %d events", status, len(got))
	}
	for _, e := range got {
		data, _ := e["data"].(map[string]any)
		if e["dataversion"] != float64(2) || data["status"] == nil {
			t.Errorf("event %v not at version 2 with a status", e)
		}
	}
	if _, stored := read("wf", "none"); stored[0]["dataversion"] != nil || stored[0]["data"] != nil {
		t.Errorf("the store's copy changed: %v", stored[0])
	}
	if status, _ := read("bad", "latest"); status != 422 {
		t.Errorf("an event the upcaster cannot take: status %d, want 422", status)
	}
	if status, _ := read("wf", "oldest"); status != 400 {
		t.Errorf("upcast=oldest: status %d, want 400", status)
	}
}
