package devrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/flowbus/flowbus/infra/esm"
	"github.com/flowbus/flowbus/infra/httpapi"
	"github.com/flowbus/flowbus/infra/lambdarun"
	"github.com/flowbus/flowbus/infra/sqsesm"
	"github.com/flowbus/flowbus/infra/template"
	"github.com/flowbus/flowbus/shared/bus"
	"github.com/flowbus/flowbus/shared/config"
	"github.com/flowbus/flowbus/shared/dynamostore"
	"github.com/flowbus/flowbus/shared/stats"
)

// Options configures a Runtime; zero values take the defaults.
type Options struct {
	Template string // path to template.yaml; default "template.yaml"
	// Include are more templates run beside it, as stacks deployed next to
	// flowbus's (examples/consumer/template.yaml): their functions may
	// attach to its stream by ARN. They take the same Parameters.
	Include    []string
	Parameters map[string]string // template parameter overrides
	Addr       string            // HTTP API address; default 127.0.0.1:3000
	RunDir     string            // builds and checkpoints; default .run/dev next to the template
	// IssuerDir keeps the local JWT issuer's key and URL (make token reads
	// them); default <RunDir>/issuer, or .run/issuer next to the template
	// when RunDir is not given either.
	IssuerDir string
	Shards    int           // shards of a stream the template makes on-demand; default 1
	HTTPPool  int           // execution environments per HTTP function; default 4
	RIE       string        // aws-lambda-rie; default $(go env GOPATH)/bin/aws-lambda-rie
	PollEvery time.Duration // how often caught-up pollers poll; default 1s, as Lambda
	// ScheduleEvery, when set, replaces the period of every Schedule event
	// (tests use it; the template's rate otherwise).
	ScheduleEvery time.Duration
	NoMappings    bool // run no event source mappings (a stopped consumer)
	// LiveEvery is how often a live line (events/s in and out, lag) is
	// printed; default 10s, negative for never.
	LiveEvery time.Duration
	Log       *slog.Logger
	Out       io.Writer // what runs where, and one line per invocation; default os.Stdout
}

