package lambdarun

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestSpecValidate(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "bootstrap")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ok := Spec{Name: "F", Bootstrap: exe, RIE: exe, MemoryMB: 128, Timeout: 3 * time.Second, PoolSize: 1}
	tests := []struct {
		name   string
		change func(*Spec)
		want   []string // substrings of the error, none for a valid spec
	}{
		{"valid", func(*Spec) {}, nil},
		{"defaults", func(s *Spec) { *s = Spec{Name: "F", Bootstrap: exe, RIE: exe}.withDefaults() }, nil},
		{"no name", func(s *Spec) { s.Name = "" }, []string{"name is empty"}},
		{"missing bootstrap", func(s *Spec) { s.Bootstrap = filepath.Join(dir, "nope") }, []string{"bootstrap:"}},
		{"bootstrap not executable", func(s *Spec) { s.Bootstrap = plain }, []string{"not an executable"}},
		{"fractional timeout", func(s *Spec) { s.Timeout = 1500 * time.Millisecond }, []string{"whole seconds"}},
		{"timeout too long", func(s *Spec) { s.Timeout = 901 * time.Second }, []string{"whole seconds"}},
		{"memory too small", func(s *Spec) { s.MemoryMB = 64 }, []string{"memory 64 MB"}},
		{"pool", func(s *Spec) { s.PoolSize = 0 }, []string{"pool size 0"}},
		{"reserved env", func(s *Spec) {
			s.Env = map[string]string{"AWS_REGION": "x", "AWS_LAMBDA_MAX_CONCURRENCY": "2", "TABLE": "t"}
		}, []string{"AWS_REGION is reserved", "AWS_LAMBDA_MAX_CONCURRENCY is reserved"}},
		{"every problem at once", func(s *Spec) { s.Name, s.MemoryMB, s.PoolSize = "", 1, -1 }, []string{"name is empty", "memory 1 MB", "pool size -1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ok
			tt.change(&s)
			err := s.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want an error with %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q, want it to contain %q", err, w)
				}
			}
		})
	}
}

func TestSpecEnviron(t *testing.T) {
	spec := Spec{Name: "PublishFunction", MemoryMB: 256, Timeout: 10 * time.Second,
		Env: map[string]string{"STREAM_NAME": "events", "TZ": "Europe/Paris", "AWS_ENDPOINT_URL_KINESIS": "http://template"}}
	base := map[string]string{
		"AWS_DEFAULT_REGION":              "us-east-1",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
		"AWS_LAMBDA_FUNCTION_NAME":        "PublishFunction",
		"AWS_LAMBDA_FUNCTION_TIMEOUT":     "10",
		"AWS_LAMBDA_FUNCTION_VERSION":     "$LATEST",
		"AWS_LAMBDA_INITIALIZATION_TYPE":  "on-demand",
		"AWS_LAMBDA_LOG_GROUP_NAME":       "/aws/lambda/PublishFunction",
		"AWS_LAMBDA_LOG_STREAM_NAME":      "stream",
		"AWS_REGION":                      "us-east-1",
		"AWS_ENDPOINT_URL_KINESIS":        "http://template",
		"LAMBDA_TASK_ROOT":                "/task",
		"LANG":                            "en_US.UTF-8",
		"PATH":                            "/usr/local/bin:/usr/bin/:/bin:/opt/bin",
		"STREAM_NAME":                     "events",
		"TZ":                              "Europe/Paris",
		"_HANDLER":                        "bootstrap",
		"AWS_SAM_LOCAL":                   "true",
	}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name   string
		parent []string
		want   map[string]string
	}{
		{"nothing from the caller", []string{"HOME=/root", "FOO=bar", "PATH=/x", "GOFLAGS=-v"}, base},
		{"credentials and endpoints pass through", []string{
			"AWS_ACCESS_KEY_ID=key", "AWS_SECRET_ACCESS_KEY=secret", "AWS_SESSION_TOKEN=token",
			"AWS_ENDPOINT_URL=http://127.0.0.1:4566", "AWS_ENDPOINT_URL_KINESIS=http://127.0.0.1:4567",
			"AWS_PROFILE=dev", "AWS_LAMBDA_MAX_CONCURRENCY=4",
		}, with("AWS_ACCESS_KEY_ID", "key", "AWS_SECRET_ACCESS_KEY", "secret", "AWS_SESSION_TOKEN", "token",
			"AWS_ENDPOINT_URL", "http://127.0.0.1:4566", "AWS_ENDPOINT_URL_KINESIS", "http://127.0.0.1:4567")},
		{"region from AWS_REGION", []string{"AWS_REGION=eu-west-1", "AWS_DEFAULT_REGION=eu-central-1"},
			with("AWS_REGION", "eu-west-1", "AWS_DEFAULT_REGION", "eu-west-1")},
		{"region from AWS_DEFAULT_REGION", []string{"AWS_DEFAULT_REGION=eu-central-1"},
			with("AWS_REGION", "eu-central-1", "AWS_DEFAULT_REGION", "eu-central-1")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := map[string]string{}
			for _, kv := range spec.environ(tt.parent, "/task", "stream") {
				k, v, _ := strings.Cut(kv, "=")
				got[k] = v
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("environ() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReport(t *testing.T) {
	tests := []struct {
		name string
		res  Result
		want string
	}{
		{"warm", Result{RequestID: "id", Duration: 1234567 * time.Nanosecond, Billed: 2 * time.Millisecond, MaxMemoryMB: 12},
			"REPORT RequestId: id\tDuration: 1.23 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB\tMax Memory Used: 12 MB\t"},
		{"cold", Result{RequestID: "id", Duration: time.Millisecond, Billed: 16 * time.Millisecond, InitDuration: 14500 * time.Microsecond, MaxMemoryMB: 12},
			"REPORT RequestId: id\tDuration: 1.00 ms\tBilled Duration: 16 ms\tMemory Size: 128 MB\tMax Memory Used: 12 MB\tInit Duration: 14.50 ms\t"},
		{"timeout", Result{RequestID: "id", Duration: time.Second, Billed: time.Second, ErrorType: errTypeTimeout},
			"REPORT RequestId: id\tDuration: 1000.00 ms\tBilled Duration: 1000 ms\tMemory Size: 128 MB\tMax Memory Used: 0 MB\tStatus: timeout"},
		{"exit", Result{RequestID: "id", Duration: time.Millisecond, Billed: time.Millisecond, ErrorType: errTypeExit},
			"REPORT RequestId: id\tDuration: 1.00 ms\tBilled Duration: 1 ms\tMemory Size: 128 MB\tMax Memory Used: 0 MB\tStatus: error\tError Type: Runtime.ExitError"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := report(tt.res, 128); got != tt.want {
				t.Errorf("report() = %q, want %q", got, tt.want)
			}
		})
	}
	if got, want := billed(1200*time.Microsecond, 14500*time.Microsecond), 16*time.Millisecond; got != want {
		t.Errorf("billed() = %v, want %v", got, want)
	}
}
