package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/flowbus/flowbus/shared/apigw"
	"github.com/flowbus/flowbus/shared/authz"
	"github.com/flowbus/flowbus/shared/event"
)

// policyRoute serves the admin's policy routes: GET /policies (every
// entry, and the bootstrap admins), PUT /policies (one principal's entry,
// replacing it), DELETE /policies?principal=. A change applies within
// authz.CacheFor in every function.
func (h *handler) policyRoute(ctx context.Context, r string, req *events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	if h.policies == nil {
		return apigw.ProblemResponse(apigw.Problem{Type: apigw.TypeNotFound, Title: "No such route", Status: 404})
	}
	switch r {
	case "GET /policies":
		entries, err := h.policies.List(ctx)
		if err != nil {
			return h.policyUnavailable(ctx, err)
		}
		sort.Slice(entries, func(i, j int) bool { return entries[i].Principal < entries[j].Principal })
		var admins []string
		if h.authz != nil {
			if p, err := h.authz.Policy(ctx); err == nil {
				admins = p.Admins
			}
		}
		return apigw.JSON(http.StatusOK, struct {
			Admins  []string      `json:"bootstrap_admins"`
			Entries []authz.Entry `json:"entries"`
			CacheS  int           `json:"cache_seconds"`
		}{append([]string{}, admins...), append([]authz.Entry{}, entries...), int(authz.CacheFor / time.Second)})
	case "PUT /policies":
		b, p := body(req)
		if p != nil {
			return apigw.ProblemResponse(*p)
		}
		var e authz.Entry
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			return apigw.ProblemResponse(apigw.Problem{Type: apigw.TypeMalformed, Title: "Malformed policy entry", Status: 400,
				Detail: "send {\"principal\": \"sub:alice\", \"grants\": [{\"actions\": [\"publish\"], \"sources\": [...], \"workflows\": [...]}]}"})
		}
		if fields := e.Validate(); len(fields) > 0 {
			return apigw.ProblemResponse(apigw.Problem{Type: apigw.TypeInvalidRequest, Title: "Invalid policy entry", Status: 400, Errors: fields})
		}
		e.Updated = time.Now().UTC().Truncate(time.Millisecond)
		if err := h.policies.Put(ctx, e); err != nil {
			return h.policyUnavailable(ctx, err)
		}
		h.forget()
		h.log.InfoContext(ctx, "policy entry written", "caller", authz.CallerOf(req.RequestContext).ID, "principal", e.Principal, "grants", len(e.Grants))
		return apigw.JSON(http.StatusOK, e)
	}
	principal := req.QueryStringParameters["principal"]
	if principal == "" {
		return apigw.ProblemResponse(apigw.Problem{Type: apigw.TypeInvalidRequest, Title: "Invalid query", Status: 400,
			Errors: []event.FieldError{{Field: "principal", Reason: "is required"}}})
	}
	err := h.policies.Delete(ctx, principal)
	if errors.Is(err, authz.ErrNotFound) {
		return apigw.ProblemResponse(apigw.Problem{Type: apigw.TypeNotFound, Title: "No such policy entry", Status: 404})
	}
	if err != nil {
		return h.policyUnavailable(ctx, err)
	}
	h.forget()
	h.log.InfoContext(ctx, "policy entry deleted", "caller", authz.CallerOf(req.RequestContext).ID, "principal", principal)
	return events.APIGatewayV2HTTPResponse{StatusCode: http.StatusNoContent}
}

func (h *handler) policyUnavailable(ctx context.Context, err error) events.APIGatewayV2HTTPResponse {
	h.log.ErrorContext(ctx, "policy store failed", "error", err)
	return apigw.ProblemResponse(apigw.Problem{Type: apigw.TypeUnavailable, Title: "Policy store unavailable", Status: 503, Detail: "try again"})
}

// forget makes this environment apply a policy change at once.
func (h *handler) forget() {
	if h.authz != nil {
		h.authz.Forget()
	}
}