func (o *Options) setDefaults() error {
	if o.Template == "" {
		o.Template = "template.yaml"
	}
	if o.Addr == "" {
		o.Addr = "127.0.0.1:3000"
	}
	if o.IssuerDir == "" {
		o.IssuerDir = filepath.Join(o.RunDir, "issuer")
		if o.RunDir == "" { // make dev: make token finds it there
			o.IssuerDir = filepath.Join(filepath.Dir(o.Template), ".run", "issuer")
		}
	}
	if o.RunDir == "" {
		o.RunDir = filepath.Join(filepath.Dir(o.Template), ".run", "dev")
	}
	if o.Shards <= 0 {
		o.Shards = 1
	}
	if o.HTTPPool <= 0 {
		o.HTTPPool = 4
	}
	if o.PollEvery <= 0 {
		o.PollEvery = time.Second
	}
	if o.LiveEvery == 0 {
		o.LiveEvery = 10 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Out == nil {
		o.Out = os.Stdout
	}
	if o.RIE == "" {
		gopath := os.Getenv("GOPATH")
		if gopath == "" {
			home, _ := os.UserHomeDir()
			gopath = filepath.Join(home, "go")
		}
		o.RIE = filepath.Join(gopath, "bin", "aws-lambda-rie")
	}
	if _, err := os.Stat(o.RIE); err != nil {
		return fmt.Errorf("the Lambda Runtime Interface Emulator is not at %s: run make dev, which installs it (%w)", o.RIE, err)
	}
	return nil
}

// Runtime is a running local flowbus.
type Runtime struct {
	opts      Options
	tpl       *template.Template
	functions map[string]*lambdarun.Function
	server    *http.Server
	listener  net.Listener
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	outMu     sync.Mutex
	mappings  []*esm.Mapping
	queues    map[string][]*sqsesm.Mapping // the SQS mappings, by function
	dead      deadLetters
	lambda    *lambdaAPI
	issuer    *issuer
	QueueURLs map[string]string // by logical id
}

// Start brings everything up. Close stops it.
func Start(ctx context.Context, opts Options) (*Runtime, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	if err := localSecretsKey(&opts); err != nil { // sets SecretKey, the local key
		return nil, err
	}
	iss, err := startIssuer(&opts) // sets the authorizer's parameters
	if err != nil {
		return nil, err
	}
	tpl, err := template.Load(opts.Template, opts.Parameters)
	if err != nil {
		iss.close()
		return nil, err
	}
	for _, path := range opts.Include {
		more, err := template.Load(path, opts.Parameters)
		if err != nil {
			return nil, err
		}
		if err := tpl.Include(more); err != nil {
			return nil, fmt.Errorf("include %s: %w", path, err)
		}
	}
	awsCfg, err := config.AWS(ctx)
	if err != nil {
		return nil, err
	}
	r := &Runtime{opts: opts, tpl: tpl, functions: map[string]*lambdarun.Function{}, QueueURLs: map[string]string{}, issuer: iss}
	ok := false
	defer func() {
		if !ok {
			r.Close()
		}
	}()
	if err := r.provision(ctx, awsCfg); err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	// Functions reach each other through the local Lambda API: the
	// emulator processes get AWS_ENDPOINT_URL_* from this environment.
	if err := r.startLambdaAPI(runCtx); err != nil {
		return nil, err
	}
	if err := os.Setenv("AWS_ENDPOINT_URL_LAMBDA", r.lambda.url()); err != nil {
		return nil, err
	}
	r.printf("lambda  invoke API        %s", r.lambda.url())
	if err := r.startFunctions(ctx); err != nil {
		return nil, err
	}
	if !opts.NoMappings {
		if err := r.startMappings(runCtx, awsCfg); err != nil {
			return nil, err
		}
		if err := r.startSQSMappings(runCtx, awsCfg); err != nil {
			return nil, err
		}
	}
	r.startSchedules(runCtx)
	r.startLiveLine(runCtx, awsCfg)
	if err := r.startHTTP(); err != nil {
		return nil, err
	}
	ok = true
	return r, nil
}

// URL is the base URL of the HTTP API.
func (r *Runtime) URL() string { return "http://" + r.listener.Addr().String() }

// Template is the template the runtime runs.
func (r *Runtime) Template() *template.Template { return r.tpl }

func (r *Runtime) printf(format string, args ...any) {
	r.outMu.Lock()
	defer r.outMu.Unlock()
	fmt.Fprintf(r.opts.Out, format+"\n", args...)
}

// printInvoke prints the line of one invocation: the function, where its
// event came from, what it carried (n of unit, "records" or "messages"; unit
// "" for a single event), how long it took and how it ended. The duration
// ends in the same column whatever the unit.
func (r *Runtime) printInvoke(function, source string, n int, unit string, took time.Duration, result string) {
	count := strconv.Itoa(n)
	if unit == "" {
		count, unit = "", "       "
	}
	r.printf("invoke  %-16s %-22s %4s %s %*s  %s", function, source, count, unit, 15-len(unit), took.Round(time.Millisecond), result)
}

// printResult prints the line of one invocation of a single event from
// source (http, async, schedule): ok, or how it failed.
func (r *Runtime) printResult(function, source string, res lambdarun.Result, err error) {
	result := "ok"
	switch {
	case err != nil:
		result = "error: " + err.Error()
	case res.FunctionError != "":
		result = "function error: " + res.FunctionError
	}
	r.printInvoke(function, source, 0, "", res.Duration, result)
}

// provision creates what the template declares, idempotently.
func (r *Runtime) provision(ctx context.Context, cfg aws.Config) error {
	urls, err := Provision(ctx, cfg, r.tpl, r.opts.Shards, r.printf)
	r.QueueURLs = urls
	return err
}

// Provision creates the template's streams, tables and queues on the
// endpoints cfg points at, unless they exist, and returns the queues' URLs
// by logical id. shards is used for streams the template makes on-demand.
func Provision(ctx context.Context, cfg aws.Config, tpl *template.Template, shards int, printf func(string, ...any)) (map[string]string, error) {
	kc := kinesis.NewFromConfig(cfg)
	for _, id := range sortedKeys(tpl.Streams) {
		s := tpl.Streams[id]
		n := s.Shards
		if n == 0 {
			n = max(shards, 1)
		}
		if _, err := bus.CreateStream(ctx, kc, s.Name, int32(n)); err != nil {
			return nil, err
		}
		printf("stream  %-16s %s (%d shard(s))", id, s.Name, n)
	}
	db := dynamodb.NewFromConfig(cfg)
	for _, id := range sortedKeys(tpl.Tables) {
		if err := dynamostore.CreateTable(ctx, db, tpl.Tables[id].Name); err != nil {
			return nil, err
		}
		printf("table   %-16s %s", id, tpl.Tables[id].Name)
	}
	urls := map[string]string{}
	if len(tpl.Queues) > 0 {
		qc := sqs.NewFromConfig(cfg)
		for _, id := range queueOrder(tpl) {
			url, err := createQueue(ctx, qc, tpl.Queues[id])
			if err != nil {
				return nil, err
			}
			urls[id] = url
			printf("queue   %-16s %s", id, urls[id])
		}
	}
	return urls, nil
}

// startFunctions builds each function's bootstrap and starts its pool of
// emulated execution environments.
func (r *Runtime) startFunctions(ctx context.Context) error {
	for _, id := range sortedKeys(r.tpl.Functions) {
		fn := r.tpl.Functions[id]
		bootstrap, err := lambdarun.Build(ctx, filepath.Join(fn.Root, fn.CodeURI), filepath.Join(r.opts.RunDir, "build", id))
		if err != nil {
			return fmt.Errorf("build %s: %w", id, err)
		}
		pool := r.opts.HTTPPool
		for _, k := range fn.Kinesis {
			pool = max(pool, k.ParallelizationFactor*r.shardsOf(k.Stream))
		}
		sqsInitial, sqsMost := sqsPool(fn)
		pool = max(pool, sqsInitial)
		f, err := lambdarun.Start(ctx, lambdarun.Spec{
			Name: id, Bootstrap: bootstrap, Env: fn.Env, MemoryMB: fn.MemoryMB, Timeout: fn.Timeout, PoolSize: pool,
			MaxPoolSize: max(pool, sqsMost), RIE: r.opts.RIE,
		}, r.opts.Log.With("function", id))
		if err != nil {
			return fmt.Errorf("start %s: %w", id, err)
		}
		r.functions[id] = f
		r.printf("lambda  %-16s %s, %d MB, %s timeout, %d environment(s) under RIE", id, fn.CodeURI, fn.MemoryMB, fn.Timeout, pool)
	}
	return nil
}

func (r *Runtime) shardsOf(stream string) int {
	if s, ok := r.tpl.Streams[stream]; ok && s.Shards > 0 {
		return s.Shards
	}
	return r.opts.Shards
}

// esmInvoker adapts a function to what an event source mapping calls.
type esmInvoker struct{ fn *lambdarun.Function }

func (i esmInvoker) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	res, err := i.fn.Invoke(ctx, payload)
	if err != nil {
		return nil, err
	}
	if res.FunctionError != "" {
		return res.Payload, &esm.FunctionError{Type: res.FunctionError, Message: strings.TrimSpace(string(res.Payload))}
	}
	return res.Payload, nil
}

