package lambdarun

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	invokePath    = "/2015-03-31/functions/function/invocations"
	startAttempts = 3                // a port taken between picking it and RIE binding it is retried
	startTimeout  = 10 * time.Second // RIE answers within tens of milliseconds
	stopGrace     = 2 * time.Second  // SIGTERM to SIGKILL
	syncTimeout   = 2 * time.Second  // waiting for an invocation's output to be read
	maxLogBytes   = 1 << 20          // per invocation; the rest is dropped
	maxLineBytes  = 256 << 10
	tailLines     = 20 // output kept to explain a process that died
)

// environment is one execution environment: an RIE process that runs the
// bootstrap, serving one invocation at a time. Its process is started
// lazily and again after it had to be stopped.
type environment struct {
	fn    *Function
	index int
	log   *slog.Logger

	mu   sync.Mutex
	proc *process // nil until started, and after stop
	cur  *capture // the invocation under way, if any
}

// process is one RIE process and what reads and serves it.
type process struct {
	cmd      *exec.Cmd
	pid      int
	addr     string   // RIE's invoke endpoint
	out      *os.File // write end of the pipe RIE and the runtime print to; also takes sync markers
	proxy    *runtimeProxy
	exited   chan struct{} // closed once the process was waited for
	waitErr  error
	readDone chan struct{}

	mu      sync.Mutex
	tail    []string // the last lines printed outside any invocation
	peakMB  int      // the runtime's last known peak memory
	runtime procEntry
}

// capture collects one invocation's output.
type capture struct {
	id     string
	marker string
	synced chan struct{}

	logs      bytes.Buffer
	dropped   int
	initPhase string        // "init" (a cold start) or "invoke" (re-init after a reset), from RIE's INIT START
	init      time.Duration // from RIE's INIT REPORT
	exit      string        // why the runtime exited, from RIE's log
}

// rapidLine is RIE's own log format: "27 Nov 2026 14:39:42,179 [INFO] (rapid) msg".
var (
	rapidLine  = regexp.MustCompile(`^\d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2},\d{3} \[(\w+)\] \(rapid\) (.*)$`)
	initStart  = regexp.MustCompile(`^INIT START\(type: [^,]+, phase: (\w+)\)`)
	initReport = regexp.MustCompile(`^INIT REPORT\(durationMs: ([0-9.]+)\)`)
	exitError  = regexp.MustCompile(`error=(Runtime exited with error: .*?)(?: \w+=|$)`)
	timedOut   = regexp.MustCompile(`^Task timed out after [0-9.]+ seconds$`)
)

// running returns the environment's process, starting one if it has none.
func (e *environment) running(ctx context.Context) (*process, error) {
	e.mu.Lock()
	p := e.proc
	e.mu.Unlock()
	if p != nil {
		select {
		case <-p.exited:
			e.log.Warn("execution environment exited; starting it again", "err", p.exitErr())
			_ = e.stop() // what is left is reported by Close
		default:
			if !p.runtimeGone() {
				return p, nil
			}
			// RIE would fail the next invocation with Runtime.ExitError;
			// Lambda retires a dead environment and starts another.
			e.log.Warn("execution environment's runtime exited between invocations; starting the environment again")
			_ = e.stop()
		}
	}
	if e.fn.isClosed() {
		return nil, ErrClosed
	}
	var errs []error
	for range startAttempts {
		p, err := e.spawn(ctx)
		if err == nil {
			e.mu.Lock()
			e.proc = p
			e.mu.Unlock()
			if e.fn.isClosed() { // Close ran while this one started
				return nil, errors.Join(ErrClosed, e.stop())
			}
			return p, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil || !errors.Is(err, errAddrInUse) {
			break
		}
	}
	return nil, fmt.Errorf("start execution environment %d: %w", e.index, errors.Join(errs...))
}

var errAddrInUse = errors.New("address already in use")

// spawn starts RIE on free loopback ports and waits until it answers.
func (e *environment) spawn(ctx context.Context) (*process, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
	runtimeAPI := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1]))
	p := &process{addr: addr, exited: make(chan struct{}), readDone: make(chan struct{})}
	// The runtime is alive when it reports, even if it exits right after
	// (a Go panic): the moment to read its peak memory.
	proxy, err := newRuntimeProxy(runtimeAPI, e.fn.transport, func() { p.runtimePeakMB() })
	if err != nil {
		return nil, fmt.Errorf("runtime api proxy: %w", err)
	}
	p.proxy = proxy
	spec := e.fn.spec
	taskRoot := filepath.Dir(spec.Bootstrap)
	// RIE runs its last arguments as the bootstrap; env(1) points the runtime
	// at the proxy in front of RIE's Runtime API, then execs the bootstrap
	// (same pid).
	cmd := exec.Command(spec.RIE,
		"--log-level", "info",
		"--runtime-interface-emulator-address", addr,
		"--runtime-api-address", runtimeAPI,
		e.fn.envCmd, "AWS_LAMBDA_RUNTIME_API="+proxy.addr, spec.Bootstrap)
	cmd.Dir = taskRoot
	cmd.Env = spec.environ(os.Environ(), taskRoot, logStream(time.Now(), e.index))
	cmd.SysProcAttr = sysProcAttr()
	r, w, err := os.Pipe()
	if err != nil {
		proxy.close()
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		proxy.close()
		r.Close()
		w.Close()
		return nil, fmt.Errorf("run %s: %w", spec.RIE, err)
	}
	p.mu.Lock()
	p.cmd, p.pid, p.out = cmd, cmd.Process.Pid, w
	p.mu.Unlock()
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	go e.read(p, r)
	e.log.Debug("rie started", "pid", p.pid, "addr", addr, "runtime_api", runtimeAPI)

	if err := p.awaitReady(ctx, e.fn.client); err != nil {
		err = errors.Join(err, p.kill())
		if strings.Contains(p.tailText(), "address already in use") {
			err = fmt.Errorf("%w: %w", errAddrInUse, err)
		}
		return nil, err
	}
	return p, nil
}

