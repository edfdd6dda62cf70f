package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/flowbus/flowbus/shared/stats"
	"github.com/flowbus/flowbus/shared/testenv"
)

func get(t *testing.T, h *handler, accept string) events.APIGatewayV2HTTPResponse {
	t.Helper()
	req := events.APIGatewayV2HTTPRequest{RouteKey: "GET /metrics", Headers: map[string]string{"accept": accept},
		QueryStringParameters: map[string]string{"fresh": "true"}}
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

// With Kinesis out of reach GET /metrics still answers what DynamoDB holds,
// and names the part it could not compute.
func TestMetricsWithoutKinesis(t *testing.T) {
	cfg := testenv.AWS(t)
	db, table := testenv.Table(t, cfg)
	down := kinesis.NewFromConfig(cfg, func(o *kinesis.Options) {
		o.BaseEndpoint = aws.String("http://127.0.0.1:1") // nothing listens on port 1
		o.RetryMaxAttempts = 1
	})
	h := &handler{snapshots: &stats.Snapshots{DB: db, Kin: down, Table: table, Stream: "bus"}, log: slog.New(slog.NewTextHandler(io.Discard, nil))}

	resp := get(t, h, "application/json")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, resp.Body)
	}
	var snap stats.Snapshot
	if err := json.Unmarshal([]byte(resp.Body), &snap); err != nil {
		t.Fatal(err)
	}
	if len(snap.Unavailable) != 1 || snap.Unavailable[0].Part != stats.PartLag || snap.Unavailable[0].Reason == "" {
		t.Errorf("unavailable %+v, want the consumer lag with a reason", snap.Unavailable)
	}
	if snap.At.IsZero() || snap.Lag != nil {
		t.Errorf("snapshot %+v, want figures without lag", snap)
	}
	if strings.Contains(resp.Body, "127.0.0.1") {
		t.Errorf("answer shows internal error text: %s", resp.Body)
	}

	resp = get(t, h, "text/plain")
	if resp.StatusCode != 200 || !strings.Contains(resp.Body, `flowbus_snapshot_part_unavailable{part="consumer_lag"} 1`) {
		t.Errorf("prometheus: %d\n%s", resp.StatusCode, resp.Body)
	}
}
