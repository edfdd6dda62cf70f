package lambdarun_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flowbus/flowbus/infra/lambdarun"
	"github.com/flowbus/flowbus/shared/testenv"
)

// The test functions in testdata/, built once for the whole run.
var (
	buildDir  string
	buildOnce sync.Once
	built     map[string]string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// bootstrap returns the built test function name (a directory of testdata/).
func bootstrap(t *testing.T, name string) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "lambdarun-test-")
		if buildErr != nil {
			return
		}
		names := []string{"echo", "sleep", "fail", "panic", "env", "exit"}
		paths := make([]string, len(names))
		errs := make([]error, len(names))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		var wg sync.WaitGroup
		for i, n := range names {
			wg.Go(func() {
				paths[i], errs[i] = lambdarun.Build(ctx, filepath.Join("testdata", n), filepath.Join(buildDir, n))
			})
		}
		wg.Wait()
		built = map[string]string{}
		for i, n := range names {
			built[n] = paths[i]
		}
		buildErr = errors.Join(errs...)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return built[name]
}

// rie finds the emulator: a failure under make test, a skip when a
// developer runs this package by hand without it.
func rie(t *testing.T) string {
	t.Helper()
	p, err := lambdarun.LookRIE()
	if err != nil {
		if os.Getenv(testenv.EnvRequire) != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	return p
}

// start starts the test function name and closes it when t ends, checking
// that no process is left behind.
func start(t *testing.T, name string, change func(*lambdarun.Spec)) *lambdarun.Function {
	t.Helper()
	spec := lambdarun.Spec{Name: name, Bootstrap: bootstrap(t, name), RIE: rie(t), Timeout: 3 * time.Second, PoolSize: 1}
	if change != nil {
		change(&spec)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	f, err := lambdarun.Start(ctx, spec, slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		pids := f.PIDs()
		if err := f.Close(); err != nil {
			t.Errorf("Close() = %v", err)
		}
		for _, pid := range pids {
			if alive(pid) {
				t.Errorf("process %d still running after Close", pid)
			}
		}
	})
	return f
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// alive tells whether pid is a running (not zombie) process.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i > 0 && i+2 < len(b) && b[i+2] != 'Z' && b[i+2] != 'X'
}

func invoke(t *testing.T, f *lambdarun.Function, payload string) lambdarun.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := f.Invoke(ctx, []byte(payload))
	if err != nil {
		t.Fatalf("Invoke(%s) = %v", payload, err)
	}
	return res
}

func TestEcho(t *testing.T) {
	f := start(t, "echo", nil)
	for i, payload := range []string{`{"hello":"world"}`, `[1,2,3]`, `"just a string"`, `{"errorMessage":"looks like one","errorType":"but is an answer"}`} {
		res := invoke(t, f, payload)
		if string(res.Payload) != payload || res.FunctionError != "" {
			t.Errorf("Invoke(%s) = %s (function error %q), want it back", payload, res.Payload, res.FunctionError)
		}
		logs := string(res.Logs)
		wantLogs := fmt.Sprintf("START RequestId: %s Version: $LATEST\necho %d bytes\nEND RequestId: %[1]s\n%[3]s\n", res.RequestID, len(payload), res.Report)
		if logs != wantLogs {
			t.Errorf("Logs = %q, want %q", logs, wantLogs)
		}
		if !strings.HasPrefix(res.Report, "REPORT RequestId: "+res.RequestID+"\tDuration: ") || !strings.Contains(res.Report, "\tMemory Size: 128 MB\t") {
			t.Errorf("Report = %q, want Lambda's REPORT line", res.Report)
		}
		if cold := i == 0; cold != (res.InitDuration > 0) || cold != strings.Contains(res.Report, "Init Duration: ") {
			t.Errorf("invocation %d: InitDuration = %v, report %q; want init on the first only", i, res.InitDuration, res.Report)
		}
		if res.MaxMemoryMB <= 0 || res.MaxMemoryMB > 128 {
			t.Errorf("MaxMemoryMB = %d, want the runtime's peak memory", res.MaxMemoryMB)
		}
		if res.Billed < res.Duration+res.InitDuration || res.Billed%time.Millisecond != 0 {
			t.Errorf("Billed = %v, want Duration %v + Init %v rounded up to the ms", res.Billed, res.Duration, res.InitDuration)
		}
	}
}

