// Command faults runs flowbus locally (engines of its own, the local
// runtime, the functions' AWS endpoints through fault proxies), publishes
// through the HTTP API while each fault happens, then checks the event store
// against every acknowledged event and prints one line per fault: what was
// acknowledged, stored, missing, stored twice, out of order and parked, and
// PASS or FAIL. Everything listens on loopback; every step is bounded.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	ok, err := run()
	if err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}

func run() (bool, error) {
	var o options
	flag.BoolVar(&o.short, "short", false, "a few seconds per fault (what make test runs)")
	flag.DurationVar(&o.publish, "publish", 0, "publishing time per fault (default 20s, 6s with -short)")
	flag.DurationVar(&o.wait, "wait", 0, "how long the consumer may take to catch up after each fault (default 120s, 60s with -short)")
	flag.StringVar(&o.runDir, "run-dir", "", "where the engines and runtime run (default: a new temporary dir, removed after)")
	flag.StringVar(&o.only, "run", "", "only the faults whose name contains one of these comma-separated words")
	flag.IntVar(&o.publishers, "publishers", 4, "publishers per fault")
	flag.IntVar(&o.workflows, "workflows", 16, "workflows per fault")
	flag.IntVar(&o.batch, "batch", 50, "events per request")
	flag.BoolVar(&o.verbose, "v", false, "print the runtime's invocation lines")
	flag.DurationVar(&o.limit, "timeout", 0, "stop everything and fail once the whole run took this long (0: no limit)")
	flag.Parse()
	if o.publish == 0 {
		o.publish = map[bool]time.Duration{false: 20 * time.Second, true: 6 * time.Second}[o.short]
	}
	if o.wait == 0 {
		o.wait = map[bool]time.Duration{false: 120 * time.Second, true: 60 * time.Second}[o.short]
	}
	var selected []scenario
	selected, o.persistEvery = selectScenarios(o.only, o.short)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.limit > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.limit)
		defer cancel()
	}
	if o.runDir == "" {
		tmp, err := os.MkdirTemp("", "flowbus-faults-")
		if err != nil {
			return false, err
		}
		defer os.RemoveAll(tmp)
		o.runDir = tmp
	}
	h, err := start(ctx, o)
	if err != nil {
		return false, err
	}
	defer func() {
		if err := h.close(); err != nil {
			fmt.Fprintln(os.Stderr, "faults: stop:", err)
		}
	}()
	var results []result
	for _, sc := range selected {
		if ctx.Err() != nil {
			break
		}
		fmt.Printf("── %s: %s\n", sc.name, sc.what)
		res := h.runScenario(ctx, sc)
		results = append(results, res)
		fmt.Println("   " + res.line())
		if res.details != "" {
			fmt.Print(indent(res.details))
		}
	}
	fmt.Println()
	printTable(results)
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		fmt.Printf("FAIL: the run took more than -timeout %s; stopped\n", o.limit)
		return false, nil
	}
	ok := true
	for _, r := range results {
		if r.verdict == "FAIL" {
			ok = false
		}
	}
	return ok, nil
}

// selectScenarios returns the faults to run, in order, and how often
// kinesis-mock must write its state to disk for them.
func selectScenarios(only string, short bool) (selected []scenario, persistEvery string) {
	persistEvery = kinesisPersistInterval
	for _, sc := range scenarios() {
		if (only != "" && !matches(sc.name, only)) || (short && !sc.short) {
			continue
		}
		selected = append(selected, sc)
		if sc.persistKinesis {
			persistEvery = "1s"
		}
	}
	return selected, persistEvery
}

func matches(name, words string) bool {
	for _, w := range strings.Split(words, ",") {
		if w != "" && strings.Contains(name, w) {
			return true
		}
	}
	return false
}

func indent(s string) string {
	return "   " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n   ") + "\n"
}
