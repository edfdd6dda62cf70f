package webhook

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Headers of the CloudEvents webhook abuse-protection handshake.
const (
	HeaderRequestOrigin = "WebHook-Request-Origin"
	HeaderAllowedOrigin = "WebHook-Allowed-Origin"
)

// consented reports whether endpoint's consent is remembered and fresh.
func (c *Client) consented(endpoint string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	exp, ok := c.handshakes[endpoint]
	return ok && c.opts.Now().Before(exp)
}

// handshake asks t's endpoint for consent: OPTIONS with
// WebHook-Request-Origin, answered 200 with WebHook-Allowed-Origin naming
// the origin or "*". Consent is remembered for HandshakeTTL; a refusal is
// not, so an endpoint that is fixed is accepted on the next attempt. The
// Result is Delivered on consent; otherwise it is classified as a delivery
// would be (429 and 5xx retried, 410 disables), with any other answer a
// DeadLetter carrying ErrHandshakeRefused.
func (c *Client) handshake(ctx context.Context, hc *http.Client, t Target) Result {
	ctx, cancel := context.WithTimeout(ctx, t.RequestTimeout())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodOptions, t.URL, nil)
	if err != nil {
		return Result{Outcome: DeadLetter, Err: err}
	}
	req.Header.Set(HeaderRequestOrigin, c.opts.Origin)
	req.Header.Set("User-Agent", c.opts.UserAgent)
	start := time.Now()
	resp, err := hc.Do(req)
	if err != nil {
		return Result{Outcome: transportOutcome(err), Err: err, Latency: time.Since(start)}
	}
	allowed := resp.Header.Values(HeaderAllowedOrigin)
	if resp.StatusCode == http.StatusOK && originAllowed(allowed, c.opts.Origin) {
		_, _ = io.CopyN(io.Discard, resp.Body, drainLimit)
		resp.Body.Close()
		c.mu.Lock()
		c.handshakes[t.URL] = c.opts.Now().Add(c.opts.HandshakeTTL)
		c.mu.Unlock()
		return Result{Outcome: Delivered, Status: resp.StatusCode, Latency: time.Since(start)}
	}
	r := c.classify(resp)
	r.Latency = time.Since(start)
	if r.Outcome == Delivered || r.Outcome == DeadLetter {
		r.Outcome = DeadLetter
		if r.Err != nil {
			r.Err = fmt.Errorf("%w: %w", ErrHandshakeRefused, r.Err)
		} else {
			r.Err = ErrHandshakeRefused
		}
	}
	return r
}

func originAllowed(values []string, origin string) bool {
	for _, v := range values {
		for _, o := range strings.Split(v, ",") {
			if o = strings.TrimSpace(o); o == "*" || strings.EqualFold(o, origin) {
				return true
			}
		}
	}
	return false
}
