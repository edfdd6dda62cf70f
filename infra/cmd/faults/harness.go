package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/flowbus/flowbus/infra/faultproxy"
	"github.com/flowbus/flowbus/infra/loadgen"
)

type options struct {
	short                        bool
	publish, wait                time.Duration
	runDir, only                 string
	publishers, workflows, batch int
	verbose                      bool
	limit                        time.Duration // the whole run's
	// persistEvery is FLOWBUS_KINESIS_PERSIST_INTERVAL for the engines.
	persistEvery string
}

// consumeTimeout is the consume function's Timeout in the consume-timeout
// fault (template.yaml says 120 s, which every other fault runs with): small
// enough that the fault needs only a little latency.
const consumeTimeout = 3

// kinesisPersistInterval is how often kinesis-mock writes its whole state to
// disk when no fault needs it more often. Each write holds its one event
// loop, PutRecords included, for longer as the stream grows: at engines.sh's
// 1 s default, PutRecords stalled 2–7 s every few seconds once the stream
// held a few MB, and the publishers' acknowledged counts fell from fault to
// fault for no fault of flowbus's. A stop writes the state (engines.sh gives
// it 60 s), so kinesis-restarted keeps its data; only kinesis-killed, which
// measures what a hard kill loses, needs the 1 s interval.
const kinesisPersistInterval = "600s"

// harness is the running flowbus and what injects faults into it.
type harness struct {
	o       options
	local   *loadgen.Local
	kinesis *faultproxy.Proxy // in front of kinesis-mock, for every function and the runtime
	dynamo  *faultproxy.Proxy // in front of dynalite
	db      *dynamodb.Client  // straight to dynalite: the checker
	kin     *kinesis.Client   // straight to kinesis-mock: poison and read-back
	checker *loadgen.Checker
	n       int
	// timeout is the consume Timeout the runtime runs with, in seconds: 0
	// for template.yaml's own.
	timeout int
}

func start(ctx context.Context, o options) (*harness, error) {
	h := &harness{o: o}
	t0 := time.Now()
	var out *os.File
	if o.verbose {
		out = os.Stdout
	}
	lo := loadgen.LocalOptions{
		RunDir:    o.runDir,
		EngineEnv: map[string]string{"FLOWBUS_KINESIS_PERSIST_INTERVAL": o.persistEvery},
		Endpoints: func(engines map[string]string) (map[string]string, error) {
			used := map[string]string{}
			for k, v := range engines {
				used[k] = v
			}
			var err error
			if h.kinesis, err = faultproxy.Start(ctx, faultproxy.Options{Target: engines["AWS_ENDPOINT_URL_KINESIS"]}); err != nil {
				return nil, err
			}
			if h.dynamo, err = faultproxy.Start(ctx, faultproxy.Options{Target: engines["AWS_ENDPOINT_URL_DYNAMODB"]}); err != nil {
				return nil, err
			}
			used["AWS_ENDPOINT_URL_KINESIS"] = h.kinesis.URL()
			used["AWS_ENDPOINT_URL_DYNAMODB"] = h.dynamo.URL()
			return used, nil
		},
	}
	if out != nil {
		lo.Out = out
	}
	local, err := loadgen.StartLocal(ctx, lo)
	if err != nil {
		h.closeProxies()
		return nil, err
	}
	h.local = local
	if h.db, err = local.DynamoDB(ctx); err != nil {
		_ = h.close()
		return nil, err
	}
	if h.kin, err = local.Kinesis(ctx); err != nil {
		_ = h.close()
		return nil, err
	}
	h.checker = &loadgen.Checker{DB: h.db, Table: local.Table}
	fmt.Printf("flowbus up at %s in %s: engines in %s (kinesis-mock persists every %s), functions through fault proxies (kinesis %s, dynamodb %s), template.yaml's settings; runtime log %s\n",
		local.URL(), time.Since(t0).Round(time.Millisecond), local.EngineDir(), o.persistEvery, h.kinesis.URL(), h.dynamo.URL(), filepath.Join(local.RunDir, "dev.log"))
	return h, nil
}

