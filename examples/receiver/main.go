// Command receiver is a small webhook endpoint for trying flowbus
// subscriptions: it checks each delivery's Standard Webhooks signature,
// prints the event and answers 204 (401 when the signature is wrong).
//
//	go run ./examples/receiver -secret whsec_... -addr 127.0.0.1:9000
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/flowbus/flowbus/shared/webhook"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "receiver:", err)
		os.Exit(1)
	}
}

func run() error {
	secretFlag := flag.String("secret", os.Getenv("FLOWBUS_WEBHOOK_SECRET"), "the subscription's secret (whsec_…), as POST /subscriptions returned it; FLOWBUS_WEBHOOK_SECRET by default")
	addr := flag.String("addr", "127.0.0.1:9000", "address to listen on")
	flag.Parse()
	if *secretFlag == "" {
		return errors.New("-secret is required: the whsec_… value POST /subscriptions answered with")
	}
	secret, err := webhook.ParseSecret(*secretFlag)
	if err != nil {
		return fmt.Errorf("-secret: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	srv := &http.Server{
		Addr:              *addr,
		Handler:           NewHandler(secret, os.Stdout, time.Now),
		ReadHeaderTimeout: 10 * time.Second,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	fmt.Printf("receiver: listening on http://%s, verifying signatures; Ctrl-C stops\n", *addr)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}
