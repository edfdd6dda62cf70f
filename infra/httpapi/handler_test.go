package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/flowbus/flowbus/infra/httpapi"
	"github.com/flowbus/flowbus/infra/lambdarun"
	"github.com/flowbus/flowbus/shared/apigw"
)

// fake is an Invoker that records the events it gets and answers res.
type fake struct {
	res   lambdarun.Result
	err   error
	delay time.Duration

	mu     sync.Mutex
	events [][]byte
}

func (f *fake) Invoke(_ context.Context, payload []byte) (lambdarun.Result, error) {
	f.mu.Lock()
	f.events = append(f.events, payload)
	f.mu.Unlock()
	time.Sleep(f.delay)
	return f.res, f.err
}

func (f *fake) last(t *testing.T) (events.APIGatewayV2HTTPRequest, map[string]any) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.events) == 0 {
		t.Fatal("the function was not invoked")
	}
	raw := f.events[len(f.events)-1]
	var ev events.APIGatewayV2HTTPRequest
	var generic map[string]any
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &generic); err != nil {
		t.Fatal(err)
	}
	return ev, generic
}

func answer(payload string) *fake {
	return &fake{res: lambdarun.Result{Payload: []byte(payload)}}
}

func newAPI(t *testing.T, routes ...httpapi.Route) http.Handler {
	t.Helper()
	h, err := httpapi.New(routes, nil)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// volatile are the event fields that differ on every request.
var volatile = cmpopts.IgnoreFields(events.APIGatewayV2HTTPRequestContext{}, "RequestID", "Time", "TimeEpoch")

func TestEvent(t *testing.T) {
	fn := answer(`{}`)
	h := newAPI(t,
		httpapi.Route{Method: "GET", Path: "/workflows/{workflow_id}/events", Function: fn},
		httpapi.Route{Method: "POST", Path: "/events", Function: fn},
	)
	get := func() *http.Request {
		r := httptest.NewRequest("GET", "http://api.example.com/workflows/wf%201/events?limit=10&type=a&type=b&q=x%20y&flag", nil)
		r.Header.Add("Cookie", "session=abc; theme=dark")
		r.Header.Add("Cookie", "lang=fr")
		r.Header.Add("X-Multi", "one")
		r.Header.Add("X-Multi", "two")
		r.Header.Set("User-Agent", "test-agent")
		r.Header.Set("X-Amzn-Trace-Id", "Root=1-test")
		return r
	}
	post := func(contentType string, body []byte) func() *http.Request {
		return func() *http.Request {
			r := httptest.NewRequest("POST", "http://api.example.com/events", bytes.NewReader(body))
			r.Header.Set("Content-Type", contentType)
			r.Header.Set("User-Agent", "test-agent")
			r.Header.Set("X-Amzn-Trace-Id", "Root=1-test")
			return r
		}
	}
	ctx := func(method, path, routeKey string) events.APIGatewayV2HTTPRequestContext {
		return events.APIGatewayV2HTTPRequestContext{
			RouteKey: routeKey, AccountID: "123456789012", Stage: "$default", APIID: "local",
			DomainName: "api.example.com", DomainPrefix: "api",
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method: method, Path: path, Protocol: "HTTP/1.1", SourceIP: "192.0.2.1", UserAgent: "test-agent",
			},
		}
	}
	binary := []byte{0x89, 'P', 'N', 'G', 0, 1, 2, 0xff}
	postHeaders := func(contentType, length string) map[string]string {
		return map[string]string{
			"content-type": contentType, "content-length": length, "user-agent": "test-agent", "host": "api.example.com",
			"x-amzn-trace-id": "Root=1-test", "x-forwarded-for": "192.0.2.1", "x-forwarded-proto": "http",
		}
	}
	tests := []struct {
		name string
		req  func() *http.Request
		want events.APIGatewayV2HTTPRequest
	}{
		{"GET with query, cookies, path parameters", get, events.APIGatewayV2HTTPRequest{
			Version: "2.0", RouteKey: "GET /workflows/{workflow_id}/events",
			RawPath: "/workflows/wf%201/events", RawQueryString: "limit=10&type=a&type=b&q=x%20y&flag",
			Cookies: []string{"session=abc", "theme=dark", "lang=fr"},
			Headers: map[string]string{
				"x-multi": "one,two", "user-agent": "test-agent", "host": "api.example.com",
				"x-amzn-trace-id": "Root=1-test", "x-forwarded-for": "192.0.2.1", "x-forwarded-proto": "http",
			},
			QueryStringParameters: map[string]string{"limit": "10", "type": "a,b", "q": "x y", "flag": ""},
			PathParameters:        map[string]string{"workflow_id": "wf 1"},
			RequestContext:        ctx("GET", "/workflows/wf 1/events", "GET /workflows/{workflow_id}/events"),
		}},
		{"POST JSON body", post("application/json; charset=utf-8", []byte(`{"type":"a"}`)), events.APIGatewayV2HTTPRequest{
			Version: "2.0", RouteKey: "POST /events", RawPath: "/events",
			Headers:        postHeaders("application/json; charset=utf-8", "12"),
			RequestContext: ctx("POST", "/events", "POST /events"),
			Body:           `{"type":"a"}`,
		}},
		{"POST cloudevents JSON", post("application/cloudevents+json", []byte(`{}`)), events.APIGatewayV2HTTPRequest{
			Version: "2.0", RouteKey: "POST /events", RawPath: "/events",
			Headers:        postHeaders("application/cloudevents+json", "2"),
			RequestContext: ctx("POST", "/events", "POST /events"),
			Body:           `{}`,
		}},
		{"POST binary body", post("image/png", binary), events.APIGatewayV2HTTPRequest{
			Version: "2.0", RouteKey: "POST /events", RawPath: "/events",
			Headers:        postHeaders("image/png", "8"),
			RequestContext: ctx("POST", "/events", "POST /events"),
			Body:           base64.StdEncoding.EncodeToString(binary), IsBase64Encoded: true,
		}},
		{"POST text that is not UTF-8", post("text/plain", []byte{'a', 0xff}), events.APIGatewayV2HTTPRequest{
			Version: "2.0", RouteKey: "POST /events", RawPath: "/events",
			Headers:        postHeaders("text/plain", "2"),
			RequestContext: ctx("POST", "/events", "POST /events"),
			Body:           "Yf8=", IsBase64Encoded: true,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.req()
			r.RemoteAddr = "192.0.2.1:51234"
			w := serve(h, r)
			if w.Code != http.StatusOK {
				t.Fatalf("status %d, want 200: %s", w.Code, w.Body)
			}
			got, generic := fn.last(t)
			if diff := cmp.Diff(tt.want, got, volatile); diff != "" {
				t.Errorf("event mismatch (-want +got):\n%s", diff)
			}
			rc := got.RequestContext
			if _, err := time.Parse("02/Jan/2006:15:04:05 -0700", rc.Time); err != nil || rc.TimeEpoch == 0 || rc.RequestID == "" {
				t.Errorf("requestContext time %q, timeEpoch %d, requestId %q", rc.Time, rc.TimeEpoch, rc.RequestID)
			}
			if id := w.Header().Get("Apigw-Requestid"); id != rc.RequestID {
				t.Errorf("apigw-requestid %q, want the event's requestId %q", id, rc.RequestID)
			}
			reqCtx := generic["requestContext"].(map[string]any)
			for _, absent := range []string{"authentication", "authorizer"} {
				if _, ok := reqCtx[absent]; ok {
					t.Errorf("requestContext has %s; API Gateway sends none without mTLS or an authorizer", absent)
				}
			}
			if _, ok := generic["stageVariables"]; ok {
				t.Error("event has stageVariables; want none")
			}
		})
	}

	t.Run("request ids differ", func(t *testing.T) {
		ids := map[string]bool{}
		for range 20 {
			ids[serve(h, get()).Header().Get("Apigw-Requestid")] = true
		}
		if len(ids) != 20 {
			t.Errorf("20 requests got %d distinct request ids", len(ids))
		}
	})
}

