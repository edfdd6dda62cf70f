// Command parked lists, shows and resumes parked workflows: workflows whose
// next record could never be stored, set aside in order with the reason
// instead of blocking their shard.
//
//	parked list
//	parked show <workflow>
//	parked resume <workflow> [-skip 1,2] [-replace 3=fixed.json]
//
// It uses the table in FLOWBUS_TABLE on the endpoint the AWS SDK's standard
// variables name (LocalStack, the local engines, or AWS).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/flowbus/flowbus/shared/config"
	"github.com/flowbus/flowbus/shared/consumer"
	"github.com/flowbus/flowbus/shared/dynamostore"
	"github.com/flowbus/flowbus/shared/eventstore"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "parked:", err)
		os.Exit(1)
	}
}

const usage = "usage: parked list | show <workflow> | resume <workflow> [-skip N,N] [-replace N=file]"

func run(args []string) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	cfg, err := config.Load(config.Needs{Table: true})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	awsCfg, err := config.AWS(ctx)
	if err != nil {
		return err
	}
	store := dynamostore.New(dynamodb.NewFromConfig(awsCfg), cfg.Table, dynamostore.Options{})
	switch args[0] {
	case "list":
		heads, err := store.ListParked(ctx)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "WORKFLOW\tSTORED\tWAITING\tREASON")
		for _, h := range heads {
			fmt.Fprintf(w, "%s\t%d\t%d\t%s\n", h.WorkflowID, h.Last, h.ParkedCount, h.ParkedReason)
		}
		return w.Flush()
	case "show":
		if len(args) != 2 {
			return errors.New(usage)
		}
		entries, err := store.Parked(ctx, args[1])
		if err != nil {
			return err
		}
		for _, e := range entries {
			fmt.Printf("#%d  %s  %s\n    %s\n", e.N, e.Pos, e.Reason, preview(e.Raw))
		}
		return nil
	case "resume":
		if len(args) < 2 {
			return errors.New(usage)
		}
		fs := flag.NewFlagSet("resume", flag.ContinueOnError)
		skip := fs.String("skip", "", "parked entries to drop, by number: 1,2")
		replace := fs.String("replace", "", "parked entries to replace with corrected record data: 3=fixed.json,4=other.json")
		if err := fs.Parse(args[2:]); err != nil {
			return err
		}
		fix, err := parseFix(*skip, *replace)
		if err != nil {
			return err
		}
		res, err := store.Resume(ctx, args[1], consumer.ResumeDecoder(args[1]), fix)
		if err != nil {
			return err
		}
		h, err := store.Head(ctx, args[1])
		if err != nil {
			return err
		}
		fmt.Printf("stored %d (positions %d-%d), %d duplicates, %d still parked", res.Stored, res.First, res.Last, res.Duplicates, res.Parked)
		if h.ParkedReason != "" {
			fmt.Printf(": %s", h.ParkedReason)
		}
		fmt.Println()
		return nil
	}
	return errors.New(usage)
}

func parseFix(skip, replace string) (eventstore.Fix, error) {
	var fix eventstore.Fix
	for _, s := range strings.Split(skip, ",") {
		if s == "" {
			continue
		}
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return fix, fmt.Errorf("-skip %q: want entry numbers", skip)
		}
		fix.Skip = append(fix.Skip, n)
	}
	for _, r := range strings.Split(replace, ",") {
		if r == "" {
			continue
		}
		num, file, ok := strings.Cut(r, "=")
		n, err := strconv.ParseUint(num, 10, 64)
		if !ok || err != nil {
			return fix, fmt.Errorf("-replace %q: want N=file", r)
		}
		data, err := os.ReadFile(file)
		if err != nil {
			return fix, fmt.Errorf("-replace %s: %w", r, err)
		}
		if fix.Replace == nil {
			fix.Replace = map[uint64][]byte{}
		}
		fix.Replace[n] = data
	}
	return fix, nil
}

func preview(b []byte) string {
	s := strings.ToValidUTF8(string(b), "?")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return strings.ReplaceAll(s, "\n", " ")
}
