package lambdarun

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// RIEPackage is the go install argument of the emulator this package is
// written against.
const RIEPackage = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@v0.0.0-20261030222936-bef5c4ba774d"

// Lambda's defaults and limits, as a template leaves or bounds them.
const (
	DefaultTimeout  = 3 * time.Second
	DefaultMemoryMB = 128
	MaxTimeout      = 900 * time.Second
	MinMemoryMB     = 128
	MaxMemoryMB     = 10240
)

// Spec describes one function, as the template does.
type Spec struct {
	Name      string            // logical id, e.g. PublishFunction
	Bootstrap string            // path to the built bootstrap binary
	Env       map[string]string // from the template (Globals merged in by the caller)
	MemoryMB  int               // MemorySize; 0 means Lambda's default, 128
	Timeout   time.Duration     // Timeout, whole seconds; 0 means Lambda's default, 3 s
	PoolSize  int               // execution environments, each serving one invocation at a time; 0 means 1
	// MaxPoolSize is the most execution environments: an invocation that
	// finds all PoolSize busy starts another, up to this, as Lambda scales
	// a function out. 0 means PoolSize.
	MaxPoolSize int
	RIE         string // path to aws-lambda-rie; "" looks it up with LookRIE
}

// reserved are the variables Lambda sets itself and refuses in a function's
// configuration, and those RIE reads to configure itself.
var reserved = map[string]bool{
	"_HANDLER": true, "_X_AMZN_TRACE_ID": true, "AWS_DEFAULT_REGION": true, "AWS_REGION": true,
	"AWS_EXECUTION_ENV": true, "AWS_LAMBDA_FUNCTION_NAME": true, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": true,
	"AWS_LAMBDA_FUNCTION_VERSION": true, "AWS_LAMBDA_INITIALIZATION_TYPE": true,
	"AWS_LAMBDA_LOG_GROUP_NAME": true, "AWS_LAMBDA_LOG_STREAM_NAME": true, "AWS_ACCESS_KEY": true,
	"AWS_ACCESS_KEY_ID": true, "AWS_SECRET_ACCESS_KEY": true, "AWS_SESSION_TOKEN": true,
	"AWS_LAMBDA_RUNTIME_API": true, "LAMBDA_TASK_ROOT": true, "LAMBDA_RUNTIME_DIR": true,
	// RIE's own settings: MAX_CONCURRENCY switches it to another mode.
	"AWS_LAMBDA_FUNCTION_TIMEOUT": true, "AWS_LAMBDA_FUNCTION_HANDLER": true, "AWS_LAMBDA_MAX_CONCURRENCY": true,
}

// withDefaults fills what the template may leave out.
func (s Spec) withDefaults() Spec {
	if s.Timeout == 0 {
		s.Timeout = DefaultTimeout
	}
	if s.MemoryMB == 0 {
		s.MemoryMB = DefaultMemoryMB
	}
	if s.PoolSize == 0 {
		s.PoolSize = 1
	}
	if s.MaxPoolSize == 0 {
		s.MaxPoolSize = s.PoolSize
	}
	return s
}

// Validate reports every problem with the spec at once.
func (s Spec) Validate() error {
	var errs []error
	if s.Name == "" {
		errs = append(errs, errors.New("name is empty"))
	}
	if s.Bootstrap == "" {
		errs = append(errs, errors.New("bootstrap is empty"))
	} else if err := executable(s.Bootstrap); err != nil {
		errs = append(errs, fmt.Errorf("bootstrap: %w", err))
	}
	if s.RIE != "" {
		if err := executable(s.RIE); err != nil {
			errs = append(errs, fmt.Errorf("rie: %w", err))
		}
	}
	if s.Timeout < time.Second || s.Timeout > MaxTimeout || s.Timeout%time.Second != 0 {
		errs = append(errs, fmt.Errorf("timeout %v: Lambda takes whole seconds from 1 to 900", s.Timeout))
	}
	if s.MemoryMB < MinMemoryMB || s.MemoryMB > MaxMemoryMB {
		errs = append(errs, fmt.Errorf("memory %d MB: Lambda takes %d to %d", s.MemoryMB, MinMemoryMB, MaxMemoryMB))
	}
	if s.PoolSize < 1 {
		errs = append(errs, fmt.Errorf("pool size %d: at least 1", s.PoolSize))
	}
	if s.MaxPoolSize != 0 && s.MaxPoolSize < s.PoolSize {
		errs = append(errs, fmt.Errorf("max pool size %d: at least the pool size, %d", s.MaxPoolSize, s.PoolSize))
	}
	keys := make([]string, 0, len(s.Env))
	for k := range s.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch {
		case reserved[k]:
			errs = append(errs, fmt.Errorf("environment variable %s is reserved by Lambda", k))
		case k == "" || strings.ContainsAny(k, "=\x00"):
			errs = append(errs, fmt.Errorf("environment variable name %q is invalid", k))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("function %q: %w", s.Name, err)
	}
	return nil
}

