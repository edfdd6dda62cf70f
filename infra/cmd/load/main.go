// Command load publishes through flowbus's HTTP API with N publishers over M
// workflows for a fixed time, then checks the event store against every
// acknowledged event and prints throughput, request latency and
// publish-to-store latency. By default it starts its own engines and local
// runtime (on free loopback ports, in a run dir of its own); with -url it
// loads a running make dev instead.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/flowbus/flowbus/infra/loadgen"
	"github.com/flowbus/flowbus/shared/config"
)

func main() {
	ok, err := run()
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}

func run() (bool, error) {
	var cfg loadgen.Config
	flag.IntVar(&cfg.Publishers, "publishers", 4, "concurrent publishers, one request at a time each")
	flag.IntVar(&cfg.Workflows, "workflows", 20, "workflows, split between the publishers")
	flag.IntVar(&cfg.Batch, "batch", 100, "events per request")
	flag.IntVar(&cfg.EventBytes, "event-bytes", 200, "approximate size of one event")
	flag.DurationVar(&cfg.Duration, "duration", 30*time.Second, "how long to publish")
	flag.StringVar(&cfg.Token, "token", os.Getenv("FLOWBUS_TOKEN"), "with -url: the bearer token to publish with (default $FLOWBUS_TOKEN, which make dev prints)")
	url := flag.String("url", "", "load a running flowbus (e.g. make dev: http://127.0.0.1:3000) instead of starting one; the store is read through the AWS_ENDPOINT_URL_* of the environment")
	table := flag.String("table", "flowbus-events", "event store table (with -url)")
	runDir := flag.String("run-dir", "", "where the engines and runtime of their own run (default: a new temporary dir, removed after)")
	wait := flag.Duration("wait", 2*time.Minute, "how long the consumer may take to store everything acknowledged")
	hopsN := flag.Int("hops", 0, "before the load, time this many single-event publishes at each hop of the local path (needs the runtime of its own)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of this process (publishers and, without -url, the local runtime) to this file")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var db *dynamodb.Client
	if *url == "" {
		dir := *runDir
		if dir == "" {
			tmp, err := os.MkdirTemp("", "flowbus-load-")
			if err != nil {
				return false, err
			}
			defer os.RemoveAll(tmp)
			dir = tmp
		}
		fmt.Printf("starting engines and the local runtime in %s …\n", dir)
		t0 := time.Now()
		local, err := loadgen.StartLocal(ctx, loadgen.LocalOptions{RunDir: dir})
		if err != nil {
			return false, err
		}
		defer func() {
			if err := local.Close(); err != nil {
				fmt.Fprintln(os.Stderr, "load: stop:", err)
			}
		}()
		*url, *table, cfg.Token = local.URL(), local.Table, local.Token()
		if db, err = local.DynamoDB(ctx); err != nil {
			return false, err
		}
		fmt.Printf("flowbus up at %s in %s (engines in %s)\n", *url, time.Since(t0).Round(time.Millisecond), local.EngineDir())
		if *hopsN > 0 {
			if err := hops(ctx, local, *hopsN); err != nil {
				return false, err
			}
		}
	} else {
		awsCfg, err := config.AWS(ctx)
		if err != nil {
			return false, fmt.Errorf("%w (with -url, source the engines' env: . localstack/.run/env)", err)
		}
		db = dynamodb.NewFromConfig(awsCfg)
	}
	cfg.URL = *url
	cfg.SetDefaults()

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return false, err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return false, err
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	fmt.Printf("load: %d publishers, %d workflows, %d events/request, ~%d B/event, %s, against %s\n",
		cfg.Publishers, cfg.Workflows, cfg.Batch, cfg.EventBytes, cfg.Duration, cfg.URL)
	l := loadgen.Run(ctx, cfg)
	elapsed := l.Ended.Sub(l.Started).Seconds()
	acked := l.AckedCount()
	reqs := slices.Clone(l.Requests)
	slices.Sort(reqs)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	var p50, p99 float64
	if len(reqs) > 0 {
		p50 = ms(reqs[(len(reqs)*50+99)/100-1])
		p99 = ms(reqs[(len(reqs)*99+99)/100-1])
	}
	fmt.Printf("published   %d events acknowledged in %.1f s: %.0f events/s (%d requests answered, %d failed; %d events not acknowledged)\n",
		acked, elapsed, float64(acked)/elapsed, len(reqs), l.FailedRequests, l.UnackedCount())
	for _, e := range l.RequestErrors {
		fmt.Printf("            request error: %s\n", e)
	}
	fmt.Printf("request     p50 %.1f ms  p99 %.1f ms\n", p50, p99)

	t0 := time.Now()
	checker := &loadgen.Checker{DB: db, Table: *table}
	rep, err := checker.Check(ctx, l, loadgen.CheckOptions{Wait: *wait, Prefix: cfg.Prefix})
	if err != nil {
		return false, err
	}
	fmt.Printf("store       publish-to-store p50 %.0f ms  p99 %.0f ms  (stored `at` minus publish time, %d events; check took %.1f s)\n",
		loadgen.Percentile(rep.Latency, 50), loadgen.Percentile(rep.Latency, 99), len(rep.Latency), time.Since(t0).Seconds())
	verdict := "PASS"
	if !rep.OK() {
		verdict = "FAIL"
	}
	fmt.Printf("check       %s: %s\n", verdict, rep.Summary())
	if !rep.OK() {
		fmt.Print(rep.Details(20))
	}
	return rep.OK(), nil
}
