package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/flowbus/flowbus/shared/event"
	"github.com/flowbus/flowbus/shared/testenv"
	"github.com/flowbus/flowbus/shared/webhook"
)

func TestReceiver(t *testing.T) {
	secret, _ := webhook.GenerateSecret()
	other, _ := webhook.GenerateSecret()
	var out testenv.SyncBuffer
	srv := httptest.NewServer(NewHandler(secret, &out, time.Now))
	defer srv.Close()
	c := webhook.New(webhook.Options{Policy: webhook.Policy{AllowPlainLoopback: true}})
	defer c.CloseIdleConnections()

	e := event.Event{
		ID: "evt-1", Source: "/flowbus", Type: "workflow.started", WorkflowID: "123",
		Time: time.Now(), Data: []byte(`{"step":"start"}`), Sequence: 7,
	}
	cases := []struct {
		name   string
		target webhook.Target
		status int
		want   string
	}{
		{"binary", webhook.Target{URL: srv.URL + "/hook", Secrets: []webhook.Secret{secret}}, 204,
			`id=evt-1 type=workflow.started workflow=123 seq=7 data={"step":"start"}`},
		{"structured with handshake", webhook.Target{URL: srv.URL + "/hook", Mode: webhook.Structured, Secrets: []webhook.Secret{secret}, Handshake: true}, 204,
			`id=evt-1 type=workflow.started workflow=123 seq=7 data={"step":"start"}`},
		{"rotation", webhook.Target{URL: srv.URL + "/hook", Secrets: []webhook.Secret{other, secret}}, 204,
			`id=evt-1 type=workflow.started`},
		{"wrong secret", webhook.Target{URL: srv.URL + "/hook", Secrets: []webhook.Secret{other}}, 401, "REJECTED evt-1: no webhook-signature matches"},
		{"unsigned", webhook.Target{URL: srv.URL + "/hook"}, 401, "REJECTED evt-1"},
	}
	for _, cs := range cases {
		before := len(out.String())
		res := c.Deliver(context.Background(), cs.target, &e)
		if res.Status != cs.status {
			t.Errorf("%s: status %d (%v), want %d", cs.name, res.Status, res.Err, cs.status)
		}
		if cs.status == 401 && res.Outcome != webhook.DeadLetter {
			t.Errorf("%s: outcome %v, want dead-letter", cs.name, res.Outcome)
		}
		if got := out.String()[before:]; !strings.Contains(got, cs.want) {
			t.Errorf("%s: printed %q, want it to contain %q", cs.name, got, cs.want)
		}
	}

	// A body changed after signing is refused.
	req, _ := webhook.NewRequest(context.Background(), webhook.Target{URL: srv.URL, Secrets: []webhook.Secret{secret}}, &e, time.Now())
	tampered, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(`{"step":"evil"}`))
	tampered.Header = req.Header
	resp, err := http.DefaultClient.Do(tampered)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("tampered body: %d, want 401", resp.StatusCode)
	}
	resp, err = http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d, want 405", resp.StatusCode)
	}
}
