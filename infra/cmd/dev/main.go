// Command dev runs flowbus locally from template.yaml: the stream, table and
// queue on the local engines (or LocalStack), each function under the Lambda
// Runtime Interface Emulator, the HTTP API on 127.0.0.1:3000 and the Kinesis
// event source mappings. Ctrl-C stops everything it started.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/flowbus/flowbus/infra/devrun"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "dev:", err)
		os.Exit(1)
	}
}

func run() error {
	var opts devrun.Options
	flag.StringVar(&opts.Template, "template", "template.yaml", "SAM template to run")
	flag.Func("include", "another SAM template to run beside it, such as examples/consumer/template.yaml (repeatable)", func(path string) error {
		opts.Include = append(opts.Include, path)
		return nil
	})
	flag.StringVar(&opts.Addr, "addr", "127.0.0.1:3000", "address of the HTTP API")
	flag.IntVar(&opts.Shards, "shards", 1, "shards for a stream the template makes on-demand")
	verbose := flag.Bool("v", false, "log the runtime's own debug lines")
	flag.Parse()
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	opts.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rt, err := devrun.Start(ctx, opts)
	if err != nil {
		return err
	}
	fmt.Printf("flowbus is running: %s  (Ctrl-C stops it)\n", rt.URL())
	// The default caller, an admin; make -s token ARGS="sub=… groups=…" mints others.
	fmt.Printf("export FLOWBUS_TOKEN=%s\n", rt.Token())
	<-ctx.Done()
	fmt.Println("stopping…")
	return rt.Close()
}
