package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/flowbus/flowbus/infra/faultproxy"
	"github.com/flowbus/flowbus/shared/testenv"
)

const consumeFunction = "ConsumeFunction"

func scenarios() []scenario {
	return []scenario{
		{name: "none", what: "no fault: the harness itself", short: true},
		{name: "consume-killed", what: "kill -9 of the consume function's bootstrap processes every 2.5 s", short: true,
			during: every(2500*time.Millisecond, func(_ context.Context, h *harness, r *trial) error {
				if n := h.local.Signal(consumeFunction, syscall.SIGKILL); n > 0 {
					r.count("bootstraps killed", n)
				}
				return nil
			})},
		{name: "dynalite-paused", what: "dynalite stopped (SIGSTOP) for 4 s of every 8 s, then continued (SIGCONT)", short: true,
			during: cycle(4*time.Second, 4*time.Second, func(h *harness, on bool) error {
				pid := h.local.EnginePID("dynalite")
				if pid == 0 {
					return fmt.Errorf("no dynalite pid in %s", h.local.EngineDir())
				}
				if on {
					return syscall.Kill(pid, syscall.SIGSTOP)
				}
				return sigcont(pid)
			})},
		{name: "putrecords-throttled", what: "30 % of PutRecords entries answered ProvisionedThroughputExceeded", short: true,
			during: steady(func(h *harness) error { return h.kinesis.Set(faultproxy.Faults{ThrottlePutRecords: 0.3}) })},
		{name: "batchwrite-unprocessed", what: "30 % of BatchWriteItem requests returned in UnprocessedItems", short: true,
			during: steady(func(h *harness) error { return h.dynamo.Set(faultproxy.Faults{UnprocessedBatchWrite: 0.3}) })},
		{name: "poison", what: "a garbage record put straight on the stream with one workflow's key, among its good events: that workflow, and only it, parked", short: true,
			extra: []string{"poison"}, during: poison},
		{name: "redelivered", what: "the consumer invoked again with batches it already stored: B2, then the older B1, then B2 again; the store must not change", short: true,
			after: redeliver},
		// The only fault that needs another consume Timeout, and so a
		// runtime restarted with it.
		{name: "consume-timeout", what: fmt.Sprintf("consume Timeout %d s; DynamoDB answers 1.5 s late for 3 s of every 6 s, so invocations time out mid-append", consumeTimeout), short: true,
			consumeTimeout: consumeTimeout, during: cycle(3*time.Second, 3*time.Second, func(h *harness, on bool) error {
				f := faultproxy.Faults{}
				if on {
					f.Latency = 1500 * time.Millisecond
				}
				return h.dynamo.Set(f)
			})},
		// Engine restarts last (after consume-timeout, the runtime restarted
		// back to template.yaml's settings): an engine that does not come
		// back cannot spoil the faults after it.
		{name: "dynalite-restarted", what: "dynalite killed (kill -9) and restarted on its port with its data (engines.sh kill-engine, restart-engine)",
			unavailable: singleRestart, during: restartEngine("dynalite", true)},
		{name: "kinesis-restarted", what: "kinesis-mock stopped (TERM: it writes its data) and restarted on its port with its data (engines.sh restart-engine)",
			unavailable: singleRestart, during: restartEngine("kinesis-local", false)},
		{name: "kinesis-killed", what: "kinesis-mock killed (kill -9) and restarted: it loses what was put since its last write to disk (1 s interval), so acknowledged events may be missing by the engine's design",
			unavailable: singleRestart, persistKinesis: true, during: restartEngine("kinesis-local", true)},
	}
}

func (r *trial) count(what string, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.counts == nil {
		r.counts = map[string]int{}
	}
	if _, ok := r.counts[what]; !ok {
		r.order = append(r.order, what)
	}
	r.counts[what] += n
}

func sigcont(pid int) error { return syscall.Kill(pid, syscall.SIGCONT) }

// every runs fn at each tick until ctx ends.
func every(d time.Duration, fn func(context.Context, *harness, *trial) error) func(context.Context, *harness, *trial) error {
	return func(ctx context.Context, h *harness, r *trial) error {
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
				if err := fn(ctx, h, r); err != nil {
					return err
				}
			}
		}
	}
}

// cycle switches a fault on for `on`, off for `off`, starting off, until ctx
// ends; it leaves the fault off.
func cycle(off, on time.Duration, set func(h *harness, on bool) error) func(context.Context, *harness, *trial) error {
	return func(ctx context.Context, h *harness, r *trial) error {
		defer func() { _ = set(h, false) }()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(off):
			}
			if err := set(h, true); err != nil {
				return err
			}
			r.count("times on", 1)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(on):
			}
			if err := set(h, false); err != nil {
				return err
			}
		}
	}
}

// steady sets a fault for the whole publishing time.
func steady(set func(h *harness) error) func(context.Context, *harness, *trial) error {
	return func(ctx context.Context, h *harness, _ *trial) error {
		if err := set(h); err != nil {
			return err
		}
		<-ctx.Done()
		return nil
	}
}

// singleRestart says why an engine cannot be restarted alone with its data,
// if it cannot: localstack/engines.sh must offer it (its usage text names
// the command).
func singleRestart(h *harness) string {
	out, _ := exec.Command(filepath.Join(h.local.Repo, "localstack", "engines.sh")).CombinedOutput()
	usage := strings.TrimSpace(string(out))
	if strings.Contains(usage, "restart-engine") && strings.Contains(usage, "kill-engine") {
		return ""
	}
	return "not available: localstack/engines.sh cannot restart one engine on its port with its data (" + usage + ")"
}