func executable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", path)
	}
	return nil
}

// passThrough tells the caller's variables a function gets too, so it reaches
// the same AWS engines with the same credentials.
func passThrough(name string) bool {
	switch name {
	case "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN":
		return true
	}
	return strings.HasPrefix(name, "AWS_ENDPOINT_URL")
}

// environ is the whole environment of an execution environment's process
// (which RIE hands on to the bootstrap): the Spec's variables, what Lambda
// sets itself, and the caller's credentials and endpoints from parent
// (os.Environ form). Nothing else of parent leaks in.
func (s Spec) environ(parent []string, taskRoot, logStream string) []string {
	env := map[string]string{
		// Lambda's defaults a function may override.
		"PATH": "/usr/local/bin:/usr/bin/:/bin:/opt/bin",
		"LANG": "en_US.UTF-8",
		"TZ":   ":UTC",
	}
	for k, v := range s.Env {
		env[k] = v
	}
	caller := map[string]string{}
	for _, kv := range parent {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		caller[k] = v
		if passThrough(k) {
			env[k] = v
		}
	}
	region := caller["AWS_REGION"]
	if region == "" {
		region = caller["AWS_DEFAULT_REGION"]
	}
	if region == "" {
		region = "us-east-1"
	}
	for k, v := range map[string]string{
		"AWS_REGION":                      region,
		"AWS_DEFAULT_REGION":              region,
		"AWS_LAMBDA_FUNCTION_NAME":        s.Name,
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": strconv.Itoa(s.MemoryMB),
		"AWS_LAMBDA_FUNCTION_TIMEOUT":     strconv.Itoa(int(s.Timeout / time.Second)),
		"AWS_LAMBDA_FUNCTION_VERSION":     "$LATEST",
		"AWS_LAMBDA_INITIALIZATION_TYPE":  "on-demand",
		"AWS_LAMBDA_LOG_GROUP_NAME":       "/aws/lambda/" + s.Name,
		"AWS_LAMBDA_LOG_STREAM_NAME":      logStream,
		"LAMBDA_TASK_ROOT":                taskRoot,
		"_HANDLER":                        "bootstrap",
		// As sam local sets it: the function runs locally (it may then
		// deliver plain http:// to loopback and use a dev sealing key).
		"AWS_SAM_LOCAL": "true",
	} {
		env[k] = v
	}
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// LookRIE finds aws-lambda-rie: on PATH, then where go install puts it
// ($GOBIN, $GOPATH/bin, ~/go/bin).
func LookRIE() (string, error) {
	if p, err := exec.LookPath("aws-lambda-rie"); err == nil {
		return p, nil
	}
	var dirs []string
	if d := os.Getenv("GOBIN"); d != "" {
		dirs = append(dirs, d)
	}
	for _, d := range filepath.SplitList(os.Getenv("GOPATH")) {
		dirs = append(dirs, filepath.Join(d, "bin"))
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, "go", "bin"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, "aws-lambda-rie")
		if executable(p) == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("aws-lambda-rie not found on PATH, in $GOBIN or in $GOPATH/bin: install it with go install %s", RIEPackage)
}