// startMappings runs every Kinesis event source mapping of the template.
func (r *Runtime) startMappings(ctx context.Context, cfg aws.Config) error {
	kc := kinesis.NewFromConfig(cfg)
	var qc *sqs.Client
	cp, err := esm.OpenFileCheckpoints(filepath.Join(r.opts.RunDir, "checkpoints.json"))
	if err != nil {
		return err
	}
	for _, id := range sortedKeys(r.tpl.Functions) {
		for _, k := range r.tpl.Functions[id].Kinesis {
			stream := r.tpl.Streams[k.Stream]
			if stream == nil {
				return fmt.Errorf("%s event %s: stream %s is not in the templates run", id, k.Name, k.StreamARN)
			}
			var dest esm.Destination
			if k.OnFailure != "" {
				if qc == nil {
					qc = sqs.NewFromConfig(cfg)
				}
				dest = esm.NewSQSDestination(qc, r.QueueURLs[k.OnFailure])
			}
			m, err := esm.New(esm.Config{
				FunctionName: id, StreamName: stream.ARN(), BatchSize: k.BatchSize, MaximumBatchingWindow: k.MaximumBatchingWindow,
				ParallelizationFactor: k.ParallelizationFactor, StartingPosition: k.StartingPosition,
				BisectBatchOnFunctionError: k.BisectOnFunctionError, MaximumRetryAttempts: k.MaximumRetryAttempts,
				MaximumRecordAge: k.MaximumRecordAge, ReportBatchItemFailures: k.ReportBatchItemFailures,
				FilterCriteria: k.FilterPatterns, Enabled: k.Enabled, PollInterval: r.opts.PollEvery,
			}, kc, esmInvoker{r.functions[id]}, dest, cp, r.opts.Log.With("function", id, "event", k.Name))
			if err != nil {
				return fmt.Errorf("%s event %s: %w", id, k.Name, err)
			}
			m.OnInvoke(func(rep esm.Report) {
				if rep.Shard == "" { // a notice about the stream itself
					r.printf("esm     %-16s %s", id+"/"+k.Name, rep.Result)
					return
				}
				r.dead.countGiveUp(rep)
				r.printInvoke(rep.Function, rep.Shard, rep.Records, "records", rep.Duration, rep.Result)
			})
			r.mappings = append(r.mappings, m)
			r.runMapping(ctx, id+"/"+k.Name, m.Run)
			r.printf("esm     %-16s %s → %s, batch %d, window %s, parallelization %d", id+"/"+k.Name, stream.Name, id, k.BatchSize, k.MaximumBatchingWindow, k.ParallelizationFactor)
		}
	}
	return nil
}

