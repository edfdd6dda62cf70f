package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/flowbus/flowbus/shared/apigw"
	"github.com/flowbus/flowbus/shared/authz"
	"github.com/flowbus/flowbus/shared/event"
	"github.com/flowbus/flowbus/shared/eventstore"
	"github.com/flowbus/flowbus/shared/metrics"
	"github.com/flowbus/flowbus/shared/replay"
	"github.com/flowbus/flowbus/shared/schema"
	"github.com/flowbus/flowbus/shared/subscription"
)

// routes are the HTTP API routes this function serves; template.yaml must
// route exactly these here (checked by infra/template's tests).
var routes = []string{
	"GET /workflows/{workflow_id}/events",
	"POST /replays",
	"GET /replays/{replay_id}",
	"DELETE /replays/{replay_id}",
}

// Continuer starts another invocation to go on with a replay.
type Continuer interface {
	Continue(ctx context.Context, id string) error
}

// Subscriptions finds a subscription by name (subscription.Store.Get).
type Subscriptions interface {
	Get(ctx context.Context, name string) (subscription.Subscription, error)
}

type handler struct {
	store     eventstore.Store
	subs      Subscriptions // nil: no replays to a subscription (no delivery queue)
	schemas   *schema.Registry
	records   *replay.Records
	runner    *replay.Runner
	continuer Continuer
	log       *slog.Logger
	metrics   *metrics.Recorder // nil in tests that do not look at figures
	authz     *authz.Authorizer // nil in tests that are not about authorization
}

// replayed counts the events a run put back on a stream.
func (h *handler) replayed(before, after *replay.Record) {
	if h.metrics == nil || after == nil {
		return
	}
	n := after.Events
	if before != nil {
		n -= before.Events
	}
	h.metrics.Count("events_replayed", nil, float64(n))
}

// Handle serves the HTTP API routes.
func (h *handler) Handle(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	if p := apigw.CheckRoute(&req, routes); p != nil {
		return apigw.ProblemResponse(*p), nil
	}
	method := req.RequestContext.HTTP.Method
	switch {
	case req.PathParameters["replay_id"] != "" && method == http.MethodGet:
		return h.getReplay(ctx, &req, req.PathParameters["replay_id"]), nil
	case req.PathParameters["replay_id"] != "" && method == http.MethodDelete:
		return h.cancelReplay(ctx, &req, req.PathParameters["replay_id"]), nil
	case strings.HasSuffix(req.RouteKey, "/replays") || (req.RouteKey == "" && method == http.MethodPost):
		if method != http.MethodPost {
			return methodNotAllowed(http.MethodPost), nil
		}
		return h.startReplay(ctx, req), nil
	case method != "" && method != http.MethodGet:
		return methodNotAllowed(http.MethodGet), nil
	}
	return h.readEvents(ctx, req), nil
}

func methodNotAllowed(allow string) events.APIGatewayV2HTTPResponse {
	resp := apigw.ProblemResponse(apigw.Problem{Type: apigw.TypeMethod, Title: "Method not allowed", Status: 405, Detail: "use " + allow})
	resp.Headers["Allow"] = allow
	return resp
}

// readEvents serves GET /workflows/{workflow_id}/events.
func (h *handler) readEvents(ctx context.Context, req events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	wf := req.PathParameters["workflow_id"]
	q, fields := parseQuery(req)
	upcast := false
	switch v := req.QueryStringParameters["upcast"]; v {
	case "", "none":
	case "latest":
		upcast = true
	default:
		fields = append(fields, event.FieldError{Field: "upcast", Reason: "must be latest or none"})
	}
	if wf == "" {
		fields = append(fields, event.FieldError{Field: "workflow_id", Reason: "is required"})
	} else if len(wf) > event.MaxWorkflowIDBytes {
		fields = append(fields, event.FieldError{Field: "workflow_id", Reason: "is longer than the limit", Limit: event.MaxWorkflowIDBytes})
	}
	if len(fields) > 0 {
		return apigw.ProblemResponse(apigw.Problem{Type: apigw.TypeInvalid, Title: "Invalid query", Status: 400, Errors: fields})
	}
	if p := apigw.Authorize(ctx, h.authz, &req, authz.Request{Action: authz.Read, Workflow: wf, Types: q.Types}); p != nil {
		return apigw.ProblemResponse(*p)
	}
	page, err := h.store.Read(ctx, wf, q)
	if err != nil {
		h.log.ErrorContext(ctx, "read failed", "workflow_id", wf, "error", err)
		return unavailable()
	}
	if upcast {
		for i := range page.Events {
			if err := h.schemas.Upcast(&page.Events[i]); err != nil {
				return apigw.ProblemResponse(apigw.Problem{Type: apigw.TypeUpcast, Title: "Cannot upcast", Status: 422,
					Detail: fmt.Sprintf("event %d: %v", page.Events[i].Sequence, err)})
			}
		}
	}
	batch := strings.Contains(apigw.Header(&req, "accept"), string(apigw.MediaCloudEventsBatch))
	body := encodePage(page, batch)
	ct := "application/json"
	if batch {
		ct = string(apigw.MediaCloudEventsBatch)
	}
	headers := map[string]string{"Content-Type": ct}
	if page.Next != 0 {
		headers["Link"] = "<?after=" + cursor(page.Next) + ">; rel=\"next\""
	}
	return events.APIGatewayV2HTTPResponse{StatusCode: 200, Headers: headers, Body: string(body)}
}