// useConsumeTimeout restarts the runtime (same engines, run dir and
// checkpoints) with the consume function's Timeout at seconds, 0 meaning
// template.yaml's own, unless it runs with that already.
func (h *harness) useConsumeTimeout(ctx context.Context, seconds int) error {
	if h.timeout == seconds {
		return nil
	}
	t0 := time.Now()
	var tpl func(string) string
	if seconds > 0 {
		tpl = func(y string) string { return setConsumeTimeout(y, seconds) }
	}
	if err := h.local.RestartRuntime(ctx, tpl); err != nil {
		return err
	}
	h.timeout = seconds
	what := "template.yaml's"
	if seconds > 0 {
		what = fmt.Sprintf("%d s", seconds)
	}
	fmt.Printf("   runtime restarted with consume Timeout %s in %s, at %s\n", what, time.Since(t0).Round(time.Millisecond), h.local.URL())
	return nil
}

// setConsumeTimeout sets the consume function's Timeout in template.yaml.
func setConsumeTimeout(y string, seconds int) string {
	i := strings.Index(y, "  ConsumeFunction:")
	if i < 0 {
		return y
	}
	j := strings.Index(y[i:], "      Timeout: ")
	if j < 0 {
		return y
	}
	j += i
	k := strings.IndexByte(y[j:], '\n') + j
	return y[:j] + fmt.Sprintf("      Timeout: %d", seconds) + y[k:]
}

func (h *harness) closeProxies() {
	for _, p := range []*faultproxy.Proxy{h.kinesis, h.dynamo} {
		if p != nil {
			_ = p.Close()
		}
	}
}

func (h *harness) close() error {
	var err error
	if h.local != nil {
		err = h.local.Close()
	}
	h.closeProxies()
	return err
}

// scenario is one fault.
type scenario struct {
	name, what string
	short      bool // part of -short
	// unavailable, when it returns a reason, skips the scenario.
	unavailable func(h *harness) string
	// during runs while the publishers publish; it must return when ctx
	// ends and leave everything healthy.
	during func(ctx context.Context, h *harness, r *trial) error
	// after runs once the publishers stopped, before the check.
	after func(ctx context.Context, h *harness, r *trial) error
	// extra workflows the scenario publishes to, by suffix (e.g. "poison").
	extra []string
	// consumeTimeout, when set, is the consume function's Timeout in
	// seconds for this fault (the runtime is restarted with it).
	consumeTimeout int
	// persistKinesis: the fault needs kinesis-mock to write its state to
	// disk every second (engines.sh's default), not every kinesisPersistInterval.
	persistKinesis bool
}

// trial is one scenario's state.
type trial struct {
	prefix  string
	extra   map[string]string // suffix → workflow id
	expect  loadgen.Expect
	started time.Time
	notes   []string
	counts  map[string]int
	order   []string // of counts
	mu      sync.Mutex
}

// allNotes is the notes with the counts first.
func (r *trial) allNotes() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, k := range r.order {
		out = append(out, fmt.Sprintf("%s %d", k, r.counts[k]))
	}
	return append(out, r.notes...)
}

func (r *trial) note(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
}

type result struct {
	name, verdict, note, details string
	rep                          *loadgen.Report
	took                         time.Duration
}

func (h *harness) runScenario(ctx context.Context, sc scenario) (res result) {
	res = result{name: sc.name}
	t0 := time.Now()
	defer func() { res.took = time.Since(t0) }()
	if sc.unavailable != nil {
		if why := sc.unavailable(h); why != "" {
			res.verdict, res.note = "N/A", why
			return res
		}
	}
	if err := h.useConsumeTimeout(ctx, sc.consumeTimeout); err != nil {
		res.verdict, res.note = "FAIL", "runtime: "+err.Error()
		return res
	}
	h.n++
	logAt := h.logSize()
	r := &trial{prefix: fmt.Sprintf("f%d%s-%s", h.n, time.Now().Format("150405"), sc.name), extra: map[string]string{}, started: time.Now()}
	cfg := loadgen.Config{URL: h.local.URL(), Token: h.local.Token(), Publishers: h.o.publishers, Workflows: h.o.workflows, Batch: h.o.batch,
		Duration: h.o.publish, Prefix: r.prefix, Timeout: 60 * time.Second}
	for _, s := range sc.extra {
		wf := r.prefix + "-" + s
		r.extra[s] = wf
		cfg.Extra = append(cfg.Extra, wf)
	}
	fctx, cancel := context.WithCancel(ctx)
	var faultErr error
	done := make(chan struct{})
	if sc.during != nil {
		go func() {
			defer close(done)
			faultErr = sc.during(fctx, h, r)
		}()
	} else {
		close(done)
	}
	ledger := loadgen.Run(ctx, cfg)
	cancel()
	<-done
	h.heal()
	if faultErr != nil {
		r.note("fault: %v", faultErr)
	}
	if sc.after != nil {
		if err := sc.after(ctx, h, r); err != nil {
			res.verdict, res.note = "FAIL", "scenario: "+err.Error()
			res.details = strings.Join(r.allNotes(), "\n")
			return res
		}
	}
	rep, err := h.checker.Check(ctx, ledger, loadgen.CheckOptions{Wait: h.o.wait, Stall: 45 * time.Second, Prefix: r.prefix, Expect: r.expect})
	if err != nil {
		res.verdict, res.note = "FAIL", "check: "+err.Error()
		return res
	}
	res.rep = rep
	r.note("consume invocations: %s", h.invocations(logAt))
	res.verdict = "PASS"
	if !rep.OK() || faultErr != nil {
		res.verdict = "FAIL"
		res.details = rep.Details(15)
	}
	if rep.Acked == 0 {
		// Nothing acknowledged, nothing to check: the fault proved nothing
		// (an engine left down by an earlier fault, the publish API failing).
		res.verdict = "FAIL"
		r.note("no event acknowledged: nothing was tested")
	}
	r.note("publishing: %s", ledger.RequestSummary())
	if ledger.FailedRequests > 0 {
		r.note("%d requests failed as a whole (%s)", ledger.FailedRequests, strings.Join(ledger.RequestErrors, "; "))
	}
	res.note = strings.Join(r.allNotes(), "; ")
	return res
}