// awaitReady polls RIE until its HTTP server answers (any status).
func (p *process) awaitReady(ctx context.Context, client *http.Client) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.addr+"/", nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("rie exited at start (%v): %s", p.exitErr(), p.tailText())
		case <-ctx.Done():
			return fmt.Errorf("rie did not answer on %s: %w", p.addr, ctx.Err())
		case <-tick.C:
		}
	}
}

func (p *process) exitErr() error {
	select {
	case <-p.exited:
		if p.waitErr == nil {
			return errors.New("exit status 0")
		}
		return p.waitErr
	default:
		return nil
	}
}

// stop ends the environment's process, if any; the next invocation starts a
// fresh one.
func (e *environment) stop() error {
	e.mu.Lock()
	p := e.proc
	e.proc = nil
	e.mu.Unlock()
	if p == nil {
		return nil
	}
	err := p.kill()
	e.log.Debug("rie stopped", "pid", p.pid, "err", err)
	return err
}

// kill ends RIE and everything it started: SIGTERM first (RIE then kills the
// runtime's process group and exits), SIGKILL after stopGrace, and SIGKILL to
// any process that was under RIE and outlived it. It fails if one is still
// running after that.
func (p *process) kill() error {
	left := descendants(p.pid)
	_ = syscall.Kill(p.pid, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(stopGrace):
		_ = syscall.Kill(-p.pid, syscall.SIGKILL)
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
	for _, d := range left {
		d.kill(syscall.SIGKILL)
	}
	p.proxy.close()
	p.out.Close()
	select {
	case <-p.readDone:
	case <-time.After(syncTimeout): // a straggler still holds the pipe
	}
	var alive []int
	for _, d := range left {
		if d.running() {
			alive = append(alive, d.pid)
		}
	}
	if len(alive) > 0 {
		return fmt.Errorf("rie %d: processes %v still running after SIGKILL", p.pid, alive)
	}
	return nil
}

// pids lists RIE and the processes under it.
func (p *process) pids() []int {
	out := []int{p.pid}
	for _, d := range descendants(p.pid) {
		out = append(out, d.pid)
	}
	return out
}

// runtimeGone tells whether the runtime this process ran (known once it
// has reported) is no longer running: killed or exited while idle.
func (p *process) runtimeGone() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.runtime.pid != 0 && !p.runtime.running()
}

// runtimePeakMB reads the runtime's peak memory, or the last value read when
// the runtime is gone (it was killed or exited).
func (p *process) runtimePeakMB() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.runtime.running() {
		p.runtime = procEntry{}
		for _, d := range descendants(p.pid) {
			if d.ppid == p.pid {
				p.runtime = d
				break
			}
		}
	}
	if p.runtime.pid != 0 {
		if mb := peakRSSMB(p.runtime.pid); mb > 0 {
			p.peakMB = mb
		}
	}
	return p.peakMB
}

