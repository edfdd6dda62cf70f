package webhook_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/flowbus/flowbus/shared/event"
	"github.com/flowbus/flowbus/shared/ingest"
	"github.com/flowbus/flowbus/shared/webhook"
)

// sample is a stored event using every attribute binary mode must carry,
// with values that need percent-encoding.
func sample() event.Event {
	return event.Event{
		ID:              "01J0000000000000000000ABCD",
		Source:          "/n8n/flows/7",
		Type:            "workflow.started",
		Subject:         `step 1 "quoted" 100% ünïcode`,
		Time:            time.Date(2024, 5, 1, 12, 0, 0, 123456789, time.UTC),
		DataContentType: "application/json",
		DataSchema:      "https://schemas.example.com/started.json",
		Data:            []byte(`{"a":1,"b":"ü","c":[true,null]}`),
		WorkflowID:      "wf 1/ü",
		Version:         2,
		Metadata:        []byte(`{"k":"v w"}`),
		Sequence:        42,
		Extensions: []event.Extension{
			{Name: "replayid", Value: []byte(`"r1"`)},
			{Name: "tenant", Value: []byte(`"acme co"`)},
		},
	}
}

// received is one request a test server got.
type received struct {
	Method string
	Header http.Header
	Body   []byte
}

// recorder is a loopback test server that records requests and answers
// with answer (204 when nil).
type recorder struct {
	*httptest.Server
	mu     sync.Mutex
	got    []received
	answer func(w http.ResponseWriter, r *http.Request)
}

