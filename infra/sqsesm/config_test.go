package sqsesm

import (
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	ok := Config{FunctionName: "fn", QueueURL: "http://127.0.0.1:4566/000000000000/q", Enabled: true}
	tests := []struct {
		name  string
		edit  func(*Config)
		wants []string // each a part of the error; none for a valid config
	}{
		{"defaults", func(*Config) {}, nil},
		{"batch of 10,000 with a window", func(c *Config) { c.BatchSize, c.MaximumBatchingWindow = 10000, time.Second }, nil},
		{"nothing", func(c *Config) { *c = Config{} }, []string{"FunctionName is required", "QueueURL is required"}},
		{"batch above 10 without a window", func(c *Config) { c.BatchSize = 11 }, []string{"needs a MaximumBatchingWindow"}},
		{"every bound at once", func(c *Config) {
			c.BatchSize, c.MaximumBatchingWindow, c.MaximumConcurrency, c.VisibilityTimeout = 10001, 301*time.Second, 1, -time.Second
			c.FilterCriteria = make([]string, 6)
		}, []string{"BatchSize 10001", "MaximumBatchingWindow 5m1s", "MaximumConcurrency 1", "FilterCriteria: 6 filters", "VisibilityTimeout -1s"}},
		{"a URL with no queue name", func(c *Config) { c.QueueURL = "http://127.0.0.1:4566/" }, []string{"set QueueARN"}},
		{"a URL with no queue name, but an ARN", func(c *Config) { c.QueueURL, c.QueueARN = "http://127.0.0.1:4566/", "arn:aws:sqs:us-east-1:1:q" }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.edit(&c)
			err := c.Validate()
			if len(tt.wants) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate: nil, want %q", tt.wants)
			}
			for _, w := range tt.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate: %v, want it to contain %q", err, w)
				}
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	c := Config{FunctionName: "fn", QueueURL: "http://127.0.0.1:4566/000000000000/parked"}.withDefaults()
	if c.BatchSize != 10 || c.InitialConcurrency() != 5 || c.Concurrency() != LocalMaxConcurrency || c.QueueARN != "arn:aws:sqs:us-east-1:000000000000:parked" || c.Region != "us-east-1" {
		t.Errorf("defaults %+v", c)
	}
}

func TestConcurrencyBounds(t *testing.T) {
	for _, tc := range []struct{ max, initial, ceiling int }{{0, 5, LocalMaxConcurrency}, {3, 3, 3}, {10, 5, 10}} {
		c := Config{MaximumConcurrency: tc.max}
		if c.InitialConcurrency() != tc.initial || c.Concurrency() != tc.ceiling {
			t.Errorf("MaximumConcurrency %d: pollers %d up to %d, want %d up to %d", tc.max, c.InitialConcurrency(), c.Concurrency(), tc.initial, tc.ceiling)
		}
	}
}
