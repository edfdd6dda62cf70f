// Command invoke does what sam local invoke does: it builds one function of
// template.yaml (or of an example's own template under examples/), runs it
// once under the Lambda Runtime Interface Emulator with the template's
// environment, memory and timeout, and prints the answer and the REPORT line.
//
//	go run ./infra/cmd/invoke -fn publish -event events/publish.json
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/flowbus/flowbus/infra/devrun"
	"github.com/flowbus/flowbus/infra/lambdarun"
	"github.com/flowbus/flowbus/infra/template"
	"github.com/flowbus/flowbus/shared/config"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "invoke:", err)
		os.Exit(1)
	}
}

func run() error {
	tplPath := flag.String("template", "template.yaml", "SAM template")
	fnName := flag.String("fn", "", "function: logical id (PublishFunction) or folder name (publish)")
	eventPath := flag.String("event", "", "event file, - for standard input")
	rie := flag.String("rie", filepath.Join(gopath(), "bin", "aws-lambda-rie"), "aws-lambda-rie binary")
	flag.Parse()
	if *fnName == "" || *eventPath == "" {
		return errors.New("usage: invoke -fn <function> -event <file>")
	}
	// The sample events' caller (requestContext.authorizer.jwt, sub
	// flowbus-dev) is the bootstrap admin, as under make dev.
	tpl, err := template.Load(*tplPath, map[string]string{"Admins": "sub:" + devrun.DevAdmin})
	if err != nil {
		return err
	}
	fn, err := find(tpl, *fnName)
	if err != nil {
		// A function of an example's own template (examples/consumer):
		// that template is run instead.
		exTpl, exFn := findExample(filepath.Dir(*tplPath), *fnName)
		if exFn == nil {
			return err
		}
		tpl, fn = exTpl, exFn
	}
	var payload []byte
	if *eventPath == "-" {
		payload, err = io.ReadAll(os.Stdin)
	} else {
		payload, err = os.ReadFile(*eventPath)
	}
	if err != nil {
		return fmt.Errorf("read event: %w", err)
	}
	ctx := context.Background()
	// Like sam local invoke against LocalStack, but the template's resources
	// are created first (idempotently), so the function finds them.
	if awsCfg, err := config.AWS(ctx); err == nil {
		quiet := func(string, ...any) {}
		if _, err := devrun.Provision(ctx, awsCfg, tpl, 1, quiet); err != nil {
			return err
		}
	}
	dir, err := os.MkdirTemp("", "flowbus-invoke-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bootstrap, err := lambdarun.Build(ctx, filepath.Join(fn.Root, fn.CodeURI), dir)
	if err != nil {
		return err
	}
	f, err := lambdarun.Start(ctx, lambdarun.Spec{
		Name: fn.LogicalID, Bootstrap: bootstrap, Env: fn.Env, MemoryMB: fn.MemoryMB, Timeout: fn.Timeout, PoolSize: 1, RIE: *rie,
	}, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		return err
	}
	defer f.Close()
	res, err := f.Invoke(ctx, payload)
	if err != nil {
		return err
	}
	os.Stderr.Write(res.Logs) // START, the function's output, END, REPORT
	fmt.Println(string(res.Payload))
	if !strings.Contains(string(res.Logs), "REPORT") {
		fmt.Fprintln(os.Stderr, res.Report)
	}
	if res.FunctionError != "" {
		return fmt.Errorf("function error: %s", res.FunctionError)
	}
	return nil
}

// find takes a logical id or the folder of a function's CodeUri.
func find(tpl *template.Template, name string) (*template.Function, error) {
	if fn, ok := tpl.Functions[name]; ok {
		return fn, nil
	}
	var ids []string
	for id, fn := range tpl.Functions {
		if filepath.Base(fn.CodeURI) == name {
			return fn, nil
		}
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return nil, fmt.Errorf("no function %q in the template; have %s", name, strings.Join(ids, ", "))
}

// findExample looks for a function by logical id in the templates under
// examples/ (each an own stack, such as examples/consumer/template.yaml).
func findExample(root, name string) (*template.Template, *template.Function) {
	paths, _ := filepath.Glob(filepath.Join(root, "examples", "*", "template.yaml"))
	for _, p := range paths {
		tpl, err := template.Load(p, nil)
		if err != nil {
			continue
		}
		if fn, ok := tpl.Functions[name]; ok {
			return tpl, fn
		}
	}
	return nil, nil
}

func gopath() string {
	if p := os.Getenv("GOPATH"); p != "" {
		return p
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, "go")
}
