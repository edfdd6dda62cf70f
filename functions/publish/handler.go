package main

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/aws/aws-lambda-go/events"

	"github.com/flowbus/flowbus/shared/apigw"
	"github.com/flowbus/flowbus/shared/authz"
	"github.com/flowbus/flowbus/shared/event"
	"github.com/flowbus/flowbus/shared/ingest"
	"github.com/flowbus/flowbus/shared/metrics"
)

// routes are the HTTP API routes this function serves; template.yaml must
// route exactly these here (checked by infra/template's tests).
var routes = []string{"POST /events"}

type handler struct {
	svc     *ingest.Service
	maxBody int
	log     *slog.Logger
	metrics *metrics.Recorder // nil in tests that do not look at figures
	authz   *authz.Authorizer // nil in tests that are not about authorization
}

// check is the request's ingest.Check: every event's source and workflow
// id must be granted to the caller, or nothing is published.
func (h *handler) check(req *events.APIGatewayV2HTTPRequest) ingest.Check {
	if h.authz == nil {
		return nil
	}
	caller := authz.CallerOf(req.RequestContext)
	return func(ctx context.Context, evs []*event.Event) error {
		rs := make([]authz.Request, len(evs))
		for i, e := range evs {
			rs[i] = authz.Request{Action: authz.Publish, Source: e.Source, Workflow: e.WorkflowID}
		}
		return h.authz.Check(ctx, caller, rs...)
	}
}

// Handle serves POST /events.
func (h *handler) Handle(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	if p := apigw.CheckRoute(&req, routes); p != nil {
		return apigw.ProblemResponse(*p), nil
	}
	if m := req.RequestContext.HTTP.Method; m != "" && m != http.MethodPost {
		resp := apigw.ProblemResponse(apigw.Problem{Type: apigw.TypeMethod, Title: "Method not allowed", Status: 405, Detail: "use POST"})
		resp.Headers["Allow"] = http.MethodPost
		return resp, nil
	}
	body, p := apigw.Body(&req, h.maxBody)
	binary := ingest.IsBinary(req.Headers)
	if p != nil && !(binary && p.Type == apigw.TypeEmpty) { // a binary-mode event may have no data
		return apigw.ProblemResponse(*p), nil
	}
	var kind ingest.Kind
	if binary {
		// CloudEvents binary mode: attributes in ce- headers, data in the body.
		var err error
		if body, err = ingest.FromBinary(req.Headers, body); err != nil {
			return apigw.ProblemResponse(apigw.PublishProblem(err)), nil
		}
		kind = ingest.CloudEvent
	} else {
		mt, p := apigw.ParseMediaType(apigw.Header(&req, "content-type"), body)
		if p != nil {
			return apigw.ProblemResponse(*p), nil
		}
		kind = apigw.PublishKind(mt)
	}
	if h.authz != nil && authz.CallerOf(req.RequestContext).Anonymous() {
		return apigw.ProblemResponse(apigw.AuthzProblem(authz.ErrAnonymous)), nil
	}
	out, err := h.svc.PublishChecked(ctx, body, kind, h.check(&req))
	if err != nil {
		p := apigw.PublishProblem(err)
		if p.Status == 500 { // not the request's fault: the policy's answer, or unreadable
			p = apigw.AuthzProblem(err)
		}
		if h.metrics != nil {
			h.metrics.Count("requests_refused", nil, 1)
		}
		h.log.InfoContext(ctx, "request refused", "status", p.Status, "problem", p.Title)
		return apigw.ProblemResponse(p), nil
	}
	h.log.InfoContext(ctx, "published", "events", len(out.Response.Entries), "failed", out.Response.FailedEntryCount)
	if h.metrics != nil {
		for typ, n := range out.PublishedByType {
			h.metrics.Count("events_published", map[string]string{"event_type": typ}, float64(n))
		}
		h.metrics.Count("events_rejected", nil, float64(out.Response.FailedEntryCount))
	}
	return apigw.PublishAnswer(out), nil
}