// startSchedules invokes each function's Schedule events at their rate, with
// the event EventBridge sends.
func (r *Runtime) startSchedules(ctx context.Context) {
	for _, id := range sortedKeys(r.tpl.Functions) {
		for _, sch := range r.tpl.Functions[id].Schedules {
			every := sch.Every
			if r.opts.ScheduleEvery > 0 {
				every = r.opts.ScheduleEvery
			}
			r.printf("cron    %-16s %s (every %s)", id+"/"+sch.Name, sch.Expression, every)
			r.every(ctx, every, func(now time.Time) {
				if _, err := r.InvokeSchedule(ctx, id, sch.Name, now); err != nil && ctx.Err() == nil {
					r.printf("invoke  %-16s %-22s failed: %v", id, "schedule", err)
				}
			})
		}
	}
}

// InvokeSchedule invokes a function with the scheduled event of one of its
// Schedule events, as EventBridge does at each tick.
func (r *Runtime) InvokeSchedule(ctx context.Context, function, schedule string, now time.Time) (lambdarun.Result, error) {
	fn, ok := r.functions[function]
	if !ok {
		return lambdarun.Result{}, fmt.Errorf("no function %s", function)
	}
	payload := fmt.Sprintf(`{"version":"0","id":"%d","detail-type":"Scheduled Event","source":"aws.events","account":"%s","time":"%s","region":"%s","resources":["arn:aws:events:%s:%s:rule/%s-%s"],"detail":{}}`,
		now.UnixNano(), template.Account, now.UTC().Format(time.RFC3339), template.Region, template.Region, template.Account, function, schedule)
	res, err := fn.Invoke(ctx, []byte(payload))
	r.printResult(function, "schedule", res, err)
	if err == nil && res.FunctionError != "" {
		err = fmt.Errorf("%s: %s", res.FunctionError, res.Payload)
	}
	return res, err
}