func newRecorder(t *testing.T, tlsOn bool, answer func(w http.ResponseWriter, r *http.Request)) *recorder {
	t.Helper()
	rec := &recorder{answer: answer}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.got = append(rec.got, received{r.Method, r.Header.Clone(), body})
		rec.mu.Unlock()
		if rec.answer != nil {
			rec.answer(w, r)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	if tlsOn {
		rec.Server = httptest.NewTLSServer(h)
	} else {
		rec.Server = httptest.NewServer(h)
	}
	t.Cleanup(rec.Close)
	return rec
}

func (r *recorder) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

func (r *recorder) count(method string) int {
	n := 0
	for _, g := range r.requests() {
		if g.Method == method {
			n++
		}
	}
	return n
}

// newClient is a Client for loopback test servers: loopback allowed, the
// server's certificate trusted.
func newClient(t *testing.T, srv *httptest.Server, opts webhook.Options) *webhook.Client {
	t.Helper()
	opts.AllowPlainLoopback = true
	if srv != nil && srv.TLS != nil {
		opts.TLSConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	}
	c := webhook.New(opts)
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func mustSecret(t *testing.T) webhook.Secret {
	t.Helper()
	s, err := webhook.GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// decodeDelivery reads a received request back into an event, binary mode
// through ingest.FromBinary (the decoder flowbus publishes with), structured
// through event.Decode.
func decodeDelivery(t *testing.T, g received) event.Event {
	t.Helper()
	body := g.Body
	if !strings.HasPrefix(g.Header.Get("Content-Type"), "application/cloudevents+json") {
		flat := map[string]string{}
		for k, v := range g.Header {
			if strings.HasPrefix(strings.ToLower(k), "ce-") || strings.EqualFold(k, "content-type") {
				flat[k] = v[0]
			}
		}
		var err error
		if body, err = ingest.FromBinary(flat, g.Body); err != nil {
			t.Fatalf("FromBinary: %v", err)
		}
	}
	e, err := event.Decode(body, event.DecodeOptions{Wire: true})
	if err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	return e
}

func TestDeliverModesRoundTrip(t *testing.T) {
	for _, tlsOn := range []bool{true, false} {
		for _, mode := range []webhook.Mode{webhook.Binary, webhook.Structured} {
			t.Run(fmt.Sprintf("tls=%v mode=%d", tlsOn, mode), func(t *testing.T) {
				srv := newRecorder(t, tlsOn, nil)
				c := newClient(t, srv.Server, webhook.Options{})
				secret := mustSecret(t)
				e := sample()
				res := c.Deliver(context.Background(), webhook.Target{URL: srv.URL + "/hook", Mode: mode, Secrets: []webhook.Secret{secret}}, &e)
				if res.Outcome != webhook.Delivered || res.Status != 204 || res.Err != nil || res.Latency <= 0 {
					t.Fatalf("Deliver = %+v, want delivered 204", res)
				}
				g := srv.requests()[0]
				if g.Method != http.MethodPost {
					t.Errorf("method %s, want POST", g.Method)
				}
				if err := webhook.Verify(secret, g.Header, g.Body, time.Now()); err != nil {
					t.Errorf("Verify: %v", err)
				}
				if diff := cmp.Diff(e, decodeDelivery(t, g), cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("decoded delivery differs (-sent +got):\n%s", diff)
				}
				switch mode {
				case webhook.Binary:
					if got, want := string(g.Body), string(e.Data); got != want {
						t.Errorf("binary body %q, want the data %q", got, want)
					}
					for k, want := range map[string]string{
						"Content-Type":   "application/json",
						"Ce-Specversion": "1.0",
						"Ce-Id":          e.ID,
						"Ce-Subject":     "step%201%20%22quoted%22%20100%25%20%C3%BCn%C3%AFcode",
						"Ce-Workflowid":  "wf%201/%C3%BC",
						"Ce-Time":        "2024-05-01T12:00:00.123456789Z",
						"Ce-Sequence":    "00000000000000000042",
						"Ce-Tenant":      "acme%20co",
						"Ce-Metadata":    `{%22k%22:%22v%20w%22}`,
					} {
						if got := g.Header.Get(k); got != want {
							t.Errorf("header %s = %q, want %q", k, got, want)
						}
					}
				case webhook.Structured:
					if got := g.Header.Get("Content-Type"); got != webhook.StructuredContentType {
						t.Errorf("Content-Type %q, want %q", got, webhook.StructuredContentType)
					}
					if want := event.Append(nil, &e, false); !bytes.Equal(g.Body, want) {
						t.Errorf("structured body\n%s\nwant\n%s", g.Body, want)
					}
					if g.Header.Get("Ce-Id") != "" {
						t.Error("structured mode sent ce- headers")
					}
				}
			})
		}
	}
}

// Data without datacontenttype is JSON (Content-Type application/json);
// data_base64 travels as its bytes; text data as the string's value.
func TestBinaryBodies(t *testing.T) {
	srv := newRecorder(t, false, nil)
	c := newClient(t, srv.Server, webhook.Options{})
	cases := []struct {
		name         string
		ct           string
		data         string
		b64          bool
		wantCT, body string
	}{
		{"json without type", "", `{"x":1}`, false, "application/json", `{"x":1}`},
		{"cloudevents-ish json type", "application/vnd.x+json; charset=utf-8", `[1]`, false, "application/vnd.x+json; charset=utf-8", `[1]`},
		{"base64 without type", "", `"AAEC/w=="`, true, "application/octet-stream", "\x00\x01\x02\xff"},
		{"base64 png", "image/png", `"iVBORw=="`, true, "image/png", "\x89PNG"},
		{"text", "text/plain", `"hello \"world\""`, false, "text/plain", `hello "world"`},
		{"no data", "", "", false, "", ""},
	}
	for i, cs := range cases {
		e := sample()
		e.ID = fmt.Sprintf("id-%d", i)
		e.DataContentType, e.Data, e.DataBase64 = cs.ct, []byte(cs.data), cs.b64
		if res := c.Deliver(context.Background(), webhook.Target{URL: srv.URL}, &e); res.Outcome != webhook.Delivered {
			t.Fatalf("%s: Deliver = %+v", cs.name, res)
		}
		g := srv.requests()[i]
		if got := g.Header.Get("Content-Type"); got != cs.wantCT || string(g.Body) != cs.body {
			t.Errorf("%s: Content-Type %q body %q, want %q %q", cs.name, got, g.Body, cs.wantCT, cs.body)
		}
	}
	e := sample()
	e.DataContentType = "text/plain\r\nX-Injected: 1"
	if res := c.Deliver(context.Background(), webhook.Target{URL: srv.URL}, &e); res.Outcome != webhook.DeadLetter || res.Err == nil {
		t.Errorf("a datacontenttype with CRLF: %+v, want dead-letter", res)
	}
}

// Every attempt carries the same webhook-id (the event id), its own
// timestamp, and during a rotation one v1 signature per secret; each is
// checked against an HMAC computed by hand.
func TestSignaturesAcrossRetriesAndRotation(t *testing.T) {
	srv := newRecorder(t, true, nil)
	clock := time.Unix(1_700_000_000, 0)
	c := newClient(t, srv.Server, webhook.Options{Now: func() time.Time { return clock }})
	oldS, newS := mustSecret(t), mustSecret(t)
	e := sample()
	c.Deliver(context.Background(), webhook.Target{URL: srv.URL, Secrets: []webhook.Secret{oldS}}, &e)
	clock = clock.Add(90 * time.Second)
	c.Deliver(context.Background(), webhook.Target{URL: srv.URL, Secrets: []webhook.Secret{oldS, newS}}, &e)

	got := srv.requests()
	if len(got) != 2 {
		t.Fatalf("%d requests, want 2", len(got))
	}
	for i, g := range got {
		id, ts := g.Header.Get("webhook-id"), g.Header.Get("webhook-timestamp")
		if id != e.ID {
			t.Errorf("attempt %d: webhook-id %q, want the event id %q", i, id, e.ID)
		}
		if want := fmt.Sprint(time.Unix(1_700_000_000, 0).Add(time.Duration(i) * 90 * time.Second).Unix()); ts != want {
			t.Errorf("attempt %d: webhook-timestamp %q, want %q", i, ts, want)
		}
		sigs := strings.Fields(g.Header.Get("webhook-signature"))
		want := []string{handSign(t, oldS.String(), id, ts, g.Body)}
		if i == 1 {
			want = append(want, handSign(t, newS.String(), id, ts, g.Body))
		}
		if diff := cmp.Diff(want, sigs); diff != "" {
			t.Errorf("attempt %d: signatures (-hand +sent):\n%s", i, diff)
		}
	}
	for _, s := range []webhook.Secret{oldS, newS} {
		if err := webhook.Verify(s, got[1].Header, got[1].Body, clock); err != nil {
			t.Errorf("rotation: Verify with one of the two secrets: %v", err)
		}
	}
}

func TestOutcomes(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := []struct {
		name       string
		status     int
		header     map[string]string
		body       string
		want       webhook.Outcome
		retryAfter time.Duration
	}{
		{"200", 200, nil, "ok", webhook.Delivered, 0},
		{"201", 201, nil, "", webhook.Delivered, 0},
		{"202", 202, nil, "", webhook.Delivered, 0},
		{"204", 204, nil, "", webhook.Delivered, 0},
		{"429 Retry-After seconds", 429, map[string]string{"Retry-After": "7"}, "slow down", webhook.Retry, 7 * time.Second},
		{"503 Retry-After date", 503, map[string]string{"Retry-After": now.Add(90 * time.Second).Format(http.TimeFormat)}, "", webhook.Retry, 90 * time.Second},
		{"503 Retry-After date past", 503, map[string]string{"Retry-After": now.Add(-time.Hour).Format(http.TimeFormat)}, "", webhook.Retry, 0},
		{"503 Retry-After huge", 503, map[string]string{"Retry-After": "99999999999999999999999"}, "", webhook.Retry, webhook.MaxRetryAfter},
		{"503 Retry-After junk", 503, map[string]string{"Retry-After": "soon"}, "", webhook.Retry, 0},
		{"500", 500, nil, "boom", webhook.Retry, 0},
		{"502", 502, nil, "", webhook.Retry, 0},
		{"400", 400, nil, `{"error":"bad"}`, webhook.DeadLetter, 0},
		{"401", 401, nil, "", webhook.DeadLetter, 0},
		{"404", 404, nil, "", webhook.DeadLetter, 0},
		{"408", 408, nil, "", webhook.DeadLetter, 0},
		{"413", 413, nil, "", webhook.DeadLetter, 0},
		{"400 Retry-After ignored", 400, map[string]string{"Retry-After": "5"}, "", webhook.DeadLetter, 0},
		{"410", 410, nil, "gone", webhook.Disable, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := newRecorder(t, true, func(w http.ResponseWriter, r *http.Request) {
				for k, v := range c.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(c.status)
				io.WriteString(w, c.body)
			})
			cl := newClient(t, srv.Server, webhook.Options{Now: func() time.Time { return now }})
			e := sample()
			res := cl.Deliver(context.Background(), webhook.Target{URL: srv.URL}, &e)
			if res.Outcome != c.want || res.Status != c.status || res.RetryAfter != c.retryAfter {
				t.Fatalf("Deliver = %v %d retry-after %v, want %v %d %v", res.Outcome, res.Status, res.RetryAfter, c.want, c.status, c.retryAfter)
			}
			if c.want == webhook.Delivered {
				if res.Err != nil || res.Body != nil {
					t.Errorf("delivered with Err %v, Body %q", res.Err, res.Body)
				}
				return
			}
			var se *webhook.StatusError
			if !errors.As(res.Err, &se) || se.Status != c.status {
				t.Errorf("Err = %v, want a *StatusError %d", res.Err, c.status)
			}
			if string(res.Body) != c.body {
				t.Errorf("Body = %q, want %q", res.Body, c.body)
			}
		})
	}
}

func TestBodyKeptIsBounded(t *testing.T) {
	srv := newRecorder(t, false, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(422)
		w.Write(bytes.Repeat([]byte("x"), 1<<20))
	})
	c := newClient(t, srv.Server, webhook.Options{})
	e := sample()
	res := c.Deliver(context.Background(), webhook.Target{URL: srv.URL}, &e)
	if res.Outcome != webhook.DeadLetter || len(res.Body) != webhook.MaxKeptBody {
		t.Errorf("Deliver = %v with %d body bytes, want dead-letter with %d", res.Outcome, len(res.Body), webhook.MaxKeptBody)
	}
}

func TestRedirectsAreNotFollowed(t *testing.T) {
	var followed atomic.Int32
	elsewhere := newRecorder(t, false, func(w http.ResponseWriter, r *http.Request) { followed.Add(1) })
	for _, status := range []int{301, 302, 303, 307, 308} {
		srv := newRecorder(t, false, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, elsewhere.URL+"/stolen", status)
		})
		c := newClient(t, srv.Server, webhook.Options{})
		e := sample()
		res := c.Deliver(context.Background(), webhook.Target{URL: srv.URL}, &e)
		var se *webhook.StatusError
		if res.Outcome != webhook.DeadLetter || res.Status != status || !errors.As(res.Err, &se) || se.Location != elsewhere.URL+"/stolen" {
			t.Errorf("%d: Deliver = %+v, want dead-letter naming the location", status, res)
		}
	}
	if n := followed.Load(); n != 0 {
		t.Errorf("the redirect target got %d requests, want 0", n)
	}
}

