package lambdarun

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os/exec"
	"path/filepath"
	"sync"
	"time"
)

// ErrClosed is returned by Invoke once Close was called.
var ErrClosed = errors.New("function closed")

// ErrPayloadTooLarge is returned by Invoke for a payload over Lambda's 6 MB
// synchronous limit, which Lambda refuses before running anything
// (RequestEntityTooLargeException).
var ErrPayloadTooLarge = errors.New("request payload over 6291456 bytes")

// Function is a pool of execution environments running one function.
type Function struct {
	spec      Spec
	log       *slog.Logger
	envCmd    string // env(1), which points the runtime at the proxy
	transport *http.Transport
	client    *http.Client

	envMu sync.Mutex // guards envs, which grows up to MaxPoolSize
	envs  []*environment
	free  chan *environment

	closeOnce sync.Once
	closed    chan struct{}
}

// Start starts spec.PoolSize execution environments, each an RIE process on
// its own free 127.0.0.1 ports, and waits until each answers. As on Lambda,
// the bootstrap itself starts (init) with an environment's first invocation.
func Start(ctx context.Context, spec Spec, log *slog.Logger) (*Function, error) {
	spec = spec.withDefaults()
	if spec.RIE == "" {
		rie, err := LookRIE()
		if err != nil {
			return nil, fmt.Errorf("function %q: %w", spec.Name, err)
		}
		spec.RIE = rie
	}
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	var err error
	if spec.Bootstrap, err = filepath.Abs(spec.Bootstrap); err != nil {
		return nil, fmt.Errorf("function %q: %w", spec.Name, err)
	}
	envCmd, err := exec.LookPath("env")
	if err != nil {
		return nil, fmt.Errorf("function %q: %w", spec.Name, err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("function", spec.Name)
	transport := &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 4, DisableCompression: true, IdleConnTimeout: time.Minute}
	f := &Function{
		spec:      spec,
		log:       log,
		envCmd:    envCmd,
		transport: transport,
		client:    &http.Client{Transport: transport},
		free:      make(chan *environment, spec.MaxPoolSize),
		closed:    make(chan struct{}),
	}
	for i := range spec.PoolSize {
		f.envs = append(f.envs, &environment{fn: f, index: i, log: log.With("env", i)})
	}
	errs := make([]error, len(f.envs))
	var wg sync.WaitGroup
	for i, e := range f.envs {
		wg.Go(func() {
			_, errs[i] = e.running(ctx)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("function %q: %w", spec.Name, err)
	}
	for _, e := range f.envs {
		f.free <- e
	}
	log.Debug("function started", "pool", spec.PoolSize, "rie", spec.RIE, "bootstrap", spec.Bootstrap)
	return f, nil
}

// Spec returns the function's spec, defaults filled in.
func (f *Function) Spec() Spec { return f.spec }

// Invoke runs one invocation in a free execution environment; when all are
// busy it starts another, up to MaxPoolSize, and beyond that waits for one
// to be free, as Lambda's synchronous Invoke is throttled. A function
// error (the handler returned an error or panicked, the runtime exited, the
// invocation timed out) is a Result with FunctionError set and the error
// document as Payload; an error means the function could not be run.
func (f *Function) Invoke(ctx context.Context, payload []byte) (Result, error) {
	if len(payload) > maxPayloadBytes {
		return Result{}, fmt.Errorf("invoke %s: %w", f.spec.Name, ErrPayloadTooLarge)
	}
	var e *environment
	select {
	case e = <-f.free:
	default:
		e = f.grow()
	}
	if e == nil {
		select {
		case e = <-f.free:
		case <-f.closed:
			return Result{}, fmt.Errorf("invoke %s: %w", f.spec.Name, ErrClosed)
		case <-ctx.Done():
			return Result{}, fmt.Errorf("invoke %s: waiting for an execution environment: %w", f.spec.Name, ctx.Err())
		}
	}
	defer func() { f.free <- e }()
	if f.isClosed() {
		return Result{}, fmt.Errorf("invoke %s: %w", f.spec.Name, ErrClosed)
	}
	res, err := e.invoke(ctx, payload)
	if err != nil {
		return Result{}, err
	}
	e.log.Debug("invoked", "request_id", res.RequestID, "outcome", res.Outcome(),
		"duration", res.Duration, "init", res.InitDuration, "max_memory_mb", res.MaxMemoryMB)
	return res, nil
}

// grow adds an execution environment, its process started by its first
// invocation; nil when MaxPoolSize are there.
func (f *Function) grow() *environment {
	f.envMu.Lock()
	defer f.envMu.Unlock()
	if len(f.envs) >= f.spec.MaxPoolSize || f.isClosed() {
		return nil
	}
	e := &environment{fn: f, index: len(f.envs), log: f.log.With("env", len(f.envs))}
	f.envs = append(f.envs, e)
	f.log.Debug("execution environment added: all were busy", "pool", len(f.envs))
	return e
}

// environments is a copy of the execution environments.
func (f *Function) environments() []*environment {
	f.envMu.Lock()
	defer f.envMu.Unlock()
	return append([]*environment(nil), f.envs...)
}

// PIDs lists the processes of every execution environment: each RIE and
// what runs under it (the bootstrap).
func (f *Function) PIDs() []int {
	var out []int
	for _, e := range f.environments() {
		e.mu.Lock()
		p := e.proc
		e.mu.Unlock()
		if p != nil {
			out = append(out, p.pids()...)
		}
	}
	return out
}

// Close stops every execution environment's processes and their children:
// SIGTERM, then SIGKILL. An invocation under way fails.
func (f *Function) Close() error {
	var err error
	f.closeOnce.Do(func() {
		f.envMu.Lock()
		close(f.closed) // under envMu: grow adds none after
		envs := append([]*environment(nil), f.envs...)
		f.envMu.Unlock()
		errs := make([]error, len(envs))
		var wg sync.WaitGroup
		for i, e := range envs {
			wg.Go(func() { errs[i] = e.stop() })
		}
		wg.Wait()
		f.transport.CloseIdleConnections()
		if err = errors.Join(errs...); err != nil {
			err = fmt.Errorf("close %s: %w", f.spec.Name, err)
		}
	})
	return err
}

func (f *Function) isClosed() bool { return isClosed(f.closed) }

// newRequestID returns a random (version 4) UUID, as Lambda's request ids are.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func randomHex(n int) string {
	b := make([]byte, (n+1)/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)[:n]
}