// startLiveLine prints the bus's figures every LiveEvery: the same snapshot
// GET /metrics serves, computed from the store and the stream, and "dlq N
// (parked M)": the records the Kinesis mappings gave up on to their
// on-failure destination in this run, and the events parked from the
// dead-letter queue (the snapshot's, since the table was created).
func (r *Runtime) startLiveLine(ctx context.Context, cfg aws.Config) {
	if r.opts.LiveEvery < 0 || len(r.tpl.Tables) == 0 || len(r.tpl.Streams) == 0 {
		return
	}
	snaps := &stats.Snapshots{DB: dynamodb.NewFromConfig(cfg), Kin: kinesis.NewFromConfig(cfg),
		Table: r.tpl.Tables[sortedKeys(r.tpl.Tables)[0]].Name, Stream: r.tpl.Streams[sortedKeys(r.tpl.Streams)[0]].Name}
	r.every(ctx, r.opts.LiveEvery, func(now time.Time) {
		snap, err := snaps.Compute(ctx, now)
		if err != nil {
			if ctx.Err() == nil {
				r.printf("live    figures unavailable: %v", err)
			}
			return
		}
		lag, age := 0, int64(0)
		for _, l := range snap.Lag {
			lag += l.Records
			age = max(age, l.Milliseconds)
		}
		r.printf("live    in %.1f ev/s  out %.1f ev/s (1m)  stored %d  p99 %.0f ms  lag %d records, %d ms  dlq %d (parked %d)",
			snap.Rates.Published.M1, snap.Rates.Stored.M1, snap.Store.Events, snap.Latency.P99, lag, age, r.dead.sent.Load(), snap.DeadLetter.Parked)
	})
}

// every calls tick at each interval until ctx ends, in a goroutine that
// Close waits for.
func (r *Runtime) every(ctx context.Context, interval time.Duration, tick func(now time.Time)) {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				tick(now)
			}
		}
	}()
}

// runMapping runs an event source mapping until ctx ends, in a goroutine that
// Close waits for, and prints why it stopped if it stopped otherwise.
func (r *Runtime) runMapping(ctx context.Context, name string, run func(context.Context) error) {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		if err := run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			r.printf("mapping %s stopped: %v", name, err)
		}
	}()
}

// loggingInvoker prints one line per HTTP invocation.
type loggingInvoker struct {
	r  *Runtime
	id string
	fn *lambdarun.Function
}

func (l loggingInvoker) Invoke(ctx context.Context, payload []byte) (lambdarun.Result, error) {
	res, err := l.fn.Invoke(ctx, payload)
	l.r.printResult(l.id, "http", res, err)
	return res, err
}

func (r *Runtime) startHTTP() error {
	authorizers, err := r.routeAuthorizers()
	if err != nil {
		return err
	}
	var routes []httpapi.Route
	for _, rt := range r.tpl.Routes {
		routes = append(routes, httpapi.Route{Method: rt.Method, Path: rt.Path, FunctionName: rt.Function,
			Function:   loggingInvoker{r: r, id: rt.Function, fn: r.functions[rt.Function]},
			Authorizer: authorizers[rt.Method+" "+rt.Path]})
	}
	h, err := httpapi.New(routes, r.opts.Log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", r.opts.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", r.opts.Addr, err)
	}
	r.listener = ln
	r.server = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		if err := r.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			r.printf("http api stopped: %v", err)
		}
	}()
	for _, rt := range r.tpl.Routes {
		r.printf("route   %-6s %-34s → %s", rt.Method, r.URL()+rt.Path, rt.Function)
	}
	r.printf("auth    JWT issuer %s (key in %s); Runtime.Token is %s's, an admin", r.issuer.URL, r.opts.IssuerDir, subPrincipal(DevAdmin))
	return nil
}

// Close stops the mappings, the HTTP API and every emulator process.
func (r *Runtime) Close() error {
	if r.cancel != nil {
		r.cancel()
	}
	for _, s := range []*http.Server{r.server, r.lambdaServer()} {
		if s != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = s.Shutdown(ctx)
			cancel()
		}
	}
	r.wg.Wait()
	r.issuer.close()
	var errs []error
	for _, f := range r.functions {
		errs = append(errs, f.Close())
	}
	return errors.Join(errs...)
}

func (r *Runtime) lambdaServer() *http.Server {
	if r.lambda == nil {
		return nil
	}
	return r.lambda.server
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