func TestEnvironment(t *testing.T) {
	t.Setenv("FOO", "must not leak")
	t.Setenv("AWS_PROFILE", "must not leak")
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "test-key")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
	t.Setenv("AWS_SESSION_TOKEN", "test-token")
	for _, kv := range os.Environ() { // make test's engines would pass through too
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "AWS_ENDPOINT_URL") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	t.Setenv("AWS_ENDPOINT_URL_KINESIS", "http://127.0.0.1:4567")
	f := start(t, "env", func(s *lambdarun.Spec) {
		s.Name, s.MemoryMB, s.Timeout = "EnvFunction", 256, 7*time.Second
		s.Env = map[string]string{"STREAM_NAME": "events", "LOG_LEVEL": "debug"}
	})
	res := invoke(t, f, `{}`)
	var got map[string]string
	if err := json.Unmarshal(res.Payload, &got); err != nil {
		t.Fatalf("env answered %s: %v", res.Payload, err)
	}
	// Set per process: check their shape, then leave them out.
	for k, check := range map[string]func(string) bool{
		"AWS_LAMBDA_RUNTIME_API":     isLoopback,
		"AWS_LAMBDA_METADATA_API":    isLoopback,
		"AWS_LAMBDA_METADATA_TOKEN":  func(v string) bool { return v != "" },
		"AWS_LAMBDA_LOG_STREAM_NAME": func(v string) bool { return strings.Contains(v, "/[$LATEST]") },
		"LAMBDA_TASK_ROOT":           func(v string) bool { return v == filepath.Dir(bootstrap(t, "env")) },
	} {
		if !check(got[k]) {
			t.Errorf("%s = %q", k, got[k])
		}
		delete(got, k)
	}
	want := map[string]string{
		"STREAM_NAME":                     "events",
		"LOG_LEVEL":                       "debug",
		"AWS_REGION":                      "eu-west-1",
		"AWS_DEFAULT_REGION":              "eu-west-1",
		"AWS_ACCESS_KEY_ID":               "test-key",
		"AWS_SECRET_ACCESS_KEY":           "test-secret",
		"AWS_SESSION_TOKEN":               "test-token",
		"AWS_ENDPOINT_URL_KINESIS":        "http://127.0.0.1:4567",
		"AWS_LAMBDA_FUNCTION_NAME":        "EnvFunction",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
		"AWS_LAMBDA_FUNCTION_TIMEOUT":     "7",
		"AWS_LAMBDA_FUNCTION_VERSION":     "$LATEST",
		"AWS_LAMBDA_INITIALIZATION_TYPE":  "on-demand",
		"AWS_LAMBDA_LOG_GROUP_NAME":       "/aws/lambda/EnvFunction",
		"_HANDLER":                        "bootstrap",
		"_X_AMZN_TRACE_ID":                "",
		"LANG":                            "en_US.UTF-8",
		"PATH":                            "/usr/local/bin:/usr/bin/:/bin:/opt/bin",
		"TZ":                              ":UTC",
		"AWS_SAM_LOCAL":                   "true",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("function environment mismatch (-want +got):\n%s", diff)
	}
}

func isLoopback(v string) bool { return strings.HasPrefix(v, "127.0.0.1:") }

func TestFunctionError(t *testing.T) {
	tests := []struct {
		function, errType, message string
	}{
		{"fail", "errorString", "boom"},
		{"panic", "string", "kaboom"}, // aws-lambda-go reports the panic, then the runtime exits
	}
	for _, tt := range tests {
		t.Run(tt.function, func(t *testing.T) {
			f := start(t, tt.function, nil)
			for range 2 { // the environment still serves after the error
				res := invoke(t, f, `{}`)
				var doc struct{ ErrorMessage, ErrorType string }
				if err := json.Unmarshal(res.Payload, &doc); err != nil {
					t.Fatalf("payload %s: %v", res.Payload, err)
				}
				if res.FunctionError != "Unhandled" || res.ErrorType != tt.errType || doc.ErrorType != tt.errType || doc.ErrorMessage != tt.message {
					t.Errorf("Invoke() = function error %q, type %q, payload %s; want Unhandled, %q, message %q",
						res.FunctionError, res.ErrorType, res.Payload, tt.errType, tt.message)
				}
				if res.Outcome() != "error" || !strings.Contains(string(res.Logs), tt.message) {
					t.Errorf("Outcome() = %q, logs %q; want error, and the error logged", res.Outcome(), res.Logs)
				}
			}
		})
	}
}