func TestRouting(t *testing.T) {
	var routes []httpapi.Route
	// Least specific first: the order given must not matter.
	keys := []string{"$default", "ANY /{proxy+}", "ANY /events", "GET /pets/{proxy+}", "GET /pets/dog/{id}", "GET /pets/dog/1", "POST /events", "GET /"}
	for _, k := range keys {
		method, path, _ := strings.Cut(k, " ")
		if k == "$default" {
			method, path = "", k
		}
		routes = append(routes, httpapi.Route{Method: method, Path: path, Function: answer(`{}`), FunctionName: k})
	}
	fakes := map[string]*fake{}
	for _, r := range routes {
		fakes[r.FunctionName] = r.Function.(*fake)
	}
	h := newAPI(t, routes...)
	tests := []struct {
		method, path string
		want         string
		params       map[string]string
	}{
		{"GET", "/pets/dog/1", "GET /pets/dog/1", nil},
		{"GET", "/pets/dog/2", "GET /pets/dog/{id}", map[string]string{"id": "2"}},
		{"GET", "/pets/cat/1", "GET /pets/{proxy+}", map[string]string{"proxy": "cat/1"}},
		{"GET", "/pets/a%2Fb/c", "GET /pets/{proxy+}", map[string]string{"proxy": "a/b/c"}},
		{"GET", "/pets/dog/1/", "GET /pets/{proxy+}", map[string]string{"proxy": "dog/1/"}},
		{"POST", "/pets/cat/1", "ANY /{proxy+}", map[string]string{"proxy": "pets/cat/1"}},
		{"GET", "/pets", "ANY /{proxy+}", map[string]string{"proxy": "pets"}},
		{"POST", "/events", "POST /events", nil},
		{"DELETE", "/events", "ANY /events", nil},
		{"GET", "/", "GET /", nil},
		{"POST", "/", "$default", nil},
		{"GET", "/Pets/dog/1", "ANY /{proxy+}", map[string]string{"proxy": "Pets/dog/1"}},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			w := serve(h, httptest.NewRequest(tt.method, tt.path, nil))
			if w.Code != http.StatusOK {
				t.Fatalf("status %d, want 200", w.Code)
			}
			got, _ := fakes[tt.want].last(t)
			if got.RouteKey != tt.want || got.RequestContext.RouteKey != tt.want {
				t.Errorf("routeKey %q, want %q", got.RouteKey, tt.want)
			}
			if diff := cmp.Diff(tt.params, got.PathParameters); diff != "" {
				t.Errorf("pathParameters mismatch (-want +got):\n%s", diff)
			}
			for k, f := range fakes { // only the chosen route's function ran
				f.mu.Lock()
				if k != tt.want && len(f.events) > 0 {
					t.Errorf("%s was invoked too", k)
				}
				f.events = nil
				f.mu.Unlock()
			}
		})
	}

	t.Run("no match", func(t *testing.T) {
		h := newAPI(t,
			httpapi.Route{Method: "POST", Path: "/events", Function: answer(`{}`)},
			httpapi.Route{Method: "GET", Path: "/replays/{replay_id}", Function: answer(`{}`)},
			httpapi.Route{Method: "DELETE", Path: "/replays/{replay_id}", Function: answer(`{}`)},
		)
		tests := []struct {
			method, path string
			status       int
			allow        string
		}{
			{"GET", "/events", 405, "POST"},
			{"PUT", "/replays/1", 405, "DELETE, GET"},
			{"POST", "/other", 404, ""},
			{"POST", "/events/1", 404, ""},
			{"GET", "/replays", 404, ""},
		}
		for _, tt := range tests {
			w := serve(h, httptest.NewRequest(tt.method, tt.path, nil))
			p := problemOf(t, w)
			if w.Code != tt.status || p.Status != tt.status || w.Header().Get("Allow") != tt.allow {
				t.Errorf("%s %s: %d Allow %q %s, want %d Allow %q", tt.method, tt.path, w.Code, w.Header().Get("Allow"), w.Body, tt.status, tt.allow)
			}
		}
	})
}

