package loadgen

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/flowbus/flowbus/infra/devrun"
	"github.com/flowbus/flowbus/shared/config"
)

// LocalOptions configures a Local flowbus.
type LocalOptions struct {
	Repo   string // the repository root (template.yaml, localstack/engines.sh); default "."
	RunDir string // engines, builds, checkpoints and logs; required
	Addr   string // HTTP API address; default a free loopback port
	// Template, when set, replaces template.yaml: it is written into RunDir
	// with CodeUri paths pointing back at the repository.
	Template func(yaml string) string
	// Endpoints, when set, may change the AWS endpoints the runtime and its
	// functions use (a fault proxy in front of an engine); it gets the
	// engines' endpoints by variable name and returns the ones to use.
	Endpoints func(engines map[string]string) (map[string]string, error)
	Out       io.Writer // the runtime's output (one line per invocation); default RunDir/dev.log
	LiveEvery time.Duration
	// EngineEnv is added to localstack/engines.sh's environment for every
	// command (e.g. FLOWBUS_KINESIS_PERSIST_INTERVAL).
	EngineEnv map[string]string
}

// Local is flowbus running on this machine with engines of its own: the
// engines from localstack/engines.sh in their own run dir, and the local
// runtime (infra/devrun, what make dev runs) in this process.
type Local struct {
	RunDir  string
	Repo    string
	Engines map[string]string // engine endpoints by variable name, as engines.sh wrote them
	Used    map[string]string // the endpoints the runtime was given
	Table   string
	Stream  string
	rt      *devrun.Runtime
	logFile *os.File
	opts    LocalOptions
	out     io.Writer
}

// StartLocal starts engines and the runtime. Close stops both.
func StartLocal(ctx context.Context, o LocalOptions) (*Local, error) {
	if o.Repo == "" {
		o.Repo = "."
	}
	repo, err := filepath.Abs(o.Repo)
	if err != nil {
		return nil, err
	}
	if o.RunDir == "" {
		return nil, errors.New("local: RunDir is required")
	}
	runDir, err := filepath.Abs(o.RunDir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		return nil, err
	}
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	l := &Local{RunDir: runDir, Repo: repo, Table: "flowbus-events", Stream: "flowbus-events", opts: o}
	ok := false
	defer func() {
		if !ok {
			_ = l.Close()
		}
	}()
	if _, err := l.EnginesCmd(ctx, "start"); err != nil {
		return nil, err
	}
	if l.Engines, err = readEnv(filepath.Join(l.EngineDir(), "env")); err != nil {
		return nil, err
	}
	l.Used = l.Engines
	if o.Endpoints != nil {
		if l.Used, err = o.Endpoints(l.Engines); err != nil {
			return nil, err
		}
	}
	// The runtime builds its AWS clients from the environment and passes it
	// on to every function's execution environments.
	for k, v := range l.Used {
		if err := os.Setenv(k, v); err != nil {
			return nil, err
		}
	}
	l.out = o.Out
	if l.out == nil {
		if l.logFile, err = os.Create(filepath.Join(runDir, "dev.log")); err != nil {
			return nil, err
		}
		l.out = l.logFile
	}
	if err := l.startRuntime(ctx, o.Template); err != nil {
		return nil, err
	}
	ok = true
	return l, nil
}

// startRuntime starts the runtime from template.yaml, or from what
// template makes of it when set (written into RunDir, CodeUri paths
// pointing back at the repository).
func (l *Local) startRuntime(ctx context.Context, template func(string) string) error {
	tpl := filepath.Join(l.Repo, "template.yaml")
	if template != nil {
		b, err := os.ReadFile(tpl)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(l.RunDir, l.Repo)
		if err != nil {
			return err
		}
		y := strings.ReplaceAll(string(b), "CodeUri: functions/", "CodeUri: "+filepath.ToSlash(rel)+"/functions/")
		tpl = filepath.Join(l.RunDir, "template.yaml")
		if err := os.WriteFile(tpl, []byte(template(y)), 0o644); err != nil {
			return err
		}
	}
	live := l.opts.LiveEvery
	if live == 0 {
		live = -1
	}
	// The runtime's warnings and errors (an engine that handed out sequence
	// numbers again, a checkpoint that cannot be saved) go to the same
	// output, as make dev prints them.
	logger := slog.New(slog.NewTextHandler(l.out, &slog.HandlerOptions{Level: slog.LevelWarn}))
	rt, err := devrun.Start(ctx, devrun.Options{Template: tpl, Addr: l.opts.Addr, RunDir: filepath.Join(l.RunDir, "dev"), Out: l.out, LiveEvery: live, Log: logger})
	if err != nil {
		return err
	}
	l.rt = rt
	return nil
}

