package ratelimit

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// clock is a time the test moves by hand: no sleeping, nothing timing-fragile.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func limiter(rate float64, burst int) (*Limiter, *clock) {
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	l := New(rate, burst)
	l.now = c.now
	return l, c
}

func TestBucket(t *testing.T) {
	l, c := limiter(2, 3) // 2 per second, bursts of 3
	for i := range 3 {
		if ok, _ := l.Allow("a"); !ok {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	ok, wait := l.Allow("a")
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("4th at once = %v, wait %s; want refused, 500ms", ok, wait)
	}
	if ok, _ := l.Allow("b"); !ok {
		t.Error("another caller was refused: buckets are per key")
	}
	c.t = c.t.Add(500 * time.Millisecond)
	if ok, _ := l.Allow("a"); !ok {
		t.Error("refused after the wait it was told")
	}
	if ok, _ := l.Allow("a"); ok {
		t.Error("a second token appeared after half a second at 2/s")
	}
	c.t = c.t.Add(time.Hour)
	for i := range 3 {
		if ok, _ := l.Allow("a"); !ok {
			t.Fatalf("after an idle hour, request %d refused: the bucket holds Burst at most", i+1)
		}
	}
	if ok, _ := l.Allow("a"); ok {
		t.Error("more than Burst after an idle hour")
	}
	var off *Limiter
	if ok, _ := off.Allow("a"); !ok {
		t.Error("a nil Limiter refused")
	}
	if ok, _ := New(0, 1).Allow("a"); !ok {
		t.Error("rate 0 refused")
	}
}

func TestEvictionKeepsMemoryBounded(t *testing.T) {
	l, c := limiter(1, 1)
	for i := range MaxKeys + 10 {
		l.Allow(string(rune(i)))
		c.t = c.t.Add(time.Millisecond)
	}
	if n := len(l.buckets); n > MaxKeys {
		t.Errorf("%d buckets kept, want at most %d", n, MaxKeys)
	}
}

func TestWrap(t *testing.T) {
	l, _ := limiter(1, 1)
	calls := 0
	h := l.Wrap(func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		calls++
		return events.APIGatewayV2HTTPResponse{StatusCode: 202}, nil
	})
	alice := events.APIGatewayV2HTTPRequest{}
	alice.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
		JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: map[string]string{"sub": "alice"}},
	}
	alice.RequestContext.HTTP.SourceIP = "203.0.113.9"
	anon := events.APIGatewayV2HTTPRequest{}
	anon.RequestContext.HTTP.SourceIP = "203.0.113.9"
	if got := Key(&alice); got != "sub:alice" {
		t.Errorf("Key = %q, want sub:alice", got)
	}
	if got := Key(&anon); got != "ip:203.0.113.9" {
		t.Errorf("Key = %q, want ip:203.0.113.9", got)
	}
	if r, _ := h(context.Background(), alice); r.StatusCode != 202 {
		t.Fatalf("first: %d", r.StatusCode)
	}
	r, err := h(context.Background(), alice)
	if err != nil || r.StatusCode != 429 || r.Headers["Retry-After"] != "1" || r.Headers["Content-Type"] != "application/problem+json" {
		t.Fatalf("second: %d %v %v, want 429 with Retry-After 1, problem+json", r.StatusCode, r.Headers, err)
	}
	var p struct {
		Type, Detail  string
		Status, Limit int
	}
	if err := json.Unmarshal([]byte(r.Body), &p); err != nil || p.Status != 429 || p.Limit != 1 || p.Type != TypeTooMany {
		t.Errorf("problem %s (%v)", r.Body, err)
	}
	// The same address without a token is another caller.
	if r, _ := h(context.Background(), anon); r.StatusCode != 202 {
		t.Errorf("anonymous caller from the same address: %d, want 202", r.StatusCode)
	}
	if calls != 2 {
		t.Errorf("handler called %d times, want 2", calls)
	}
}