// problemOf reads a problem+json answer, failing the test for any other.
func problemOf(t *testing.T, w *httptest.ResponseRecorder) apigw.Problem {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != apigw.ContentTypeProblem {
		t.Errorf("content type %q, want %q: %s", ct, apigw.ContentTypeProblem, w.Body)
	}
	var p apigw.Problem
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || p.Type == "" || p.Title == "" {
		t.Errorf("body %s is not a problem (%v)", w.Body, err)
	}
	return p
}

func TestNewRefuses(t *testing.T) {
	fn := answer(`{}`)
	tests := []struct {
		name   string
		routes []httpapi.Route
		want   string
	}{
		{"duplicate", []httpapi.Route{{Method: "GET", Path: "/a", Function: fn}, {Method: "GET", Path: "/a", Function: fn}}, "matches the same requests"},
		{"same shape", []httpapi.Route{{Method: "GET", Path: "/a/{x}", Function: fn}, {Method: "GET", Path: "/a/{y}", Function: fn}}, "matches the same requests"},
		{"two defaults", []httpapi.Route{{Path: "$default", Function: fn}, {Method: "ANY", Path: "$default", Function: fn}}, "matches the same requests"},
		{"bad method", []httpapi.Route{{Method: "FETCH", Path: "/a", Function: fn}}, `method "FETCH"`},
		{"lowercase method", []httpapi.Route{{Method: "get", Path: "/a", Function: fn}}, `method "get"`},
		{"no leading slash", []httpapi.Route{{Method: "GET", Path: "a", Function: fn}}, "leading /"},
		{"trailing slash", []httpapi.Route{{Method: "GET", Path: "/a/", Function: fn}}, "empty segment"},
		{"greedy not last", []httpapi.Route{{Method: "GET", Path: "/{proxy+}/a", Function: fn}}, "not last"},
		{"bad parameter", []httpapi.Route{{Method: "GET", Path: "/{a b}", Function: fn}}, "bad parameter"},
		{"half a parameter", []httpapi.Route{{Method: "GET", Path: "/a{b}", Function: fn}}, "bad segment"},
		{"parameter twice", []httpapi.Route{{Method: "GET", Path: "/{a}/{a}", Function: fn}}, "twice"},
		{"no function", []httpapi.Route{{Method: "GET", Path: "/a"}}, "no function"},
		{"timeout", []httpapi.Route{{Method: "GET", Path: "/a", Function: fn, Timeout: time.Minute}}, "timeout 1m0s"},
		{"default with a method", []httpapi.Route{{Method: "GET", Path: "$default", Function: fn}}, "takes every method"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := httpapi.New(tt.routes, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New() = %v, want an error with %q", err, tt.want)
			}
		})
	}
}