func TestInitError(t *testing.T) {
	f := start(t, "exit", func(s *lambdarun.Spec) { s.Env = map[string]string{"EXIT_CODE": "3"} })
	for range 2 { // each invocation inits again, and fails again
		res := invoke(t, f, `{}`)
		want := fmt.Sprintf(`{"errorMessage":"RequestId: %s Error: Runtime exited with error: exit status 3","errorType":"Runtime.ExitError"}`, res.RequestID)
		if res.FunctionError != "Unhandled" || res.ErrorType != "Runtime.ExitError" || string(res.Payload) != want {
			t.Errorf("Invoke() = function error %q, type %q, payload %s; want Unhandled, Runtime.ExitError, %s", res.FunctionError, res.ErrorType, res.Payload, want)
		}
		if !strings.Contains(string(res.Logs), "exit: EXIT_CODE is set, giving up\n") || !strings.HasSuffix(res.Report, "\tStatus: error\tError Type: Runtime.ExitError") {
			t.Errorf("Logs = %q, want the function's last words and an error status", res.Logs)
		}
	}
}

func pidOf(t *testing.T, res lambdarun.Result) int {
	t.Helper()
	var out struct{ PID int }
	if err := json.Unmarshal(res.Payload, &out); err != nil || out.PID == 0 {
		t.Fatalf("sleep answered %s (function error %q): %v", res.Payload, res.FunctionError, err)
	}
	return out.PID
}

func TestTimeout(t *testing.T) {
	f := start(t, "sleep", func(s *lambdarun.Spec) { s.Timeout = time.Second })
	before := pidOf(t, invoke(t, f, `{"ms":1}`))

	begin := time.Now()
	res := invoke(t, f, `{"ms":5000}`)
	took := time.Since(begin)
	if took < time.Second || took > 3*time.Second {
		t.Errorf("a timed out invocation took %v, want about its 1 s Timeout", took)
	}
	want := fmt.Sprintf(`{"errorMessage":"RequestId: %s Error: Task timed out after 1.00 seconds","errorType":"Sandbox.Timedout"}`, res.RequestID)
	if res.FunctionError != "Unhandled" || res.ErrorType != "Sandbox.Timedout" || string(res.Payload) != want {
		t.Errorf("Invoke() = function error %q, type %q, payload %s; want Unhandled, Sandbox.Timedout, %s", res.FunctionError, res.ErrorType, res.Payload, want)
	}
	if res.Duration != time.Second || !strings.HasSuffix(res.Report, "\tStatus: timeout") || res.Outcome() != "timeout" {
		t.Errorf("Duration = %v, Report = %q, Outcome = %q; want 1s, a timeout status", res.Duration, res.Report, res.Outcome())
	}
	if alive(before) {
		t.Errorf("runtime %d still running after its invocation timed out", before)
	}

	after := pidOf(t, invoke(t, f, `{"ms":1}`))
	if after == before {
		t.Errorf("the invocation after a timeout ran in process %d, the timed out one; want a fresh process", after)
	}
}

func TestPool(t *testing.T) {
	tests := []struct {
		pool     int
		min, max time.Duration
		pids     int
	}{
		{pool: 3, min: 300 * time.Millisecond, max: 800 * time.Millisecond, pids: 3}, // serial would take 900 ms
		{pool: 1, min: 900 * time.Millisecond, max: 3 * time.Second, pids: 1},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.pool), func(t *testing.T) {
			f := start(t, "sleep", func(s *lambdarun.Spec) { s.PoolSize = tt.pool })
			run := func(ms int) (time.Duration, map[int]bool) {
				var mu sync.Mutex
				pids := map[int]bool{}
				begin := time.Now()
				var wg sync.WaitGroup
				for range 3 {
					wg.Go(func() {
						pid := pidOf(t, invoke(t, f, fmt.Sprintf(`{"ms":%d}`, ms)))
						mu.Lock()
						pids[pid] = true
						mu.Unlock()
					})
				}
				wg.Wait()
				return time.Since(begin), pids
			}
			run(1) // cold starts
			took, pids := run(300)
			if took < tt.min || took > tt.max {
				t.Errorf("3 invocations of 300 ms with %d environments took %v, want %v to %v", tt.pool, took, tt.min, tt.max)
			}
			if len(pids) != tt.pids {
				t.Errorf("they ran in %d processes, want %d", len(pids), tt.pids)
			}
		})
	}
}

