// Command faultproxy puts infra/faultproxy between flowbus and one local
// engine, by hand:
//
//	faultproxy -target "$AWS_ENDPOINT_URL_KINESIS" -addr 127.0.0.1:4600 -throttle-putrecords 0.3
//
// and give flowbus http://127.0.0.1:4600 as AWS_ENDPOINT_URL_KINESIS. Faults
// switch at run time: each line on stdin is parsed as fault flags on top of
// the faults in force ("-pause", "-pause=false -latency 200ms", "-refuse");
// "stats" prints the counts. Ctrl-C prints them and stops.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/flowbus/flowbus/infra/faultproxy"
)

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "faultproxy:", err)
		os.Exit(1)
	}
}

// faultFlags binds the fault flags to f.
func faultFlags(fs *flag.FlagSet, f *faultproxy.Faults) {
	fs.Float64Var(&f.ThrottlePutRecords, "throttle-putrecords", f.ThrottlePutRecords, "share of PutRecords entries and PutRecord calls throttled")
	fs.Float64Var(&f.UnprocessedBatchWrite, "unprocessed-batchwrite", f.UnprocessedBatchWrite, "share of BatchWriteItem write requests returned in UnprocessedItems")
	fs.Float64Var(&f.ThrottleDynamo, "throttle-dynamo", f.ThrottleDynamo, "share of DynamoDB data-plane calls throttled")
	fs.DurationVar(&f.Latency, "latency", f.Latency, "added before forwarding each request")
	fs.BoolVar(&f.Pause, "pause", f.Pause, "hold every request until unpaused")
	fs.BoolVar(&f.Refuse, "refuse", f.Refuse, "refuse connections, as an engine that is down")
}

func run(args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("faultproxy", flag.ContinueOnError)
	target := fs.String("target", "", "the engine's endpoint, e.g. $AWS_ENDPOINT_URL_KINESIS (loopback)")
	addr := fs.String("addr", "127.0.0.1:0", "loopback address to listen on")
	seed := fs.Uint64("seed", 0, "seed of the fault draws (0: random)")
	var f faultproxy.Faults
	faultFlags(fs, &f)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *target == "" {
		return errors.New("-target is required")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	p, err := faultproxy.Start(ctx, faultproxy.Options{Target: *target, Addr: *addr, Seed: *seed, Faults: f})
	if err != nil {
		return err
	}
	defer p.Close()
	fmt.Fprintf(stdout, "faultproxy %s -> %s, faults %+v\n", p.URL(), *target, p.Faults())

	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdin)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintf(stdout, "stats %+v\n", p.Stats())
			return nil
		case line, ok := <-lines:
			if !ok {
				lines = nil // stdin closed: keep running until a signal
				continue
			}
			command(p, strings.TrimSpace(line), stdout)
		}
	}
}

// command applies one stdin line.
func command(p *faultproxy.Proxy, line string, out io.Writer) {
	switch line {
	case "":
		return
	case "stats":
		fmt.Fprintf(out, "stats %+v\n", p.Stats())
		return
	}
	f := p.Faults()
	fs := flag.NewFlagSet("set", flag.ContinueOnError)
	fs.SetOutput(out)
	faultFlags(fs, &f)
	if err := fs.Parse(strings.Fields(line)); err != nil {
		return // the flag package printed the problem and the usage
	}
	if err := p.Set(f); err != nil {
		fmt.Fprintln(out, err)
	}
	fmt.Fprintf(out, "faults %+v\n", p.Faults())
}
