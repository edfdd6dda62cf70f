package sqsesm

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// AWS limits and defaults of an SQS event source mapping.
const (
	DefaultBatchSize = 10
	// MaxReceiveBatch is what one ReceiveMessage returns at most; a batch
	// size above it needs a batching window of at least a second.
	MaxReceiveBatch = 10
	MaxBatchSize    = 10000
	// MaxFifoBatchSize is the largest BatchSize of a FIFO queue's mapping.
	MaxFifoBatchSize   = 10
	MaxBatchingWindow  = 300 * time.Second
	MinConcurrency     = 2
	MaxConcurrency     = 1000
	DefaultConcurrency = 5 // the pollers Lambda starts with
	// LocalMaxConcurrency is the most pollers of a mapping without
	// MaximumConcurrency. Lambda goes up to 1,000 (1,250); locally each
	// poller holds an execution environment, a process.
	LocalMaxConcurrency = 50
	// ScaleInterval is the pace of adding pollers, one at a time: 300 a
	// minute, Lambda's rate.
	ScaleInterval   = 200 * time.Millisecond
	MaxFilters      = 5
	MaxPayloadBytes = 6291456
	// LongPoll is the WaitTimeSeconds of Lambda's receives.
	LongPoll = 20 * time.Second

	defaultRegion = "us-east-1"
)

// Config is one SQS event source mapping, as AWS::Lambda::EventSourceMapping
// (or a SAM SQS event) describes it. Zero values take AWS's defaults except
// where noted.
type Config struct {
	FunctionName string // name or ARN of the function
	QueueURL     string // required
	// QueueARN is the events' eventSourceARN; default arn:aws:sqs:<region>:
	// <account>:<name> from the URL's path (/<account>/<name>).
	QueueARN string
	Region   string // awsRegion of the events; default us-east-1

	BatchSize             int           // 0 means 10; 1–10000, above 10 only with a window
	MaximumBatchingWindow time.Duration // 0–300 s

	ReportBatchItemFailures bool     // FunctionResponseTypes: [ReportBatchItemFailures]
	FilterCriteria          []string // FilterCriteria.Filters[].Pattern, at most 5; SQS filters on body only
	// MaximumConcurrency is ScalingConfig.MaximumConcurrency: the most
	// pollers, each with one invocation at a time; 2–1000. The mapping
	// starts with 5 (or this, when lower) and adds pollers while every
	// poller is in an invocation and the queue has messages; 0 means up to
	// LocalMaxConcurrency.
	MaximumConcurrency int
	// Enabled is AWS's Enabled; its zero value means disabled: set true when
	// the template leaves it out.
	Enabled bool

	// VisibilityTimeout is the VisibilityTimeout of each receive: how long
	// a batch stays hidden while it is gathered and the function runs, and
	// so how soon what was not deleted comes back. Lambda uses the queue's
	// own, which AWS requires to be at least the function's timeout and
	// recommends at six times it; 0 leaves the queue's. Round up to seconds.
	VisibilityTimeout time.Duration
}

// Validate reports every problem of the configuration at once.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.FunctionName == "" {
		bad("FunctionName is required")
	}
	if c.QueueURL == "" {
		bad("QueueURL is required")
	} else if _, _, err := queueOfURL(c.QueueURL); err != nil && c.QueueARN == "" {
		bad("QueueURL %q: %v; set QueueARN", c.QueueURL, err)
	}
	if c.BatchSize < 0 || c.BatchSize > MaxBatchSize {
		bad("BatchSize %d: want 1–%d", c.BatchSize, MaxBatchSize)
	}
	if c.MaximumBatchingWindow < 0 || c.MaximumBatchingWindow > MaxBatchingWindow {
		bad("MaximumBatchingWindow %s: want 0–%s", c.MaximumBatchingWindow, MaxBatchingWindow)
	}
	if c.FIFO() && c.BatchSize > MaxFifoBatchSize {
		bad("BatchSize %d: a FIFO queue's mapping takes at most %d", c.BatchSize, MaxFifoBatchSize)
	}
	if c.BatchSize > MaxReceiveBatch && c.MaximumBatchingWindow < time.Second {
		bad("BatchSize %d: above %d needs a MaximumBatchingWindow of at least 1 s", c.BatchSize, MaxReceiveBatch)
	}
	if c.MaximumConcurrency != 0 && (c.MaximumConcurrency < MinConcurrency || c.MaximumConcurrency > MaxConcurrency) {
		bad("MaximumConcurrency %d: want %d–%d", c.MaximumConcurrency, MinConcurrency, MaxConcurrency)
	}
	if len(c.FilterCriteria) > MaxFilters {
		bad("FilterCriteria: %d filters, at most %d", len(c.FilterCriteria), MaxFilters)
	}
	if c.VisibilityTimeout < 0 || c.VisibilityTimeout > 12*time.Hour {
		bad("VisibilityTimeout %s: want 0–12h", c.VisibilityTimeout)
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	if c.BatchSize == 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.Region == "" {
		c.Region = defaultRegion
	}
	if c.QueueARN == "" {
		account, name, _ := queueOfURL(c.QueueURL)
		c.QueueARN = fmt.Sprintf("arn:aws:sqs:%s:%s:%s", c.Region, account, name)
	}
	return c
}

// FIFO reports whether the queue is a FIFO queue: its name ends in .fifo.
func (c Config) FIFO() bool {
	name := c.QueueARN
	if _, n, err := queueOfURL(c.QueueURL); err == nil {
		name = n
	}
	return strings.HasSuffix(name, ".fifo")
}

// Concurrency is the most pollers a mapping of this configuration runs:
// the most invocations it has in flight at once. It starts with
// InitialConcurrency.
func (c Config) Concurrency() int {
	if c.MaximumConcurrency == 0 {
		return LocalMaxConcurrency
	}
	return c.MaximumConcurrency
}

// InitialConcurrency is the pollers a mapping starts with: 5, as Lambda,
// or MaximumConcurrency when lower.
func (c Config) InitialConcurrency() int { return min(DefaultConcurrency, c.Concurrency()) }

// queueOfURL reads the account and queue name of a queue URL,
// <endpoint>/<account>/<name>.
func queueOfURL(u string) (account, name string, err error) {
	p, err := url.Parse(u)
	if err != nil {
		return "", "", err
	}
	parts := strings.Split(strings.Trim(p.Path, "/"), "/")
	if len(parts) != 2 || parts[0] == "" || parts[1] == "" {
		return "", "", errors.New("not <endpoint>/<account>/<queue name>")
	}
	return parts[0], parts[1], nil
}
