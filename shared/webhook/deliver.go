package webhook

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/flowbus/flowbus/shared/event"
)

// Per-request timeouts: a subscription's delivery policy chooses one up to
// MaxTimeout; none means DefaultTimeout.
const (
	DefaultTimeout = 10 * time.Second
	MaxTimeout     = 30 * time.Second
)

// MaxKeptBody is how much of a failed answer's body a Result keeps, for the
// dead-letter reason. The rest is read and discarded, up to drainLimit, so
// the connection can be used again.
const (
	MaxKeptBody = 4 << 10
	drainLimit  = 64 << 10
)

// MaxRetryAfter bounds a Retry-After the target asks for; the delivery
// engine still clamps it to the subscription's maximum event age.
const MaxRetryAfter = 24 * time.Hour

// Target is where and how one subscription's events go.
type Target struct {
	URL  string
	Mode Mode
	// Secrets sign each delivery, one v1 signature each: the current
	// secret, and during a rotation the previous one as well.
	Secrets []Secret
	// Timeout bounds each request; 0 is DefaultTimeout, more than
	// MaxTimeout is MaxTimeout.
	Timeout time.Duration
	// Handshake asks the endpoint's consent (CloudEvents webhook abuse
	// protection) before the first delivery to it.
	Handshake bool
}

// RequestTimeout is the timeout t's requests get.
func (t Target) RequestTimeout() time.Duration {
	switch {
	case t.Timeout <= 0:
		return DefaultTimeout
	case t.Timeout > MaxTimeout:
		return MaxTimeout
	}
	return t.Timeout
}

// Outcome is what the delivery engine does after an attempt.
type Outcome uint8

const (
	// Delivered: the endpoint answered 2xx.
	Delivered Outcome = iota + 1
	// Retry: 429, 5xx, a timeout or a connection error; try again after
	// the backoff or Result.RetryAfter, whichever is longer.
	Retry
	// DeadLetter: the endpoint will never take this event (another 4xx, a
	// 3xx that is not followed, a refused address or handshake): send it
	// to the dead-letter place now.
	DeadLetter
	// Disable: 410 Gone, the endpoint is gone for good; disable the
	// subscription (the event is not delivered).
	Disable
)

func (o Outcome) String() string {
	switch o {
	case Delivered:
		return "delivered"
	case Retry:
		return "retry"
	case DeadLetter:
		return "dead-letter"
	case Disable:
		return "disable"
	}
	return "unknown"
}

// Result is the answer to one attempt.
type Result struct {
	Outcome Outcome
	// Status is the HTTP status, 0 when there was none.
	Status int
	// RetryAfter is the delay the endpoint asked for (Retry-After in
	// seconds or as an HTTP date), 0 when it asked none.
	RetryAfter time.Duration
	// Body is the first MaxKeptBody bytes of the answer when it was not
	// delivered.
	Body []byte
	// Err says why the event was not delivered: a *StatusError for an HTTP
	// answer, otherwise the transport, guard or handshake error.
	Err error
	// Latency is from sending the request to reading the answer.
	Latency time.Duration
}

// StatusError is an HTTP answer other than 2xx.
type StatusError struct {
	Status   int
	Location string // for a 3xx, where it pointed (never followed)
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("endpoint answered %d %s", e.Status, http.StatusText(e.Status))
	if e.Location != "" {
		s += " to " + e.Location + " (redirects are not followed)"
	}
	return s
}

// Errors a Result may carry besides *StatusError and transport errors.
var (
	ErrPlainHTTP        = errors.New("plain http:// targets are allowed to loopback only, in the local runtime")
	ErrHandshakeRefused = errors.New("endpoint did not consent in the webhook handshake")
	ErrUnsupportedURL   = errors.New("target URL is not an absolute http(s) URL")
)

// Options configure a Client.
type Options struct {
	Policy
	// Origin is sent as WebHook-Request-Origin in handshakes; "flowbus"
	// by default.
	Origin string
	// HandshakeTTL is how long an endpoint's consent is remembered; one
	// hour by default.
	HandshakeTTL time.Duration
	// TLSConfig, when set, replaces the default TLS settings (tests give
	// it the root of an httptest TLS server).
	TLSConfig *tls.Config
	// Lookup resolves host names; the default resolver when nil.
	Lookup LookupFunc
	// Now gives webhook-timestamp and judges Retry-After dates; time.Now
	// when nil.
	Now func() time.Time
	// MaxConnsPerHost bounds connections to one endpoint; 0 is no bound.
	MaxConnsPerHost int
	// UserAgent is sent on every request; "flowbus-webhook/1" by default.
	UserAgent string
}

// Client delivers events. It is safe for concurrent use; build one per
// process and share it, so connections to an endpoint are reused.
type Client struct {
	opts   Options
	secure *http.Client // https targets, under the policy
	plain  *http.Client // http targets: loopback only

	mu         sync.Mutex
	handshakes map[string]time.Time // endpoint URL -> consent expiry
}