func (p *process) keepTail(line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tail = append(p.tail, line)
	if len(p.tail) > tailLines {
		p.tail = p.tail[len(p.tail)-tailLines:]
	}
}

func (p *process) tailText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.tail, "\n")
}

// read takes the process's output line by line until every writer is gone.
func (e *environment) read(p *process, r *os.File) {
	defer close(p.readDone)
	defer r.Close()
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := readLine(br)
		if len(line) > 0 || err == nil {
			e.line(p, line)
		}
		if err != nil {
			return
		}
	}
}

// readLine reads one line without its newline, cut at maxLineBytes.
func readLine(br *bufio.Reader) (string, error) {
	var buf []byte
	for {
		chunk, err := br.ReadSlice('\n')
		buf = append(buf, chunk...)
		if err == bufio.ErrBufferFull && len(buf) < maxLineBytes {
			continue
		}
		if err == bufio.ErrBufferFull {
			err = nil
		}
		return strings.TrimSuffix(string(buf), "\n"), err
	}
}

// line sorts one line of output: RIE's own logs go to the logger (and feed
// the init duration), the function's output and START go to the invocation
// under way, and anything printed between invocations to the logger.
func (e *environment) line(p *process, line string) {
	if m := rapidLine.FindStringSubmatch(line); m != nil {
		msg := m[2]
		e.mu.Lock()
		if c := e.cur; c != nil {
			if s := initStart.FindStringSubmatch(msg); s != nil {
				c.initPhase = s[1]
			} else if s := initReport.FindStringSubmatch(msg); s != nil {
				if v, err := strconv.ParseFloat(s[1], 64); err == nil {
					c.init = time.Duration(v * float64(time.Millisecond))
				}
			} else if s := exitError.FindStringSubmatch(msg); s != nil {
				c.exit = s[1]
			}
		}
		e.mu.Unlock()
		p.keepTail(line)
		e.log.Debug("rie: "+msg, "level", m[1])
		return
	}
	e.mu.Lock()
	c := e.cur
	if c == nil || isClosed(c.synced) {
		e.mu.Unlock()
		p.keepTail(line)
		if line != "" && !strings.Contains(line, "\x00lambdarun ") { // a late sync marker
			e.log.Info("output outside an invocation", "line", line)
		}
		return
	}
	defer e.mu.Unlock()
	if text, ok := strings.CutSuffix(line, c.marker); ok {
		// Output the function left without a newline sits in front.
		if text != "" && c.logs.Len()+len(text) < maxLogBytes {
			c.logs.WriteString(text + "\n")
		}
		close(c.synced)
		return
	}
	switch {
	case strings.HasPrefix(line, "END RequestId: "), strings.HasPrefix(line, "REPORT RequestId: "):
		// RIE's END and REPORT are replaced by ours (RIE's memory and init
		// figures are made up, and it prints none when the runtime crashed).
	case c.logs.Len()+len(line) >= maxLogBytes:
		c.dropped += len(line) + 1
	default:
		c.logs.WriteString(line)
		c.logs.WriteByte('\n')
	}
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// sync waits until everything printed before now was read: RIE answers only
// after the runtime's output and its own START/END/REPORT were written to
// the pipe, so a marker written after the answer comes after them.
func (e *environment) sync(p *process, c *capture) {
	if _, err := p.out.WriteString(c.marker + "\n"); err != nil {
		return
	}
	select {
	case <-c.synced:
	case <-time.After(syncTimeout):
		e.log.Warn("invocation output not read in time; logs may be cut", "request_id", c.id)
	}
}

// invoke runs one invocation in this environment.
func (e *environment) invoke(ctx context.Context, payload []byte) (Result, error) {
	p, err := e.running(ctx)
	if err != nil {
		return Result{}, err
	}
	id := newRequestID()
	c := &capture{id: id, marker: "\x00lambdarun " + id, synced: make(chan struct{})}
	e.mu.Lock()
	e.cur = c
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		e.cur = nil
		e.mu.Unlock()
	}()

	// RIE ends a function at its Timeout by itself; the watchdog is for RIE
	// itself hanging. RIE's clock runs from the request, init included, and
	// init is bounded by Timeout too.
	timeout := e.fn.spec.Timeout
	rctx, cancel := context.WithTimeout(ctx, 2*timeout+10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, "http://"+p.addr+invokePath, bytes.NewReader(payload))
	if err != nil {
		return Result{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Amzn-RequestId", id)
	start := time.Now()
	status, body, err := roundTrip(e.fn.client, req)
	elapsed := time.Since(start)
	if err != nil {
		// The environment's state is unknown: a fresh one serves the next
		// invocation.
		stopErr := e.stop()
		switch {
		case ctx.Err() != nil:
			return Result{}, fmt.Errorf("invoke %s: %w", e.fn.spec.Name, errors.Join(ctx.Err(), stopErr))
		case rctx.Err() != nil:
			e.log.Warn("rie did not end a timed out invocation; environment stopped", "request_id", id, "err", stopErr)
			status, body = http.StatusOK, []byte("Task timed out after "+seconds(timeout)+" seconds")
		default:
			return Result{}, fmt.Errorf("invoke %s: %w (rie: %s)", e.fn.spec.Name, errors.Join(err, stopErr), p.tailText())
		}
	}
	if e.fn.isClosed() { // RIE answers whatever it has when Close stops it
		return Result{}, fmt.Errorf("invoke %s: %w", e.fn.spec.Name, ErrClosed)
	}
	peak := p.runtimePeakMB()
	e.sync(p, c)

	res := Result{RequestID: id, Payload: body, MaxMemoryMB: peak}
	switch {
	case status == http.StatusOK && timedOut.Match(body):
		res.FunctionError, res.ErrorType = unhandled, errTypeTimeout
		res.Payload = errorDocument(errTypeTimeout, "RequestId: "+id+" Error: Task timed out after "+seconds(timeout)+" seconds")
	case status == http.StatusOK:
		if errType, failed := p.proxy.takeError(id); failed {
			res.FunctionError = unhandled
			res.ErrorType = firstNonEmpty(errType, errorTypeOf(body), unhandled)
		} else if len(body) > maxResponseBytes {
			res.FunctionError, res.ErrorType = unhandled, errTypeTooLarge
			res.Payload = errorDocument(errTypeTooLarge, fmt.Sprintf("Response payload size exceeded maximum allowed payload size (%d bytes).", maxResponseBytes))
		}
	case status == http.StatusBadGateway:
		// The runtime exited (a Go handler's panic ends the process) or its
		// init failed; RIE resets the environment and inits it again on
		// the next invocation.
		errType, reported := p.proxy.takeError(id)
		res.FunctionError = unhandled
		if !reported || len(bytes.TrimSpace(body)) == 0 {
			res.ErrorType = errTypeExit
			if len(bytes.TrimSpace(body)) == 0 {
				e.mu.Lock()
				why := firstNonEmpty(c.exit, "Runtime exited without providing a reason")
				e.mu.Unlock()
				res.Payload = errorDocument(errTypeExit, "RequestId: "+id+" Error: "+why)
			}
		} else {
			res.ErrorType = firstNonEmpty(errType, errorTypeOf(body), unhandled)
		}
	default:
		stopErr := e.stop()
		return Result{}, errors.Join(fmt.Errorf("invoke %s: rie answered %d: %s", e.fn.spec.Name, status, bytes.TrimSpace(body)), stopErr)
	}

	e.mu.Lock()
	if c.initPhase == "init" {
		res.InitDuration = c.init
	}
	logs := append([]byte(nil), c.logs.Bytes()...)
	dropped := c.dropped
	e.mu.Unlock()
	res.Duration = max(elapsed-res.InitDuration, 0)
	if res.ErrorType == errTypeTimeout {
		res.Duration = timeout
	}
	res.Billed = billed(res.Duration, res.InitDuration)
	res.Report = report(res, e.fn.spec.MemoryMB)
	if dropped > 0 {
		logs = fmt.Appendf(logs, "[lambdarun: %d bytes of output dropped]\n", dropped)
	}
	logs = fmt.Appendf(logs, "END RequestId: %s\n%s\n", id, res.Report)
	res.Logs = logs
	if res.MaxMemoryMB > e.fn.spec.MemoryMB {
		e.log.Warn("function used more memory than its MemorySize; Lambda would have ended it",
			"request_id", id, "max_memory_mb", res.MaxMemoryMB, "memory_size_mb", e.fn.spec.MemoryMB)
	}
	return res, nil
}

func roundTrip(client *http.Client, req *http.Request) (int, []byte, error) {
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, body, nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// freePorts asks the kernel for n free loopback ports at once. Another
// process may take one before RIE binds it; spawn retries then.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("free port: %w", err)
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// logStream names a log stream as Lambda does: date, version, instance.
func logStream(now time.Time, index int) string {
	return fmt.Sprintf("%s/[$LATEST]%s%02d", now.UTC().Format("2006/01/02"), randomHex(15), index%100)
}