func unavailable() events.APIGatewayV2HTTPResponse {
	return apigw.ProblemResponse(apigw.Problem{Type: apigw.TypeUnavailable, Title: "Event store unavailable", Status: 503, Detail: "try again"})
}

// encodePage writes {"events":[...],"next":…} or, for a CloudEvents batch, the
// bare array.
func encodePage(page eventstore.Page, batch bool) []byte {
	var out []byte
	if !batch {
		out = append(out, `{"events":`...)
	}
	out = append(out, '[')
	for i := range page.Events {
		if i > 0 {
			out = append(out, ',')
		}
		out = event.Append(out, &page.Events[i], false)
	}
	out = append(out, ']')
	if batch {
		return out
	}
	out = append(out, `,"next":`...)
	if page.Next == 0 {
		out = append(out, "null"...)
	} else {
		out = append(out, '"')
		out = append(out, cursor(page.Next)...)
		out = append(out, '"')
	}
	return append(out, '}')
}

// cursor makes an opaque cursor from a position; readers must not rely on
// its form.
func cursor(after uint64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("v1:" + strconv.FormatUint(after, 10)))
}

func parseCursor(s string) (uint64, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return 0, false
	}
	n, ok := strings.CutPrefix(string(raw), "v1:")
	if !ok {
		return 0, false
	}
	after, err := strconv.ParseUint(n, 10, 64)
	return after, err == nil
}

// parseQuery reads after, limit, type (repeatable, "workflow.*" for a
// prefix), from and to. API Gateway joins repeated parameters with commas.
func parseQuery(req events.APIGatewayV2HTTPRequest) (eventstore.Query, []event.FieldError) {
	var q eventstore.Query
	var fields []event.FieldError
	p := req.QueryStringParameters
	if v, ok := p["after"]; ok {
		after, valid := parseCursor(v)
		if !valid {
			fields = append(fields, event.FieldError{Field: "after", Reason: "is not a cursor this API gave out"})
		}
		q.After = after
	}
	if v, ok := p["limit"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > eventstore.MaxLimit {
			fields = append(fields, event.FieldError{Field: "limit", Reason: "must be an integer from 1 to the limit", Limit: eventstore.MaxLimit})
		}
		q.Limit = n
	}
	if v, ok := p["type"]; ok {
		for _, t := range strings.Split(v, ",") {
			if t == "" || len(t) > event.MaxTypeBytes || strings.Count(t, "*") > 1 || (strings.Contains(t, "*") && !strings.HasSuffix(t, "*")) {
				fields = append(fields, event.FieldError{Field: "type", Reason: "must be a type, or a prefix ending in *", Limit: event.MaxTypeBytes})
				continue
			}
			q.Types = append(q.Types, t)
		}
	}
	for _, f := range []struct {
		name string
		dst  *time.Time
	}{{"from", &q.From}, {"to", &q.To}} {
		if v, ok := p[f.name]; ok {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				fields = append(fields, event.FieldError{Field: f.name, Reason: "must be an RFC 3339 time such as 2024-01-01T00:00:00Z"})
			}
			*f.dst = t
		}
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
		fields = append(fields, event.FieldError{Field: "to", Reason: "must be after from"})
	}
	return q, fields
}
