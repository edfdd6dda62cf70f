package ratelimit

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/flowbus/flowbus/shared/apigw"
	"github.com/flowbus/flowbus/shared/authz"
)

// TypeTooMany is the problem type of a 429.
const TypeTooMany = "https://flowbus.dev/problems/too-many-requests"

// MaxKeys bounds the buckets kept: past it, buckets that are full again
// (idle long enough to have refilled) are dropped, and if none is, all are.
const MaxKeys = 10000

// Limiter is a token bucket per key: Burst tokens at most, refilled at Rate
// per second. The zero Rate (or a nil *Limiter) allows everything.
type Limiter struct {
	Rate  float64
	Burst int
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// New returns a Limiter of rate requests per second per key, bursts of
// burst (at least 1).
func New(rate float64, burst int) *Limiter {
	return &Limiter{Rate: rate, Burst: max(burst, 1), now: time.Now, buckets: map[string]*bucket{}}
}

// Allow takes a token from key's bucket. When there is none it says how
// long until there is one.
func (l *Limiter) Allow(key string) (bool, time.Duration) {
	if l == nil || l.Rate <= 0 {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= MaxKeys {
			l.evict(now)
		}
		b = &bucket{tokens: float64(l.Burst), at: now}
		l.buckets[key] = b
	}
	b.tokens = math.Min(float64(l.Burst), b.tokens+now.Sub(b.at).Seconds()*l.Rate)
	b.at = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) / l.Rate * float64(time.Second))
	return false, wait
}

// evict drops the buckets that have refilled (their callers lose nothing),
// or every bucket when none has.
func (l *Limiter) evict(now time.Time) {
	full := time.Duration(float64(l.Burst) / l.Rate * float64(time.Second))
	for k, b := range l.buckets {
		if now.Sub(b.at) >= full {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) >= MaxKeys {
		clear(l.buckets)
	}
}

// Handler is an HTTP API (payload format 2.0) handler.
type Handler func(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)

// Key is the bucket a request counts against: its caller as the
// authorizer identified it (authz.CallerOf: "sub:alice", an IAM ARN), or
// for an anonymous request its source address.
func Key(req *events.APIGatewayV2HTTPRequest) string {
	if c := authz.CallerOf(req.RequestContext); !c.Anonymous() {
		return c.ID
	}
	return "ip:" + req.RequestContext.HTTP.SourceIP
}

// Wrap answers 429 problem+json with Retry-After (whole seconds, at least
// 1) to a caller past its rate, and hands every other request to next.
func (l *Limiter) Wrap(next Handler) Handler {
	return func(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		ok, wait := l.Allow(Key(&req))
		if ok {
			return next(ctx, req)
		}
		secs := max(int(math.Ceil(wait.Seconds())), 1)
		resp := apigw.ProblemResponse(apigw.Problem{
			Type: TypeTooMany, Title: "Too many requests", Status: http.StatusTooManyRequests,
			Detail: fmt.Sprintf("at most %g requests per second per caller, bursts of %d (FLOWBUS_RATE_PER_CALLER, FLOWBUS_RATE_BURST; counted per function instance); retry after %d s",
				l.Rate, l.Burst, secs),
			Limit: l.Burst,
		})
		resp.Headers["Retry-After"] = strconv.Itoa(secs)
		return resp, nil
	}
}