func TestTimeoutAndConnectionErrorsRetry(t *testing.T) {
	release := make(chan struct{})
	slow := newRecorder(t, false, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	c := newClient(t, slow.Server, webhook.Options{})
	e := sample()
	start := time.Now()
	res := c.Deliver(context.Background(), webhook.Target{URL: slow.URL, Timeout: 150 * time.Millisecond}, &e)
	if res.Outcome != webhook.Retry || !errors.Is(res.Err, context.DeadlineExceeded) {
		t.Errorf("slow endpoint: %v (%v), want retry on the deadline", res.Outcome, res.Err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("a 150 ms timeout took %v", took)
	}

	closed := httptest.NewServer(http.NotFoundHandler())
	url := closed.URL
	closed.Close()
	res = c.Deliver(context.Background(), webhook.Target{URL: url}, &e)
	if res.Outcome != webhook.Retry || res.Status != 0 || res.Err == nil {
		t.Errorf("connection refused: %+v, want retry", res)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if res = c.Deliver(ctx, webhook.Target{URL: slow.URL}, &e); res.Outcome != webhook.Retry {
		t.Errorf("cancelled context: %+v, want retry", res)
	}
}

func TestRequestTimeout(t *testing.T) {
	for in, want := range map[time.Duration]time.Duration{
		0: 10 * time.Second, -time.Second: 10 * time.Second, 3 * time.Second: 3 * time.Second,
		30 * time.Second: 30 * time.Second, time.Hour: 30 * time.Second,
	} {
		if got := (webhook.Target{Timeout: in}).RequestTimeout(); got != want {
			t.Errorf("RequestTimeout(%v) = %v, want %v", in, got, want)
		}
	}
}

// lookupTable resolves names from a map, never DNS.
func lookupTable(m map[string][]string) webhook.LookupFunc {
	return func(_ context.Context, host string) ([]netip.Addr, error) {
		var out []netip.Addr
		for _, s := range m[host] {
			out = append(out, netip.MustParseAddr(s))
		}
		if out == nil {
			return nil, fmt.Errorf("no such host %s", host)
		}
		return out, nil
	}
}

func TestGuardRefusesDialledAddress(t *testing.T) {
	srv := newRecorder(t, false, nil)
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	names := map[string][]string{
		"metadata.example": {"169.254.169.254"},
		"imds6.example":    {"fd00:ec2::254"},
		"alibaba.example":  {"100.100.100.200"},
		"mapped.example":   {"::ffff:169.254.169.254"},
		"private.example":  {"10.1.2.3"},
		"mixed.example":    {"169.254.169.254", "127.0.0.1"},
	}
	e := sample()
	for _, p := range []webhook.Policy{{}, {AllowPrivate: true}} {
		c := webhook.New(webhook.Options{Policy: p, Lookup: lookupTable(names)})
		for _, host := range []string{"metadata.example", "imds6.example", "alibaba.example", "mapped.example", "127.0.0.1", "[::1]", "169.254.169.254"} {
			res := c.Deliver(context.Background(), webhook.Target{URL: fmt.Sprintf("https://%s:%d/", host, port), Timeout: time.Second}, &e)
			var ae *webhook.AddressError
			if res.Outcome != webhook.DeadLetter || !errors.Is(res.Err, webhook.ErrForbiddenAddress) || !errors.As(res.Err, &ae) {
				t.Errorf("%+v: %s: %v (%v), want dead-letter, forbidden address", p, host, res.Outcome, res.Err)
			}
		}
	}
	c := webhook.New(webhook.Options{Lookup: lookupTable(names)})
	if res := c.Deliver(context.Background(), webhook.Target{URL: "https://private.example/", Timeout: time.Second}, &e); !errors.Is(res.Err, webhook.ErrForbiddenAddress) {
		t.Errorf("private address without AllowPrivate: %v", res.Err)
	}
	// Plain http is loopback only, even with private addresses allowed.
	c = webhook.New(webhook.Options{Policy: webhook.Policy{AllowPlainLoopback: true, AllowPrivate: true}, Lookup: lookupTable(names)})
	if res := c.Deliver(context.Background(), webhook.Target{URL: "http://private.example/", Timeout: time.Second}, &e); !errors.Is(res.Err, webhook.ErrForbiddenAddress) {
		t.Errorf("http:// to a private address: %v, want forbidden", res.Err)
	}
	// A name with a refused and an allowed address reaches only the allowed one.
	if res := c.Deliver(context.Background(), webhook.Target{URL: fmt.Sprintf("http://mixed.example:%d/", port)}, &e); res.Outcome != webhook.Delivered {
		t.Errorf("mixed.example: %+v, want delivered to 127.0.0.1", res)
	}
	if n := srv.count(http.MethodPost); n != 1 {
		t.Errorf("the server got %d requests, want 1 (from mixed.example)", n)
	}
	// Without AllowPlainLoopback, http:// is refused before any connection.
	c = webhook.New(webhook.Options{})
	if res := c.Deliver(context.Background(), webhook.Target{URL: srv.URL}, &e); res.Outcome != webhook.DeadLetter || !errors.Is(res.Err, webhook.ErrPlainHTTP) {
		t.Errorf("http:// without AllowPlainLoopback: %+v", res)
	}
	if n := srv.count(http.MethodPost); n != 1 {
		t.Errorf("the server got %d requests, want still 1", n)
	}
}

// A name that passes validation and first resolves to an allowed address,
// then to the metadata address (DNS rebinding), is refused on the next
// connection: the check is on the address dialled.
func TestGuardDNSRebinding(t *testing.T) {
	srv := newRecorder(t, false, nil)
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	var lookups atomic.Int32
	lookup := func(_ context.Context, host string) ([]netip.Addr, error) {
		if lookups.Add(1) == 1 {
			return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
		}
		return []netip.Addr{netip.MustParseAddr("169.254.169.254")}, nil
	}
	p := webhook.Policy{AllowPlainLoopback: true}
	url := fmt.Sprintf("http://rebind.localhost:%d/hook", port)
	if err := p.ValidateURL(url); err != nil {
		t.Fatalf("ValidateURL: %v", err)
	}
	c := webhook.New(webhook.Options{Policy: p, Lookup: lookup})
	e := sample()
	if res := c.Deliver(context.Background(), webhook.Target{URL: url}, &e); res.Outcome != webhook.Delivered {
		t.Fatalf("first delivery: %+v", res)
	}
	c.CloseIdleConnections() // the next delivery must dial again
	res := c.Deliver(context.Background(), webhook.Target{URL: url}, &e)
	if res.Outcome != webhook.DeadLetter || !errors.Is(res.Err, webhook.ErrForbiddenAddress) {
		t.Errorf("after rebinding: %v (%v), want dead-letter, forbidden address", res.Outcome, res.Err)
	}
	if n := srv.count(http.MethodPost); n != 1 {
		t.Errorf("the server got %d requests, want 1", n)
	}
}

// Proxy settings in the environment are ignored: a proxy would dial the
// target for us, past the guard.
func TestProxyEnvironmentIgnored(t *testing.T) {
	t.Setenv("HTTPS_PROXY", "http://127.0.0.1:1")
	t.Setenv("HTTP_PROXY", "http://127.0.0.1:1")
	srv := newRecorder(t, true, nil)
	c := newClient(t, srv.Server, webhook.Options{})
	e := sample()
	if res := c.Deliver(context.Background(), webhook.Target{URL: srv.URL}, &e); res.Outcome != webhook.Delivered {
		t.Errorf("with proxy variables set: %+v, want delivered directly", res)
	}
}

func TestHandshake(t *testing.T) {
	cases := []struct {
		name     string
		status   int
		allowed  []string
		want     webhook.Outcome
		wantErr  error
		delivers bool
	}{
		{"origin named", 200, []string{"flowbus.test"}, webhook.Delivered, nil, true},
		{"origin in a list", 200, []string{"other.example, FlowBus.Test"}, webhook.Delivered, nil, true},
		{"any origin", 200, []string{"*"}, webhook.Delivered, nil, true},
		{"no consent header", 200, nil, webhook.DeadLetter, webhook.ErrHandshakeRefused, false},
		{"another origin", 200, []string{"evil.example"}, webhook.DeadLetter, webhook.ErrHandshakeRefused, false},
		{"204 is not consent", 204, []string{"*"}, webhook.DeadLetter, webhook.ErrHandshakeRefused, false},
		{"405", 405, nil, webhook.DeadLetter, webhook.ErrHandshakeRefused, false},
		{"503", 503, nil, webhook.Retry, nil, false},
		{"410", 410, nil, webhook.Disable, nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := newRecorder(t, true, func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodOptions {
					w.WriteHeader(204)
					return
				}
				for _, a := range c.allowed {
					w.Header().Add("WebHook-Allowed-Origin", a)
				}
				w.WriteHeader(c.status)
			})
			clock := time.Unix(1_700_000_000, 0)
			cl := newClient(t, srv.Server, webhook.Options{Origin: "flowbus.test", HandshakeTTL: time.Hour, Now: func() time.Time { return clock }})
			e := sample()
			tgt := webhook.Target{URL: srv.URL + "/hook", Handshake: true}
			for range 3 {
				res := cl.Deliver(context.Background(), tgt, &e)
				if res.Outcome != c.want || (c.wantErr != nil && !errors.Is(res.Err, c.wantErr)) {
					t.Fatalf("Deliver = %v (%v), want %v (%v)", res.Outcome, res.Err, c.want, c.wantErr)
				}
			}
			opts := srv.requests()[0]
			if opts.Method != http.MethodOptions || opts.Header.Get("WebHook-Request-Origin") != "flowbus.test" {
				t.Errorf("first request %s with origin %q, want OPTIONS with flowbus.test", opts.Method, opts.Header.Get("WebHook-Request-Origin"))
			}
			wantOptions, wantPosts := 3, 0 // a refusal is asked again next time
			if c.delivers {
				wantOptions, wantPosts = 1, 3 // consent is remembered
			}
			if got := srv.count(http.MethodOptions); got != wantOptions {
				t.Errorf("%d OPTIONS, want %d", got, wantOptions)
			}
			if got := srv.count(http.MethodPost); got != wantPosts {
				t.Errorf("%d POSTs, want %d", got, wantPosts)
			}
			if c.delivers {
				clock = clock.Add(61 * time.Minute) // consent expired: asked again
				cl.Deliver(context.Background(), tgt, &e)
				if got := srv.count(http.MethodOptions); got != 2 {
					t.Errorf("after the TTL: %d OPTIONS, want 2", got)
				}
			}
		})
	}
}

func TestDeliverNeverPanics(t *testing.T) {
	c := webhook.New(webhook.Options{Policy: webhook.Policy{AllowPlainLoopback: true}})
	e := sample()
	for _, url := range []string{"", "nonsense", "ftp://x.example/", "https://[::1", "https://%zz/", "http://"} {
		if res := c.Deliver(context.Background(), webhook.Target{URL: url, Timeout: time.Second}, &e); res.Outcome != webhook.DeadLetter || res.Err == nil {
			t.Errorf("URL %q: %+v, want dead-letter", url, res)
		}
	}
	noID := sample()
	noID.ID = ""
	if res := c.Deliver(context.Background(), webhook.Target{URL: "http://127.0.0.1:1/"}, &noID); !errors.Is(res.Err, webhook.ErrNoID) {
		t.Errorf("event without id: %v, want ErrNoID", res.Err)
	}
}
