package esm

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Starting positions of a mapping without a checkpoint.
const (
	TrimHorizon = "TRIM_HORIZON"
	Latest      = "LATEST"
	AtTimestamp = "AT_TIMESTAMP"
)

// AWS limits and defaults of a Kinesis event source mapping.
const (
	DefaultBatchSize    = 100
	MaxBatchSize        = 10000
	MaxBatchingWindow   = 300 * time.Second
	MaxParallelization  = 10
	MaxRetryAttempts    = 10000
	MinRecordAge        = 60 * time.Second
	MaxRecordAge        = 7 * 24 * time.Hour
	MaxFilters          = 5 // the default quota (AWS raises it to 10 on request)
	MaxPayloadBytes     = 6291456
	DefaultPollInterval = time.Second

	defaultRegion  = "us-east-1"
	defaultAccount = "000000000000"
)

// Config is one event source mapping, as AWS::Lambda::EventSourceMapping (or
// a SAM Kinesis event) describes it. Zero values take AWS's defaults except
// where noted: Go's zero cannot tell "unset" from 0 or false there.
type Config struct {
	FunctionName string // name or ARN of the function
	StreamName   string // name or ARN of the stream

	BatchSize             int           // records per invoke; 0 means 100; 1–10000
	MaximumBatchingWindow time.Duration // 0–300 s
	ParallelizationFactor int           // concurrent batches per shard; 0 means 1; 1–10

	StartingPosition          string    // TRIM_HORIZON, LATEST or AT_TIMESTAMP; required
	StartingPositionTimestamp time.Time // with AT_TIMESTAMP only

	BisectBatchOnFunctionError bool
	// MaximumRetryAttempts is -1 (retry until the records expire, AWS's
	// default) or 0–10000. Its zero value means no retries: set -1 when the
	// template leaves it out.
	MaximumRetryAttempts int
	// MaximumRecordAge is -1, -1 s (MaximumRecordAgeInSeconds: -1 converted)
	// or 0 for no limit (AWS's default), or 60 s–7 days.
	MaximumRecordAge time.Duration

	ReportBatchItemFailures bool     // FunctionResponseTypes: [ReportBatchItemFailures]
	FilterCriteria          []string // FilterCriteria.Filters[].Pattern, at most 5
	// Enabled is AWS's Enabled; its zero value means disabled: set true when
	// the template leaves it out.
	Enabled bool

	PollInterval time.Duration // when a shard is caught up; 0 means 1 s

	// What the events and failure records name; each defaults from the stream
	// ARN when one is given, else us-east-1 and 000000000000 (LocalStack's).
	Region      string
	AccountID   string
	FunctionARN string // default arn:aws:lambda:<region>:<account>:function:<FunctionName>
	RoleARN     string // invokeIdentityArn; default arn:aws:iam::<account>:role/<FunctionName>-role
}

