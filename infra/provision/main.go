// Command provision creates the streams, tables and queues template.yaml
// declares on whatever endpoint the AWS SDK's standard variables point at
// (LocalStack or the local engines), as make dev does before it runs the
// functions. It is idempotent: safe to run again.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/flowbus/flowbus/infra/devrun"
	"github.com/flowbus/flowbus/infra/template"
	"github.com/flowbus/flowbus/shared/config"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "provision:", err)
		os.Exit(1)
	}
}

func run() error {
	tplPath := flag.String("template", "template.yaml", "SAM template")
	shards := flag.Int("shards", 1, "shards for a stream the template makes on-demand")
	params := flag.String("parameters", "", "template parameter overrides: Name=value,Name=value")
	flag.Parse()
	overrides := map[string]string{}
	for _, kv := range strings.Split(*params, ",") {
		if kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return fmt.Errorf("-parameters: %q is not Name=value", kv)
		}
		overrides[k] = v
	}
	tpl, err := template.Load(*tplPath, overrides)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg, err := config.AWS(ctx)
	if err != nil {
		return err
	}
	_, err = devrun.Provision(ctx, cfg, tpl, *shards, func(format string, args ...any) { fmt.Printf(format+"\n", args...) })
	return err
}