// heal switches every fault off and continues any stopped engine.
func (h *harness) heal() {
	_ = h.kinesis.Set(faultproxy.Faults{})
	_ = h.dynamo.Set(faultproxy.Faults{})
	for _, name := range []string{"dynalite", "kinesis-local"} {
		if pid := h.local.EnginePID(name); pid > 0 {
			_ = sigcont(pid)
		}
	}
}

func (r result) line() string {
	if r.rep == nil {
		return fmt.Sprintf("%s  %s  (%s)", r.verdict, r.note, r.took.Round(time.Second))
	}
	s := fmt.Sprintf("%s  %s  (%s)", r.verdict, r.rep.Summary(), r.took.Round(time.Second))
	if r.note != "" {
		s += "\n   note: " + r.note
	}
	return s
}

func printTable(results []result) {
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "scenario\tacked\tstored\tmissing\tduplicates\tout of order\tgaps\tparked expected\tparked wrong\tunacked (stored)\tresult\t")
	for _, r := range results {
		if r.rep == nil {
			fmt.Fprintf(w, "%s\t-\t-\t-\t-\t-\t-\t-\t-\t-\t%s\t\n", r.name, r.verdict)
			continue
		}
		p := r.rep
		fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d (%d)\t%s\t\n", r.name, p.Acked, p.Stored, p.Missing, p.Duplicates, p.OutOfOrder, p.Gaps,
			p.ParkedExpected, p.ParkedWrong, p.Unacked, p.StoredUnacked, r.verdict)
	}
	_ = w.Flush()
	for _, r := range results {
		if r.verdict == "N/A" || (r.rep == nil && r.note != "") {
			fmt.Printf("%s: %s\n", r.name, r.note)
		}
	}
}

func (h *harness) logPath() string { return filepath.Join(h.local.RunDir, "dev.log") }

func (h *harness) logSize() int64 {
	fi, err := os.Stat(h.logPath())
	if err != nil {
		return 0
	}
	return fi.Size()
}

// invocations counts the consume function's invocations since the runtime's
// log had size from, by outcome: evidence the fault happened.
func (h *harness) invocations(from int64) string {
	if h.o.verbose {
		return "(printed above)"
	}
	b, err := os.ReadFile(h.logPath())
	if err != nil || int64(len(b)) < from {
		return "unknown"
	}
	counts := map[string]int{}
	order := []string{"ok", "partial", "timed out", "runtime exited", "error"}
	for _, line := range strings.Split(string(b[from:]), "\n") {
		if !strings.HasPrefix(line, "invoke  "+consumeFunction) {
			continue
		}
		switch {
		case strings.HasSuffix(line, " ok"):
			counts["ok"]++
		case strings.Contains(line, "partial"):
			counts["partial"]++
		case strings.Contains(line, "imed out"), strings.Contains(line, "Timedout"), strings.Contains(line, "Timeout"):
			counts["timed out"]++
		case strings.Contains(line, "Runtime.ExitError"):
			counts["runtime exited"]++
		default:
			counts["error"]++
		}
	}
	var parts []string
	for _, k := range order {
		if counts[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[k], k))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
