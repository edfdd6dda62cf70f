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
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/google/go-cmp/cmp"

	"github.com/flowbus/flowbus/shared/delivery"
	"github.com/flowbus/flowbus/shared/metrics"
	"github.com/flowbus/flowbus/shared/stats"
	"github.com/flowbus/flowbus/shared/subscription"
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

// GET /metrics carries each subscription's delivery figures, as JSON and
// in Prometheus terms.
func TestMetricsPerSubscription(t *testing.T) {
	ctx := context.Background()
	cfg := testenv.AWS(t)
	db, table := testenv.Table(t, cfg)
	store := subscription.NewStore(db, table, nil)
	for _, name := range []string{"billing", "orchestrator"} {
		sub := subscription.Subscription{Name: name, Pattern: json.RawMessage(`{"type":["x"]}`), State: subscription.Enabled,
			Target: subscription.Target{Type: subscription.TargetBus}, Delivery: subscription.DefaultDelivery()}
		if _, _, err := store.Create(ctx, sub); err != nil {
			t.Fatal(err)
		}
	}
	figures := delivery.NewRecorder(db, table)
	lat := &metrics.Sketch{}
	lat.Add(250 * time.Millisecond)
	if err := figures.Record(ctx, delivery.Figures{"orchestrator": {Matched: 5, Delivered: 4, DeadLettered: 1, Latency: lat}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	h := &handler{snapshots: &stats.Snapshots{DB: db, Table: table, Stream: "bus",
		Deliveries: delivery.StatusSource{Subscriptions: store, Figures: figures}}, log: slog.New(slog.NewTextHandler(io.Discard, nil))}

	resp := get(t, h, "application/json")
	var snap stats.Snapshot
	if err := json.Unmarshal([]byte(resp.Body), &snap); err != nil || resp.StatusCode != 200 {
		t.Fatalf("status %d, %v: %s", resp.StatusCode, err, resp.Body)
	}
	want := []stats.SubscriptionFigures{{Name: "billing"},
		{Name: "orchestrator", DeliveryStatus: stats.DeliveryStatus{Matched: 5, Delivered: 4, DeadLettered: 1}}}
	for i := range snap.Subscriptions {
		snap.Subscriptions[i].LatencyP50Ms, snap.Subscriptions[i].LatencyP99Ms = 0, 0 // checked below
	}
	if diff := cmp.Diff(want, snap.Subscriptions); diff != "" {
		t.Errorf("subscriptions (-want +got):\n%s", diff)
	}

	resp = get(t, h, "text/plain")
	for _, line := range []string{`flowbus_subscription_delivered_total{subscription="orchestrator"} 4`,
		`flowbus_subscription_dead_lettered_total{subscription="orchestrator"} 1`,
		`flowbus_subscription_matched_total{subscription="billing"} 0`} {
		if !strings.Contains(resp.Body, line) {
			t.Errorf("prometheus lacks %s:\n%s", line, resp.Body)
		}
	}
	if !strings.Contains(resp.Body, `flowbus_subscription_delivery_latency_seconds{quantile="0.5",subscription="orchestrator"} 0.2`) {
		t.Errorf("prometheus lacks the latency of orchestrator:\n%s", resp.Body)
	}
}