// Validate reports every problem of the configuration at once.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if c.FunctionName == "" {
		bad("FunctionName is required")
	}
	if c.StreamName == "" {
		bad("StreamName is required")
	} else if strings.HasPrefix(c.StreamName, "arn:") {
		if _, err := parseStreamARN(c.StreamName); err != nil {
			errs = append(errs, err)
		}
	}
	if c.BatchSize != 0 && (c.BatchSize < 1 || c.BatchSize > MaxBatchSize) {
		bad("BatchSize %d is outside 1–%d", c.BatchSize, MaxBatchSize)
	}
	if c.MaximumBatchingWindow < 0 || c.MaximumBatchingWindow > MaxBatchingWindow {
		bad("MaximumBatchingWindow %s is outside 0–%s", c.MaximumBatchingWindow, MaxBatchingWindow)
	}
	if c.ParallelizationFactor != 0 && (c.ParallelizationFactor < 1 || c.ParallelizationFactor > MaxParallelization) {
		bad("ParallelizationFactor %d is outside 1–%d", c.ParallelizationFactor, MaxParallelization)
	}
	switch c.StartingPosition {
	case TrimHorizon, Latest:
		if !c.StartingPositionTimestamp.IsZero() {
			bad("StartingPositionTimestamp is only allowed with StartingPosition %s", AtTimestamp)
		}
	case AtTimestamp:
		if c.StartingPositionTimestamp.IsZero() {
			bad("StartingPosition %s needs StartingPositionTimestamp", AtTimestamp)
		}
	case "":
		bad("StartingPosition is required (%s, %s or %s)", TrimHorizon, Latest, AtTimestamp)
	default:
		bad("StartingPosition %q is not %s, %s or %s", c.StartingPosition, TrimHorizon, Latest, AtTimestamp)
	}
	if c.MaximumRetryAttempts < -1 || c.MaximumRetryAttempts > MaxRetryAttempts {
		bad("MaximumRetryAttempts %d is neither -1 nor within 0–%d", c.MaximumRetryAttempts, MaxRetryAttempts)
	}
	if age := c.MaximumRecordAge; !noRecordAge(age) && (age < MinRecordAge || age > MaxRecordAge) {
		bad("MaximumRecordAge %s is neither -1 nor within %s–%s", age, MinRecordAge, MaxRecordAge)
	}
	if n := len(c.FilterCriteria); n > MaxFilters {
		bad("FilterCriteria has %d filters, at most %d are allowed", n, MaxFilters)
	}
	if _, err := compileFilters(c.FilterCriteria); err != nil {
		errs = append(errs, err)
	}
	if c.PollInterval < 0 {
		bad("PollInterval %s is negative", c.PollInterval)
	}
	return errors.Join(errs...)
}

// withDefaults fills what the zero values leave to AWS's defaults and the
// names events carry.
func (c Config) withDefaults() Config {
	if c.BatchSize == 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.ParallelizationFactor == 0 {
		c.ParallelizationFactor = 1
	}
	if noRecordAge(c.MaximumRecordAge) {
		c.MaximumRecordAge = -1
	}
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	if arn, err := parseStreamARN(c.StreamName); err == nil {
		if c.Region == "" {
			c.Region = arn.region
		}
		if c.AccountID == "" {
			c.AccountID = arn.account
		}
	}
	if c.Region == "" {
		c.Region = defaultRegion
	}
	if c.AccountID == "" {
		c.AccountID = defaultAccount
	}
	if c.FunctionARN == "" {
		if strings.HasPrefix(c.FunctionName, "arn:") {
			c.FunctionARN = c.FunctionName
		} else {
			c.FunctionARN = fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", c.Region, c.AccountID, c.FunctionName)
		}
	}
	if c.RoleARN == "" {
		c.RoleARN = fmt.Sprintf("arn:aws:iam::%s:role/%s-role", c.AccountID, functionShortName(c.FunctionName))
	}
	return c
}

func noRecordAge(age time.Duration) bool { return age == 0 || age == -1 || age == -time.Second }

// stream returns the stream's name and ARN.
func (c Config) stream() (name, arn string) {
	if a, err := parseStreamARN(c.StreamName); err == nil {
		return a.name, c.StreamName
	}
	return c.StreamName, fmt.Sprintf("arn:aws:kinesis:%s:%s:stream/%s", c.Region, c.AccountID, c.StreamName)
}

func functionShortName(fn string) string {
	if strings.HasPrefix(fn, "arn:") {
		parts := strings.Split(fn, ":")
		if len(parts) >= 7 {
			return parts[6]
		}
	}
	return fn
}

type streamARN struct{ region, account, name string }

// parseStreamARN reads arn:<partition>:kinesis:<region>:<account>:stream/<name>.
func parseStreamARN(s string) (streamARN, error) {
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "kinesis" || parts[3] == "" || parts[4] == "" ||
		!strings.HasPrefix(parts[5], "stream/") || len(parts[5]) == len("stream/") {
		return streamARN{}, fmt.Errorf("StreamName %q is not a Kinesis stream ARN (arn:aws:kinesis:<region>:<account>:stream/<name>)", s)
	}
	return streamARN{region: parts[3], account: parts[4], name: strings.TrimPrefix(parts[5], "stream/")}, nil
}
