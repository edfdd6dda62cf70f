package esm

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestValidate(t *testing.T) {
	valid := testConfig()
	tests := []struct {
		name   string
		change func(c *Config)
		want   []string // one line per problem
	}{
		{"valid", func(*Config) {}, nil},
		{"zero values take defaults", func(c *Config) {
			c.BatchSize, c.ParallelizationFactor, c.MaximumRecordAge, c.PollInterval = 0, 0, 0, 0
		}, nil},
		{"upper limits", func(c *Config) {
			c.BatchSize, c.MaximumBatchingWindow, c.ParallelizationFactor = 10000, 300*time.Second, 10
			c.MaximumRetryAttempts, c.MaximumRecordAge = 10000, 7*24*time.Hour
		}, nil},
		{"record age -1 s", func(c *Config) { c.MaximumRecordAge = -time.Second }, nil},
		{"record age -2 s", func(c *Config) { c.MaximumRecordAge = -2 * time.Second },
			[]string{"MaximumRecordAge -2s is neither -1 nor within 1m0s–168h0m0s"}},
		{"stream ARN", func(c *Config) { c.StreamName = "arn:aws:kinesis:eu-west-1:123456789012:stream/s" }, nil},
		{"AT_TIMESTAMP", func(c *Config) {
			c.StartingPosition, c.StartingPositionTimestamp = AtTimestamp, time.Unix(1, 0)
		}, nil},
		{"everything wrong at once", func(c *Config) {
			*c = Config{
				BatchSize: 10001, MaximumBatchingWindow: 301 * time.Second, ParallelizationFactor: 11,
				StartingPosition: "EARLIEST", MaximumRetryAttempts: -2, MaximumRecordAge: 59 * time.Second,
				FilterCriteria: []string{`{}`, `{}`, `{}`, `{}`, `{}`, `{"a": "x"}`}, PollInterval: -time.Second,
			}
		}, []string{
			"FunctionName is required",
			"StreamName is required",
			"BatchSize 10001 is outside 1–10000",
			"MaximumBatchingWindow 5m1s is outside 0–5m0s",
			"ParallelizationFactor 11 is outside 1–10",
			`StartingPosition "EARLIEST" is not TRIM_HORIZON, LATEST or AT_TIMESTAMP`,
			"MaximumRetryAttempts -2 is neither -1 nor within 0–10000",
			"MaximumRecordAge 59s is neither -1 nor within 1m0s–168h0m0s",
			"FilterCriteria has 6 filters, at most 5 are allowed",
			`FilterCriteria: filter 5: invalid event pattern: a: must be a list of values or an object, not a string`,
			"PollInterval -1s is negative",
		}},
		{"negative batch size and window", func(c *Config) { c.BatchSize, c.MaximumBatchingWindow = -1, -time.Second },
			[]string{"BatchSize -1 is outside 1–10000", "MaximumBatchingWindow -1s is outside 0–5m0s"}},
		{"record age too long", func(c *Config) { c.MaximumRecordAge = 7*24*time.Hour + time.Second },
			[]string{"MaximumRecordAge 168h0m1s is neither -1 nor within 1m0s–168h0m0s"}},
		{"missing starting position", func(c *Config) { c.StartingPosition = "" },
			[]string{"StartingPosition is required (TRIM_HORIZON, LATEST or AT_TIMESTAMP)"}},
		{"AT_TIMESTAMP without a time", func(c *Config) { c.StartingPosition = AtTimestamp },
			[]string{"StartingPosition AT_TIMESTAMP needs StartingPositionTimestamp"}},
		{"timestamp without AT_TIMESTAMP", func(c *Config) { c.StartingPositionTimestamp = time.Unix(1, 0) },
			[]string{"StartingPositionTimestamp is only allowed with StartingPosition AT_TIMESTAMP"}},
		{"bad stream ARN", func(c *Config) { c.StreamName = "arn:aws:sqs:us-east-1:1:q" },
			[]string{`StreamName "arn:aws:sqs:us-east-1:1:q" is not a Kinesis stream ARN (arn:aws:kinesis:<region>:<account>:stream/<name>)`}},
		{"pattern too long", func(c *Config) { c.FilterCriteria = []string{`{"a": ["` + strings.Repeat("x", 4096) + `"]}`} },
			[]string{"FilterCriteria: filter 0: invalid event pattern: the pattern is 4107 characters long, at most 4096 are allowed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid
			tt.change(&c)
			var got []string
			if err := c.Validate(); err != nil {
				got = strings.Split(err.Error(), "\n")
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Validate() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want Config
	}{
		{"names from nothing", Config{FunctionName: "consume", StreamName: "events"}, Config{
			FunctionName: "consume", StreamName: "events", BatchSize: 100, ParallelizationFactor: 1,
			MaximumRecordAge: -1, PollInterval: time.Second, Region: "us-east-1", AccountID: "000000000000",
			FunctionARN: "arn:aws:lambda:us-east-1:000000000000:function:consume",
			RoleARN:     "arn:aws:iam::000000000000:role/consume-role",
		}},
		{"names from the stream ARN", Config{
			FunctionName: "arn:aws:lambda:eu-west-1:123456789012:function:consume",
			StreamName:   "arn:aws:kinesis:eu-west-1:123456789012:stream/events", MaximumRecordAge: -1,
		}, Config{
			FunctionName: "arn:aws:lambda:eu-west-1:123456789012:function:consume",
			StreamName:   "arn:aws:kinesis:eu-west-1:123456789012:stream/events",
			BatchSize:    100, ParallelizationFactor: 1, MaximumRecordAge: -1, PollInterval: time.Second,
			Region: "eu-west-1", AccountID: "123456789012",
			FunctionARN: "arn:aws:lambda:eu-west-1:123456789012:function:consume",
			RoleARN:     "arn:aws:iam::123456789012:role/consume-role",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.cfg.withDefaults()); diff != "" {
				t.Errorf("withDefaults() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNewNeedsClients(t *testing.T) {
	_, err := New(testConfig(), nil, nil, nil, nil, nil)
	want := "event source mapping consume: a Kinesis client is required\nan Invoker is required"
	if err == nil || err.Error() != want {
		t.Errorf("New() = %v, want %q", err, want)
	}
}