// RestartRuntime stops the runtime and starts it again on the same engines
// and run dir (the mappings go on from their checkpoints), from
// template.yaml as template changes it (nil: as it is). The HTTP API may
// get another port: ask URL again.
func (l *Local) RestartRuntime(ctx context.Context, template func(string) string) error {
	if l.rt != nil {
		err := l.rt.Close()
		l.rt = nil
		if err != nil {
			return fmt.Errorf("stop the runtime: %w", err)
		}
	}
	return l.startRuntime(ctx, template)
}

// URL is the HTTP API's base URL.
func (l *Local) URL() string { return l.rt.URL() }

// Token is an admin's token for the HTTP API (devrun.Runtime.Token).
func (l *Local) Token() string { return l.rt.Token() }

// LambdaURL is the local Lambda Invoke API.
func (l *Local) LambdaURL() string { return os.Getenv("AWS_ENDPOINT_URL_LAMBDA") }

// EngineDir is the engines' run dir.
func (l *Local) EngineDir() string { return filepath.Join(l.RunDir, "engines") }

// EnginesCmd runs localstack/engines.sh with the engines' own run dir.
func (l *Local) EnginesCmd(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(l.Repo, "localstack", "engines.sh"), args...)
	cmd.Env = append(os.Environ(), "FLOWBUS_ENGINES_RUN_DIR="+l.EngineDir())
	for k, v := range l.opts.EngineEnv {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("engines.sh %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out), nil
}

// EnginePID is the pid engines.sh recorded for an engine (kinesis-local,
// dynalite, sqslocal), or 0.
func (l *Local) EnginePID(name string) int {
	b, err := os.ReadFile(filepath.Join(l.EngineDir(), name+".pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// FunctionPIDs lists the live bootstrap processes of a function (its
// logical id, e.g. ConsumeFunction) that this runtime started: the
// processes whose program is the bootstrap built into this run dir (the
// emulator's own command line names the bootstrap too, as an argument).
func (l *Local) FunctionPIDs(function string) []int {
	want := filepath.Join(l.RunDir, "dev", "build", function, "bootstrap")
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		if err != nil || len(b) == 0 {
			continue
		}
		argv0, _, _ := strings.Cut(string(b), "\x00")
		if argv0 == want {
			out = append(out, pid)
		}
	}
	return out
}

// Signal sends sig to every bootstrap process of function and returns how
// many it reached.
func (l *Local) Signal(function string, sig syscall.Signal) int {
	n := 0
	for _, pid := range l.FunctionPIDs(function) {
		if syscall.Kill(pid, sig) == nil {
			n++
		}
	}
	return n
}

// Close stops the runtime, then the engines.
func (l *Local) Close() error {
	var errs []error
	if l.rt != nil {
		errs = append(errs, l.rt.Close())
		l.rt = nil
	}
	if _, err := os.Stat(l.EngineDir()); err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		_, err := l.EnginesCmd(ctx, "stop")
		cancel()
		errs = append(errs, err)
	}
	if l.logFile != nil {
		errs = append(errs, l.logFile.Close())
		l.logFile = nil
	}
	return errors.Join(errs...)
}

// readEnv reads the `export K=V` lines engines.sh writes.
func readEnv(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("engines env: %w", err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimPrefix(strings.TrimSpace(sc.Text()), "export ")
		if k, v, ok := strings.Cut(line, "="); ok {
			out[k] = strings.Trim(v, `"'`)
		}
	}
	return out, sc.Err()
}

// DynamoDB is a client straight to the DynamoDB engine (past any proxy).
func (l *Local) DynamoDB(ctx context.Context) (*dynamodb.Client, error) {
	cfg, err := config.AWS(ctx)
	if err != nil {
		return nil, err
	}
	return dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		o.BaseEndpoint = aws.String(l.Engines["AWS_ENDPOINT_URL_DYNAMODB"])
	}), nil
}

// Kinesis is a client straight to the Kinesis engine (past any proxy).
func (l *Local) Kinesis(ctx context.Context) (*kinesis.Client, error) {
	cfg, err := config.AWS(ctx)
	if err != nil {
		return nil, err
	}
	return kinesis.NewFromConfig(cfg, func(o *kinesis.Options) {
		o.BaseEndpoint = aws.String(l.Engines["AWS_ENDPOINT_URL_KINESIS"])
	}), nil
}
