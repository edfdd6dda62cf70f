package main

import (
	"encoding/json"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/flowbus/flowbus/shared/apigw"
	"github.com/flowbus/flowbus/shared/ingest"
)

// A lone surrogate escape in an attribute would be stored as U+FFFD, so two
// different workflow ids could become one: 400 naming the field, for one
// event as for an event of a batch.
func TestLoneSurrogatesAreRefused(t *testing.T) {
	pub := &recorder{}
	h := newHandler(pub)
	req := events.APIGatewayV2HTTPRequest{Headers: map[string]string{"content-type": "application/json"}, Body: `{"type":"a","workflow_id":"\ud800"}`}
	resp := invoke(t, h, req)
	var p apigw.Problem
	if err := json.Unmarshal([]byte(resp.Body), &p); err != nil || resp.StatusCode != 400 || p.Type != apigw.TypeInvalid {
		t.Fatalf("status %d: %s", resp.StatusCode, resp.Body)
	}
	if len(p.Errors) != 1 || p.Errors[0].Field != "workflow_id" {
		t.Errorf("errors %+v, want one naming workflow_id", p.Errors)
	}

	req.Body = `[{"type":"a","workflow_id":"\udfff"},{"type":"a","workflow_id":"w","traceparent":"\ud800x"},{"type":"a","workflow_id":"\ud83d\ude00","data":{"k":"\ud800"}}]`
	resp = invoke(t, h, req)
	var got ingest.Response
	if err := json.Unmarshal([]byte(resp.Body), &got); err != nil || resp.StatusCode != 202 {
		t.Fatalf("status %d: %s", resp.StatusCode, resp.Body)
	}
	var fields []string
	for _, e := range got.Entries {
		for _, f := range e.Errors {
			fields = append(fields, f.Field)
		}
	}
	if len(fields) != 2 || fields[0] != "workflow_id" || fields[1] != "traceparent" {
		t.Errorf("refused fields %v, want workflow_id and traceparent", fields)
	}
	if len(pub.got) != 1 || pub.got[0].WorkflowID != "\U0001F600" || string(pub.got[0].Data) != `{"k":"\ud800"}` {
		t.Errorf("published %d events, want the third with its data as sent", len(pub.got))
	}
}
