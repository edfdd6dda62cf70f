package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/flowbus/flowbus/shared/apigw"
	"github.com/flowbus/flowbus/shared/authz"
	"github.com/flowbus/flowbus/shared/metrics"
	"github.com/flowbus/flowbus/shared/stats"
)

// routes are the HTTP API routes this function serves; template.yaml must
// route exactly these here (checked by infra/template's tests).
var routes = []string{"GET /metrics"}

// staleAfter is when GET computes a fresh snapshot instead of serving the
// saved one (the schedule runs every minute).
const staleAfter = 2 * time.Minute

type handler struct {
	snapshots *stats.Snapshots
	log       *slog.Logger
	authz     *authz.Authorizer // nil in tests that are not about authorization
}

// Invoke takes the scheduled event (compute and save a snapshot) or an HTTP
// API request (serve it).
func (h *handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	var probe struct {
		Source     string `json:"source"`
		DetailType string `json:"detail-type"`
	}
	if json.Unmarshal(payload, &probe) == nil && probe.Source == "aws.events" {
		snap, err := h.snapshots.Compute(ctx, time.Now())
		if err != nil {
			return nil, err // the schedule retries
		}
		for _, u := range snap.Unavailable {
			h.log.WarnContext(ctx, "part of the snapshot unavailable", "part", u.Part, "error", u.Err())
		}
		if err := h.snapshots.Save(ctx, snap); err != nil {
			return nil, err
		}
		h.log.InfoContext(ctx, "snapshot saved", "stored_15m", snap.Counts.Stored, "store_events", snap.Store.Events)
		return []byte(`{}`), nil
	}
	var req events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(payload, &req); err != nil {
		return nil, err
	}
	return json.Marshal(h.serve(ctx, req))
}

func (h *handler) serve(ctx context.Context, req events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	if p := apigw.CheckRoute(&req, routes); p != nil {
		return apigw.ProblemResponse(*p)
	}
	if m := req.RequestContext.HTTP.Method; m != "" && m != http.MethodGet {
		resp := apigw.ProblemResponse(apigw.Problem{Type: apigw.TypeMethod, Title: "Method not allowed", Status: 405, Detail: "use GET"})
		resp.Headers["Allow"] = http.MethodGet
		return resp
	}
	if p := apigw.Authorize(ctx, h.authz, &req, authz.Request{Action: authz.Metrics}); p != nil {
		return apigw.ProblemResponse(*p)
	}
	snap, err := h.snapshots.Load(ctx)
	fresh := req.QueryStringParameters["fresh"] == "true"
	if fresh || errors.Is(err, stats.ErrNoSnapshot) || (err == nil && time.Since(snap.At) > staleAfter) {
		snap, err = h.snapshots.Compute(ctx, time.Now())
		if err == nil {
			err = h.snapshots.Save(ctx, snap)
		}
	}
	for _, u := range snap.Unavailable {
		h.log.WarnContext(ctx, "part of the metrics unavailable", "part", u.Part, "error", u.Err())
	}
	if err != nil {
		h.log.ErrorContext(ctx, "metrics unavailable", "error", err)
		return apigw.ProblemResponse(apigw.Problem{Type: apigw.TypeUnavailable, Title: "Metrics unavailable", Status: 503, Detail: "try again"})
	}
	accept := apigw.Header(&req, "accept")
	if strings.Contains(accept, "text/plain") || strings.Contains(accept, "openmetrics") {
		var b bytes.Buffer
		if err := metrics.WritePrometheus(&b, snap.Samples()); err != nil {
			h.log.ErrorContext(ctx, "prometheus encoding", "error", err)
			return apigw.ProblemResponse(apigw.Problem{Type: apigw.TypeInternal, Title: "Internal error", Status: 500})
		}
		return events.APIGatewayV2HTTPResponse{StatusCode: 200, Headers: map[string]string{"Content-Type": "text/plain; version=0.0.4"}, Body: b.String()}
	}
	return apigw.JSON(200, snap)
}
