// Command sqslocal runs the in-memory SQS engine of package sqslocal on a
// loopback address, for local runs and tests (localstack/engines.sh starts it).
//
//	sqslocal -addr 127.0.0.1:0 -region us-east-1
//
// When it listens it prints one line, "sqslocal listening on http://<addr>", on
// stdout. It stops on SIGINT or SIGTERM, ending long polls first.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/flowbus/flowbus/infra/sqslocal"
)

const shutdownGrace = 5 * time.Second

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "sqslocal:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:9324", "listen address (host:port; port 0 picks a free one)")
	region := flag.String("region", "us-east-1", "region in queue ARNs")
	allowRemote := flag.Bool("allow-remote", false, "allow a listen address other than loopback")
	logRequests := flag.Bool("log-requests", false, "log every request on stderr")
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", flag.Args())
	}
	if err := checkLoopback(*addr, *allowRemote); err != nil {
		return err
	}

	level := slog.LevelInfo
	if *logRequests {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	engine := sqslocal.New(sqslocal.Options{Region: *region, Logger: logger})

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	srv := &http.Server{
		Handler:           engine,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	fmt.Printf("sqslocal listening on http://%s\n", ln.Addr())

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	engine.Close() // long polls answer now instead of holding the shutdown
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// checkLoopback refuses a listen address that is not a loopback IP or
// "localhost", unless remote access was allowed.
func checkLoopback(addr string, allowRemote bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("-addr %q: %w", addr, err)
	}
	if allowRemote || host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("-addr %q is not a loopback address (127.0.0.1, ::1 or localhost); pass -allow-remote to listen there anyway", addr)
}