func TestInvokeCanceled(t *testing.T) {
	f := start(t, "sleep", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := f.Invoke(ctx, []byte(`{"ms":2000}`))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Invoke() with a context ending first = %v, want %v", err, context.DeadlineExceeded)
	}
	pidOf(t, invoke(t, f, `{"ms":1}`)) // the environment was replaced
}

func TestClose(t *testing.T) {
	spec := lambdarun.Spec{Name: "sleep", Bootstrap: bootstrap(t, "sleep"), RIE: rie(t), PoolSize: 2}
	f, err := lambdarun.Start(context.Background(), spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	var wg sync.WaitGroup
	runtimes := make([]int, 2)
	for i := range runtimes {
		wg.Go(func() { runtimes[i] = pidOf(t, invoke(t, f, `{"ms":100}`)) })
	}
	wg.Wait()
	pids := f.PIDs()
	for _, r := range runtimes {
		if !contains(pids, r) {
			t.Errorf("PIDs() = %v, want it to hold runtime %d", pids, r)
		}
	}
	if len(pids) != 4 {
		t.Errorf("PIDs() = %v, want 2 RIE and 2 runtimes", pids)
	}

	// Close while an invocation is under way.
	done := make(chan error, 1)
	go func() {
		_, err := f.Invoke(context.Background(), []byte(`{"ms":5000}`))
		done <- err
	}()
	time.Sleep(200 * time.Millisecond)
	if err := f.Close(); err != nil {
		t.Errorf("Close() = %v", err)
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("process %d still running after Close", pid)
		}
	}
	select {
	case err := <-done:
		if err == nil {
			t.Error("an invocation under way when Close ran succeeded; want an error")
		}
	case <-time.After(5 * time.Second):
		t.Error("an invocation under way when Close ran did not return")
	}
	if _, err := f.Invoke(context.Background(), []byte(`{}`)); !errors.Is(err, lambdarun.ErrClosed) {
		t.Errorf("Invoke() after Close = %v, want %v", err, lambdarun.ErrClosed)
	}
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// TestPoolGrows: invocations that find every environment busy start more,
// up to MaxPoolSize, and then wait for one.
func TestPoolGrows(t *testing.T) {
	f := start(t, "sleep", func(s *lambdarun.Spec) { s.PoolSize, s.MaxPoolSize = 1, 3 })
	var mu sync.Mutex
	pids := map[int]int{}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			pid := pidOf(t, invoke(t, f, `{"ms":1500}`))
			mu.Lock()
			pids[pid]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if len(pids) != 3 {
		t.Errorf("4 invocations at once with 1 environment growing to 3 ran in %d processes (%v), want 3", len(pids), pids)
	}
	if got := len(f.PIDs()); got < 3 {
		t.Errorf("PIDs() lists %d processes, want the 3 environments' at least", got)
	}
}

// TestRuntimeKilledWhileIdle: a runtime killed between invocations (kill -9
// of the bootstrap, an out-of-memory kill) is not the next invocation's
// failure: as on Lambda, which retires a dead execution environment, the
// next invocation gets a fresh one (a cold start) and succeeds.
func TestRuntimeKilledWhileIdle(t *testing.T) {
	f := start(t, "sleep", nil)
	before := pidOf(t, invoke(t, f, `{"ms":1}`))
	if err := syscall.Kill(before, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for alive(before) {
		time.Sleep(10 * time.Millisecond)
	}
	res := invoke(t, f, `{"ms":1}`)
	if res.FunctionError != "" {
		t.Fatalf("the invocation after the kill failed: %s %s", res.FunctionError, res.Payload)
	}
	if after := pidOf(t, res); after == before || res.InitDuration == 0 {
		t.Errorf("after the kill: runtime %d (was %d), init %v; want a fresh runtime and a cold start", after, before, res.InitDuration)
	}
}