// New returns a Client.
func New(opts Options) *Client {
	if opts.Origin == "" {
		opts.Origin = "flowbus"
	}
	if opts.HandshakeTTL <= 0 {
		opts.HandshakeTTL = time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "flowbus-webhook/1"
	}
	if opts.Lookup == nil {
		opts.Lookup = DefaultLookup
	}
	return &Client{
		opts:       opts,
		secure:     opts.httpClient(false),
		plain:      opts.httpClient(true),
		handshakes: map[string]time.Time{},
	}
}

func (o Options) httpClient(loopbackOnly bool) *http.Client {
	d := &dialer{
		d:      net.Dialer{Timeout: MaxTimeout, KeepAlive: 30 * time.Second, Control: o.Policy.control(loopbackOnly)},
		lookup: o.Lookup,
	}
	tlsConf := o.TLSConfig
	if tlsConf == nil {
		tlsConf = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	tr := &http.Transport{
		Proxy:             nil, // a proxy would dial for us, past the guard
		DialContext:       d.DialContext,
		TLSClientConfig:   tlsConf,
		ForceAttemptHTTP2: true,
		// Ordered delivery keeps one request per (subscription, workflow) in
		// flight, so one endpoint sees as many at once as workflows are
		// delivered in parallel; keep that many connections for reuse
		// instead of closing and dialling (and handshaking TLS) again.
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 256,
		MaxConnsPerHost:     o.MaxConnsPerHost,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
	}
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // never follow: the 3xx is the answer
		},
	}
}

// CloseIdleConnections closes connections kept for reuse.
func (c *Client) CloseIdleConnections() {
	c.secure.CloseIdleConnections()
	c.plain.CloseIdleConnections()
}

// Deliver makes one attempt at delivering e to t and says what to do next.
// It never panics and never follows a redirect. ctx bounds the attempt
// together with t's request timeout; a cancelled ctx is a Retry.
func (c *Client) Deliver(ctx context.Context, t Target, e *event.Event) Result {
	hc, err := c.clientFor(t.URL)
	if err != nil {
		return Result{Outcome: DeadLetter, Err: err}
	}
	if t.Handshake && !c.consented(t.URL) {
		if r := c.handshake(ctx, hc, t); r.Outcome != Delivered {
			return r
		}
	}
	ctx, cancel := context.WithTimeout(ctx, t.RequestTimeout())
	defer cancel()
	req, err := NewRequest(ctx, t, e, c.opts.Now())
	if err != nil {
		return Result{Outcome: DeadLetter, Err: err}
	}
	req.Header["User-Agent"] = []string{c.opts.UserAgent}
	start := time.Now()
	resp, err := hc.Do(req)
	if err != nil {
		return Result{Outcome: transportOutcome(err), Err: err, Latency: time.Since(start)}
	}
	r := c.classify(resp)
	r.Latency = time.Since(start)
	return r
}

// clientFor picks the HTTP client for a target URL's scheme.
func (c *Client) clientFor(raw string) (*http.Client, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, ErrUnsupportedURL
	}
	switch u.Scheme {
	case "https":
		return c.secure, nil
	case "http":
		if !c.opts.AllowPlainLoopback {
			return nil, ErrPlainHTTP
		}
		return c.plain, nil
	}
	return nil, ErrUnsupportedURL
}

// transportOutcome classifies an error from sending: a refused address is
// permanent, anything else (timeouts, refused or reset connections, TLS
// failures, a cancelled context) is retried.
func transportOutcome(err error) Outcome {
	var ae *AddressError
	if errors.As(err, &ae) {
		return DeadLetter
	}
	return Retry
}

// classify reads an answer into a Result and closes its body.
func (c *Client) classify(resp *http.Response) Result {
	r := Result{Status: resp.StatusCode}
	s := resp.StatusCode
	switch {
	case s >= 200 && s < 300:
		r.Outcome = Delivered
	case s == http.StatusGone:
		r.Outcome = Disable
	case s == http.StatusTooManyRequests || s >= 500 && s < 600:
		r.Outcome = Retry
		r.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), c.opts.Now())
	default: // 1xx, 3xx (not followed), other 4xx, anything else
		r.Outcome = DeadLetter
	}
	if r.Outcome == Delivered {
		_, _ = io.CopyN(io.Discard, resp.Body, drainLimit)
	} else {
		r.Body, _ = io.ReadAll(io.LimitReader(resp.Body, MaxKeptBody))
		_, _ = io.CopyN(io.Discard, resp.Body, drainLimit)
		se := &StatusError{Status: s}
		if s >= 300 && s < 400 {
			se.Location = resp.Header.Get("Location")
		}
		r.Err = se
	}
	resp.Body.Close()
	return r
}

// parseRetryAfter reads Retry-After as delay-seconds or an HTTP date
// (RFC 9110 10.2.3); anything else, or a time past, is 0.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if v[0] >= '0' && v[0] <= '9' {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return 0
		}
		if err != nil || n > uint64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter
		}
		return time.Duration(n) * time.Second
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	return min(max(t.Sub(now), 0), MaxRetryAfter)
}