func TestResponse(t *testing.T) {
	internal := `{"message":"Internal Server Error"}`
	tests := []struct {
		name        string
		fn          *fake
		wantStatus  int
		wantHeaders http.Header // the ones to check
		wantBody    string
	}{
		{"status code object", answer(`{"statusCode":201,"headers":{"content-type":"text/plain","x-count":5,"x-ok":true,"x-multi":"a,b"},"body":"created"}`),
			201, http.Header{"Content-Type": {"text/plain"}, "X-Count": {"5"}, "X-Ok": {"true"}, "X-Multi": {"a,b"}}, "created"},
		{"cookies", answer(`{"statusCode":200,"cookies":["a=1; Path=/; HttpOnly","b=2"],"body":"ok"}`),
			200, http.Header{"Set-Cookie": {"a=1; Path=/; HttpOnly", "b=2"}, "Content-Type": {"application/json"}}, "ok"},
		{"base64 body", answer(`{"statusCode":200,"headers":{"content-type":"application/octet-stream"},"body":"AAEC/w==","isBase64Encoded":true}`),
			200, http.Header{"Content-Type": {"application/octet-stream"}}, "\x00\x01\x02\xff"},
		{"aws-lambda-go's empty fields", answer(`{"statusCode":204,"headers":null,"multiValueHeaders":null,"body":"","cookies":null}`),
			204, http.Header{"Content-Type": {"application/json"}}, ""},
		{"multiValueHeaders ignored as HTTP APIs do", answer(`{"statusCode":200,"multiValueHeaders":{"x-a":["1","2"]},"body":"x"}`),
			200, http.Header{"X-A": nil}, "x"},
		{"bare JSON object", answer(`{"id":"e1","ok":true}`), 200, http.Header{"Content-Type": {"application/json"}}, `{"id":"e1","ok":true}`},
		{"bare JSON array", answer(`[1,2]`), 200, http.Header{"Content-Type": {"application/json"}}, `[1,2]`},
		{"bare JSON string", answer(`"hello"`), 200, http.Header{"Content-Type": {"application/json"}}, `"hello"`},
		{"not JSON", answer(`hello`), 502, http.Header{"Content-Type": {"application/json"}}, internal},
		{"status code not a number", answer(`{"statusCode":"abc"}`), 502, nil, internal},
		{"status code out of range", answer(`{"statusCode":99}`), 502, nil, internal},
		{"body not a string", answer(`{"statusCode":200,"body":{"a":1}}`), 502, nil, internal},
		{"bad base64", answer(`{"statusCode":200,"body":"%%%","isBase64Encoded":true}`), 502, nil, internal},
		{"header not a string", answer(`{"statusCode":200,"headers":{"x":{"a":1}}}`), 502, nil, internal},
		{"function error", &fake{res: lambdarun.Result{FunctionError: "Unhandled", ErrorType: "errorString",
			Payload: []byte(`{"errorMessage":"boom","errorType":"errorString"}`)}}, 502, http.Header{"Content-Type": {"application/json"}}, internal},
		{"function timeout", &fake{res: lambdarun.Result{FunctionError: "Unhandled", ErrorType: "Sandbox.Timedout",
			Payload: []byte(`{"errorMessage":"RequestId: x Error: Task timed out after 3.00 seconds","errorType":"Sandbox.Timedout"}`)}}, 502, nil, internal},
		{"function unreachable", &fake{err: errors.New("connection refused")}, 500, http.Header{"Content-Type": {"application/json"}}, internal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newAPI(t, httpapi.Route{Method: "POST", Path: "/events", Function: tt.fn})
			w := serve(h, httptest.NewRequest("POST", "/events", strings.NewReader(`{}`)))
			if w.Code != tt.wantStatus || w.Body.String() != tt.wantBody {
				t.Errorf("got %d %q, want %d %q", w.Code, w.Body, tt.wantStatus, tt.wantBody)
			}
			for k, want := range tt.wantHeaders {
				if diff := cmp.Diff(want, w.Header().Values(k), cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("header %s mismatch (-want +got):\n%s", k, diff)
				}
			}
			if w.Header().Get("Apigw-Requestid") == "" {
				t.Error("no apigw-requestid header")
			}
		})
	}
}

