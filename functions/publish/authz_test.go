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
	"github.com/flowbus/flowbus/shared/authz"
	"github.com/flowbus/flowbus/shared/event"
	"github.com/flowbus/flowbus/shared/ingest"
	"github.com/flowbus/flowbus/shared/schema"
)

type entries []authz.Entry

func (e entries) List(context.Context) ([]authz.Entry, error) { return e, nil }

// A caller publishes only its granted sources and workflows; a request with
// one event outside them publishes nothing.
func TestPublishAuthorization(t *testing.T) {
	pol := entries{{Principal: "sub:alice", Grants: []authz.Grant{
		{Actions: []authz.Action{authz.Publish}, Sources: []string{"orders"}, Workflows: []string{"order-*"}}}}}
	rec := &recorder{}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	h := lambda.NewHandler((&handler{svc: ingest.New(rec, 500, event.DefaultSource, schema.NewRegistry(schema.AcceptUnknown)),
		maxBody: 1 << 20, log: log, authz: authz.NewAuthorizer(nil, pol, log)}).Handle)
	req := func(sub, body string) events.APIGatewayV2HTTPRequest {
		r := events.APIGatewayV2HTTPRequest{RouteKey: "POST /events", Body: body, Headers: map[string]string{"content-type": "application/json"}}
		r.RequestContext.HTTP.Method = "POST"
		if sub != "" {
			r.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
				JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: map[string]string{"sub": sub}}}
		}
		return r
	}
	ok := `{"type":"t","workflow_id":"order-1","source":"orders"}`
	tests := []struct {
		name, sub, body string
		status          int
		problem         string
	}{
		{"no caller", "", "[" + ok + "]", 401, apigw.TypeUnauthorized},
		{"a caller without grants", "bob", "[" + ok + "]", 403, apigw.TypeForbidden},
		{"one event of another source", "alice", "[" + ok + `,{"type":"t","workflow_id":"order-2","source":"billing"}]`, 403, apigw.TypeForbidden},
		{"one event of another workflow", "alice", "[" + ok + `,{"type":"t","workflow_id":"invoice-2","source":"orders"}]`, 403, apigw.TypeForbidden},
		{"the default source is not granted", "alice", `{"type":"t","workflow_id":"order-3"}`, 403, apigw.TypeForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := invoke(t, h, req(tt.sub, tt.body))
			var p apigw.Problem
			_ = json.Unmarshal([]byte(resp.Body), &p)
			if resp.StatusCode != tt.status || p.Type != tt.problem {
				t.Errorf("got %d %s, want %d %s", resp.StatusCode, resp.Body, tt.status, tt.problem)
			}
			if len(rec.got) != 0 {
				t.Errorf("%d events published; want none", len(rec.got))
			}
		})
	}
	if resp := invoke(t, h, req("alice", "["+ok+"]")); resp.StatusCode != 202 || len(rec.got) != 1 {
		t.Errorf("granted: got %d %s and %d events published, want 202 and 1", resp.StatusCode, resp.Body, len(rec.got))
	}
}