// restartEngine stops one engine a third into the run — kill -9 when hard,
// else TERM — and brings it back through engines.sh on its port with its
// data.
func restartEngine(name string, hard bool) func(context.Context, *harness, *trial) error {
	return func(ctx context.Context, h *harness, r *trial) error {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(h.o.publish / 3):
		}
		bg := context.WithoutCancel(ctx)
		pid := h.local.EnginePID(name)
		if hard {
			if _, err := h.local.EnginesCmd(bg, "kill-engine", name); err != nil {
				return err
			}
			r.note("%s (pid %d) killed", name, pid)
			time.Sleep(2 * time.Second)
		}
		t0 := time.Now()
		if _, err := h.local.EnginesCmd(bg, "restart-engine", name); err != nil {
			return err
		}
		r.note("%s back (pid %d) in %s", name, h.local.EnginePID(name), time.Since(t0).Round(100*time.Millisecond))
		return nil
	}
}

// poison puts an undecodable record on the stream with the poison
// workflow's partition key, a third of the way into the run, so that the
// workflow has good events before and after it.
func poison(ctx context.Context, h *harness, r *trial) error {
	wf := r.extra["poison"]
	r.expect.Parked = map[string]bool{wf: true}
	select {
	case <-ctx.Done():
		return nil
	case <-time.After(h.o.publish / 3):
	}
	_, err := h.kin.PutRecord(context.WithoutCancel(ctx), &kinesis.PutRecordInput{
		StreamName: aws.String(h.local.Stream), PartitionKey: aws.String(wf), Data: []byte(`{"specversion":"1.0", this is not JSON`),
	})
	if err != nil {
		return fmt.Errorf("put the poison record: %w", err)
	}
	r.note("poison record put on %s", wf)
	<-ctx.Done()
	return nil
}

// redeliver waits until the run's events are stored, reads its records
// back from the stream, and invokes the consumer with B2 (the newer half),
// B1 (the older half) and B2 again, through the local Lambda Invoke API.
// The store must not change.
func redeliver(ctx context.Context, h *harness, r *trial) error {
	wfs := []string{}
	for i := range h.o.workflows {
		wfs = append(wfs, fmt.Sprintf("%s-w%03d", r.prefix, i))
	}
	// Everything acknowledged is stored first (a plain check; its result
	// is judged again below).
	deadline := time.Now().Add(h.o.wait)
	recs, shard, arn, err := h.readBack(ctx, r)
	if err != nil {
		return err
	}
	if len(recs) < 2 {
		return fmt.Errorf("only %d records of the run on the stream", len(recs))
	}
	for {
		before, err := h.checker.Snapshot(ctx, wfs)
		if err != nil {
			return err
		}
		stored := 0
		for _, w := range before {
			stored += len(w.Events)
		}
		time.Sleep(2 * time.Second)
		again, err := h.checker.Snapshot(ctx, wfs)
		if err != nil {
			return err
		}
		n := 0
		for _, w := range again {
			n += len(w.Events)
		}
		if n == stored && (n > 0 || time.Now().After(deadline)) {
			r.expect.Unchanged = again
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the consumer did not settle within %s", h.o.wait)
		}
	}
	half := len(recs) / 2
	b1, b2 := recs[:half], recs[half:]
	for i, b := range [][]types.Record{b2, b1, b2} {
		out, err := h.invokeConsume(ctx, shard, arn, b)
		if err != nil {
			return fmt.Errorf("invoke %d: %w", i+1, err)
		}
		r.note("invocation %d (%s, %d records): %s", i+1, []string{"B2", "B1", "B2"}[i], len(b), out)
	}
	return nil
}

// readBack reads the records of the run's workflows from the stream's
// shards, from the run's start.
func (h *harness) readBack(ctx context.Context, r *trial) (recs []types.Record, shard, arn string, err error) {
	desc, err := h.kin.DescribeStream(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String(h.local.Stream)})
	if err != nil {
		return nil, "", "", err
	}
	arn = aws.ToString(desc.StreamDescription.StreamARN)
	if len(desc.StreamDescription.Shards) != 1 {
		return nil, "", "", fmt.Errorf("%d shards; the read-back handles one", len(desc.StreamDescription.Shards))
	}
	shard = aws.ToString(desc.StreamDescription.Shards[0].ShardId)
	it, err := h.kin.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(h.local.Stream), ShardId: aws.String(shard),
		ShardIteratorType: types.ShardIteratorTypeAtTimestamp, Timestamp: aws.Time(r.started.Add(-time.Second))})
	if err != nil {
		return nil, "", "", err
	}
	iter := it.ShardIterator
	for iter != nil {
		out, err := h.kin.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(10000)})
		if err != nil {
			return nil, "", "", err
		}
		for _, rec := range out.Records {
			if strings.HasPrefix(aws.ToString(rec.PartitionKey), r.prefix+"-") {
				recs = append(recs, rec)
			}
		}
		if len(out.Records) == 0 && aws.ToInt64(out.MillisBehindLatest) == 0 {
			break
		}
		iter = out.NextShardIterator
	}
	return recs, shard, arn, nil
}

// invokeConsume sends the consumer a Kinesis event of recs, as the event
// source mapping would, and returns its answer.
func (h *harness) invokeConsume(ctx context.Context, shard, arn string, recs []types.Record) (string, error) {
	body, err := testenv.KinesisEvent(shard, arn, recs)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.local.LambdaURL()+"/2015-03-31/functions/"+consumeFunction+"/invocations", strings.NewReader(string(body)))
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Amz-Function-Error") != "" {
		return "", fmt.Errorf("status %d %s: %s", resp.StatusCode, resp.Header.Get("X-Amz-Function-Error"), out)
	}
	return strings.TrimSpace(string(out)), nil
}