func TestIntegrationTimeout(t *testing.T) {
	fn := &fake{res: lambdarun.Result{Payload: []byte(`{}`)}, delay: 500 * time.Millisecond}
	h := newAPI(t, httpapi.Route{Method: "GET", Path: "/slow", Function: fn, Timeout: 50 * time.Millisecond})
	begin := time.Now()
	w := serve(h, httptest.NewRequest("GET", "/slow", nil))
	took := time.Since(begin)
	if w.Code != http.StatusServiceUnavailable || w.Body.String() != `{"message":"Service Unavailable"}` {
		t.Errorf("got %d %s, want 503 {\"message\":\"Service Unavailable\"}", w.Code, w.Body)
	}
	if took > 400*time.Millisecond {
		t.Errorf("answered after %v, want soon after the 50 ms integration timeout", took)
	}
}

func TestBodyLimit(t *testing.T) {
	tests := []struct {
		name  string
		size  int
		sized bool // Content-Length known up front
		want  int
	}{
		{"at the limit", httpapi.MaxBodyBytes, true, 200},
		{"over the limit", httpapi.MaxBodyBytes + 1, true, 413},
		{"over the limit, chunked", httpapi.MaxBodyBytes + 1, false, 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fn := answer(`{}`)
			h := newAPI(t, httpapi.Route{Method: "POST", Path: "/events", Function: fn})
			var body io.Reader = bytes.NewReader(bytes.Repeat([]byte("a"), tt.size))
			if !tt.sized {
				body = io.MultiReader(body)
			}
			r := httptest.NewRequest("POST", "/events", body)
			r.Header.Set("Content-Type", "text/plain")
			w := serve(h, r)
			if w.Code != tt.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.want, w.Body)
			}
			if tt.want == 413 {
				if p := problemOf(t, w); p.Limit != httpapi.MaxBodyBytes {
					t.Errorf("problem %+v, want the limit %d", p, httpapi.MaxBodyBytes)
				}
				if len(fn.events) != 0 {
					t.Error("the function ran for a body over the limit")
				}
			}
		})
	}
}

