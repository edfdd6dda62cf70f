package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/flowbus/flowbus/shared/subscription"
)

// TestTargetHostResolvedAtCreation: a webhook URL whose host name resolves
// to a refused address (here the metadata service) is a 400 on target.url
// naming the address and the reason, on create and on replace; one that
// resolves to a public address, or not at all, is taken.
func TestTargetHostResolvedAtCreation(t *testing.T) {
	h, _ := newHandler()
	h.lookup = func(_ context.Context, host string) ([]netip.Addr, error) {
		switch host {
		case "metadata.example":
			return []netip.Addr{netip.MustParseAddr("169.254.169.254")}, nil
		case "hooks.example":
			return []netip.Addr{netip.MustParseAddr("93.184.216.34")}, nil
		}
		return nil, errors.New("no such host")
	}
	for _, c := range []struct {
		sample, body string
		status       int
	}{
		{"subscriptions-create.json", `{"name":"a","pattern":{},"target":{"type":"http","url":"https://metadata.example/latest/meta-data"}}`, 400},
		{"subscriptions-create.json", `{"name":"orchestrator","pattern":{},"target":{"type":"http","url":"https://hooks.example/n8n"}}`, 201},
		{"subscriptions-create.json", `{"name":"c","pattern":{},"target":{"type":"http","url":"https://nowhere.example/n8n"}}`, 201},
		{"subscriptions-put.json", `{"pattern":{},"target":{"type":"http","url":"https://metadata.example/"}}`, 400},
	} {
		a := invoke(t, h, withBody(t, c.sample, c.body, "application/json"))
		if a.StatusCode != c.status {
			t.Errorf("%s %s: got %d %s, want %d", c.sample, c.body, a.StatusCode, a.Body, c.status)
			continue
		}
		if c.status != 400 {
			continue
		}
		p := problemOf(t, a)
		if len(p.Errors) != 1 || p.Errors[0].Field != "target.url" || !strings.Contains(p.Errors[0].Reason, "169.254.169.254") || !strings.Contains(p.Errors[0].Reason, "link-local") {
			t.Errorf("%s: got %s, want target.url naming 169.254.169.254, link-local", c.sample, a.Body)
		}
	}
}

// TestSubscriptionLimitAnswer: the store's *LimitError is a 409 naming the
// limit and the setting that raises it.
func TestSubscriptionLimitAnswer(t *testing.T) {
	h, st := newHandler()
	st.fail = fmt.Errorf("create subscription x: %w", &subscription.LimitError{Limit: 3})
	a := invoke(t, h, withBody(t, "subscriptions-create.json", `{"name":"x","pattern":{},"target":{"type":"lambda","function":"f"}}`, "application/json"))
	if a.StatusCode != 409 || !strings.Contains(a.Body, "FLOWBUS_MAX_SUBSCRIPTIONS") || !strings.Contains(a.Body, `"limit":3`) {
		t.Errorf("got %d %s, want 409 naming the limit 3", a.StatusCode, a.Body)
	}
}

// TestSubscriptionLimitPerCallerAnswer: a caller's limit is a 409 naming the
// caller, the limit and the setting; the owner is the caller, not the body.
func TestSubscriptionLimitPerCallerAnswer(t *testing.T) {
	h, st := newHandler()
	st.fail = fmt.Errorf("create subscription x: %w", &subscription.LimitError{Limit: 2, Owner: "sub:alice"})
	a := invoke(t, h, withBody(t, "subscriptions-create.json", `{"name":"x","pattern":{},"target":{"type":"lambda","function":"f"}}`, "application/json"))
	if a.StatusCode != 409 || !strings.Contains(a.Body, "FLOWBUS_MAX_SUBSCRIPTIONS_PER_CALLER") || !strings.Contains(a.Body, "sub:alice") || !strings.Contains(a.Body, `"limit":2`) {
		t.Errorf("got %d %s, want 409 naming alice and the limit 2", a.StatusCode, a.Body)
	}
	st.fail = nil
	a = invoke(t, h, withBody(t, "subscriptions-create.json", `{"name":"y","owner":"sub:mallory","pattern":{},"target":{"type":"lambda","function":"f"}}`, "application/json"))
	if a.StatusCode != 201 || strings.Contains(a.Body, "mallory") {
		t.Errorf("got %d %s, want 201 with the caller as owner, not the body's", a.StatusCode, a.Body)
	}
}
