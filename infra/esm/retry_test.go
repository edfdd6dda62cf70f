package esm

import (
	"context"
	"errors"
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

// The settings template.yaml gives the consume mapping.
func templateConfig() Config {
	cfg := testConfig()
	cfg.MaximumRetryAttempts = -1
	cfg.MaximumRecordAge = 82800 * time.Second
	cfg.BisectBatchOnFunctionError = true
	cfg.ReportBatchItemFailures = true
	return cfg
}

func TestTemplateSettingsAreValid(t *testing.T) {
	if err := templateConfig().Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestFunctionErrorsAreRetriedForever: with MaximumRetryAttempts -1 a batch
// that keeps failing is retried, with a growing pause capped at the poll
// interval, and never given up on.
func TestFunctionErrorsAreRetriedForever(t *testing.T) {
	k := newFakeKinesis(shard0)
	k.put(shard0, "k", "a")
	last := k.put(shard0, "k", "b")
	var mu sync.Mutex
	var at []time.Time
	fn := &fakeFunction{handle: func(_ context.Context, c call) ([]byte, error) {
		mu.Lock()
		defer mu.Unlock()
		at = append(at, time.Now())
		if len(at) <= 30 {
			return nil, &FunctionError{Type: "Runtime.ExitError", Message: "signal: killed"}
		}
		return nil, nil
	}}
	dest := &fakeDestination{}
	cfg := templateConfig()
	cfg.PollInterval = 40 * time.Millisecond
	cp := NewMemoryCheckpoints()
	m := newMapping(t, cfg, k, fn, dest, cp)
	start(t, m)
	eventually(t, 10*time.Second, "the checkpoint at the last record", func() bool { return checkpoint(t, cp, m, shard0) == last })
	if n := len(dest.records(t)); n != 0 {
		t.Errorf("destination got %d records, want none", n)
	}
	mu.Lock()
	defer mu.Unlock()
	// The batch of two is bisected at once; then the first half is retried
	// with pauses from PollInterval/10 doubling to PollInterval.
	var gaps []time.Duration // before each retry: the 3rd to the 31st call
	for i := 2; i <= 30; i++ {
		gaps = append(gaps, at[i].Sub(at[i-1]))
	}
	for i, g := range gaps[6:] {
		if g < cfg.PollInterval*9/10 {
			t.Errorf("pause %d before a retry = %s, want at least the cap %s once it is reached", i+6, g, cfg.PollInterval)
			break
		}
	}
	for i, g := range gaps {
		if g > 3*cfg.PollInterval {
			t.Errorf("pause %d before a retry = %s, want at most about %s", i, g, cfg.PollInterval)
		}
	}
}

// lambdaInvoker is what infra/devrun gives a mapping: a function under the
// Runtime Interface Emulator.
type lambdaInvoker struct{ fn *lambdarun.Function }

func (i lambdaInvoker) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	res, err := i.fn.Invoke(ctx, payload)
	if err != nil {
		return nil, err
	}
	if res.FunctionError != "" {
		return res.Payload, &FunctionError{Type: res.ErrorType, Message: strings.TrimSpace(string(res.Payload))}
	}
	return res.Payload, nil
}

// TestBootstrapKilledMidInvocation runs a real function under the emulator
// and kills its bootstrap with SIGKILL while it handles a batch: the batch
// is retried (the environment starts the bootstrap again) and every record
// is handled, none given up on, in order.
func TestBootstrapKilledMidInvocation(t *testing.T) {
	rie, err := lambdarun.LookRIE()
	if err != nil {
		if os.Getenv(testenv.EnvRequire) != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	bootstrap, err := lambdarun.Build(ctx, filepath.Join("testdata", "crashonce"), filepath.Join(dir, "build"))
	if err != nil {
		t.Fatal(err)
	}
	out, pidFile := filepath.Join(dir, "out"), filepath.Join(dir, "pid")
	fn, err := lambdarun.Start(ctx, lambdarun.Spec{
		Name: "consume", Bootstrap: bootstrap, RIE: rie, Timeout: 30 * time.Second, PoolSize: 1,
		Env: map[string]string{"CRASH_OUT": out, "CRASH_PID": pidFile},
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fn.Close() })

	k := newFakeKinesis(shard0)
	want := []string{"a", "b", "sleep", "c", "d"}
	var last string
	for _, d := range want {
		last = k.put(shard0, "k", d)
	}
	dest := &fakeDestination{}
	cfg := templateConfig()
	cfg.PollInterval = 50 * time.Millisecond
	cfg.MaximumBatchingWindow = 100 * time.Millisecond
	cp := NewMemoryCheckpoints()
	m := newMapping(t, cfg, k, lambdaInvoker{fn}, dest, cp)
	var mu sync.Mutex
	var results []string
	m.OnInvoke(func(r Report) {
		mu.Lock()
		defer mu.Unlock()
		results = append(results, r.Result)
	})
	start(t, m)

	var pid int
	eventually(t, 30*time.Second, "the bootstrap sleeping", func() bool {
		b, err := os.ReadFile(pidFile)
		pid, _ = strconv.Atoi(string(b))
		return err == nil && pid > 0
	})
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "the checkpoint at the last record", func() bool { return checkpoint(t, cp, m, shard0) == last })

	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	// The records before "sleep" were handled by the killed invocation too:
	// a retry handles them again, as Lambda's would. What counts is that
	// every record is handled, the last handling of each in order.
	got := strings.Fields(string(b))
	seen := map[string]bool{}
	var uniq []string
	for _, d := range got {
		if !seen[d] {
			seen[d] = true
			uniq = append(uniq, d)
		}
	}
	if diff := cmp.Diff(want, uniq); diff != "" {
		t.Errorf("records handled (-want +got):\n%s\nall: %v", diff, got)
	}
	if n := len(dest.records(t)); n != 0 {
		t.Errorf("destination got %d records, want none", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(strings.Join(results, "\n"), "Runtime.ExitError") {
		t.Errorf("reports %q, want one Runtime.ExitError", results)
	}
	for _, r := range results {
		if strings.HasPrefix(r, "gave up") {
			t.Errorf("report %q: nothing may be given up on", r)
		}
	}
}