// A request Lambda refuses as too large (over its 6 MB synchronous payload)
// is the client's: 413 naming the limit, not 500.
func TestPayloadTooLargeForLambda(t *testing.T) {
	fn := &fake{err: fmt.Errorf("invoke publish: %w", lambdarun.ErrPayloadTooLarge)}
	h := newAPI(t, httpapi.Route{Method: "POST", Path: "/events", Function: fn})
	r := httptest.NewRequest("POST", "/events", strings.NewReader(`{}`))
	w := serve(h, r)
	if p := problemOf(t, w); w.Code != 413 || p.Limit != lambdarun.MaxPayloadBytes {
		t.Errorf("got %d %s, want 413 with the limit %d", w.Code, w.Body, lambdarun.MaxPayloadBytes)
	}
}

// A body trickled in slower than the body timeout is answered 408 and the
// connection closed, as API Gateway does not wait on a client for ever.
func TestSlowBody(t *testing.T) {
	fn := answer(`{}`)
	h := newAPI(t, httpapi.Route{Method: "POST", Path: "/events", Function: fn})
	httpapi.SetBodyTimeout(h, 300*time.Millisecond)
	srv := httptest.NewServer(h)
	defer srv.Close()

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	begin := time.Now()
	if _, err := io.WriteString(conn, "POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"); err != nil {
		t.Fatal(err)
	}
	go func() { // a byte every 100 ms: never done in time
		for range 50 {
			time.Sleep(100 * time.Millisecond)
			if _, err := conn.Write([]byte(" ")); err != nil {
				return
			}
		}
	}()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer after %v: %v", time.Since(begin), err)
	}
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusRequestTimeout || res.Header.Get("Content-Type") != apigw.ContentTypeProblem {
		t.Errorf("got %d %s, want 408 problem+json", res.StatusCode, body)
	}
	if took := time.Since(begin); took > 2*time.Second {
		t.Errorf("answered after %v, want soon after the 300 ms body timeout", took)
	}
	if len(fn.events) != 0 {
		t.Error("the function ran for a body that never arrived")
	}
	if _, err := conn.Read(make([]byte, 1)); err == nil {
		t.Error("the connection is still open")
	}
}
