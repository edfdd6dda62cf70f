package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/flowbus/flowbus/infra/httpapi"
	"github.com/flowbus/flowbus/infra/lambdarun"
	"github.com/flowbus/flowbus/shared/testenv"
)

// startFunction builds a test function of lambdarun's testdata and runs it
// under RIE until t ends.
func startFunction(t *testing.T, name string, timeout time.Duration) *lambdarun.Function {
	t.Helper()
	rie, err := lambdarun.LookRIE()
	if err != nil {
		if os.Getenv(testenv.EnvRequire) != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bootstrap, err := lambdarun.Build(ctx, filepath.Join("..", "lambdarun", "testdata", name), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f, err := lambdarun.Start(ctx, lambdarun.Spec{Name: name, Bootstrap: bootstrap, RIE: rie, Timeout: timeout}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := f.Close(); err != nil {
			t.Error(err)
		}
	})
	return f
}

// TestThroughLambda serves real functions under RIE over HTTP.
func TestThroughLambda(t *testing.T) {
	echo := startFunction(t, "echo", 3*time.Second)
	fail := startFunction(t, "fail", 3*time.Second)
	sleep := startFunction(t, "sleep", time.Second)
	h := newAPI(t,
		httpapi.Route{Method: "POST", Path: "/workflows/{workflow_id}/events", Function: echo, FunctionName: "echo"},
		httpapi.Route{Method: "POST", Path: "/fail", Function: fail, FunctionName: "fail"},
		httpapi.Route{Method: "POST", Path: "/sleep", Function: sleep, FunctionName: "sleep"},
	)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	t.Run("the function gets the event and answers", func(t *testing.T) {
		resp, err := http.Post(srv.URL+"/workflows/wf-1/events?x=1", "application/json", strings.NewReader(`{"type":"a"}`))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		// echo answers its event: no statusCode, so API Gateway sends it as a
		// 200 application/json body.
		var ev events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Fatalf("%d %s: %v", resp.StatusCode, body, err)
		}
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("got %d %s, want 200 application/json", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if ev.RouteKey != "POST /workflows/{workflow_id}/events" || ev.PathParameters["workflow_id"] != "wf-1" ||
			ev.Body != `{"type":"a"}` || ev.QueryStringParameters["x"] != "1" || !strings.HasSuffix(srv.URL, ":"+ev.Headers["x-forwarded-port"]) {
			t.Errorf("the function got %+v", ev)
		}
	})
	for _, tt := range []struct{ path, body string }{{"/fail", `{}`}, {"/sleep", `{"ms":3000}`}} {
		t.Run(tt.path+" answers 502", func(t *testing.T) {
			resp, err := http.Post(srv.URL+tt.path, "application/json", strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 502 || string(body) != `{"message":"Internal Server Error"}` {
				t.Errorf("got %d %s, want 502 {\"message\":\"Internal Server Error\"}", resp.StatusCode, body)
			}
		})
	}
}

// Lambda takes at most 6 MB in a synchronous invocation, and a body that is
// not text travels base64-encoded in the event: a JSON body of 7 MiB, or a
// binary one of 4.6 MiB (6.1 MiB encoded), is refused with 413 naming the
// limit; a binary body of 4.4 MiB goes through.
func TestPayloadLimitThroughLambda(t *testing.T) {
	echo := startFunction(t, "echo", 10*time.Second)
	srv := httptest.NewServer(newAPI(t, httpapi.Route{Method: "POST", Path: "/events", Function: echo, FunctionName: "echo"}))
	defer srv.Close()
	const mib = 1 << 20
	tests := []struct {
		name, contentType string
		size              int
		status            int
	}{
		{"JSON of 7 MiB", "application/json", 7 * mib, 413},
		{"binary of 4.6 MiB", "application/octet-stream", 46 * mib / 10, 413},
		{"binary of 4.4 MiB", "application/octet-stream", 44 * mib / 10, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := strings.Repeat("a", tt.size)
			if tt.contentType == "application/json" {
				body = `"` + body[2:] + `"`
			}
			res, err := http.Post(srv.URL+"/events", tt.contentType, strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			got, _ := io.ReadAll(res.Body)
			if res.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %.300s", res.StatusCode, tt.status, got)
			}
			if tt.status == 413 {
				var p struct {
					Limit int `json:"limit"`
				}
				if res.Header.Get("Content-Type") != "application/problem+json" || json.Unmarshal(got, &p) != nil || p.Limit != lambdarun.MaxPayloadBytes {
					t.Errorf("answer %s %.300s, want problem+json with the limit %d", res.Header.Get("Content-Type"), got, lambdarun.MaxPayloadBytes)
				}
			}
		})
	}
}
