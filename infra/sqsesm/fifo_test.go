package sqsesm

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/google/go-cmp/cmp"

	"github.com/flowbus/flowbus/shared/testenv"
)

func fifoQueue(t *testing.T, c *sqs.Client) string {
	t.Helper()
	out, err := c.CreateQueue(context.Background(), &sqs.CreateQueueInput{QueueName: aws.String(testenv.Name("sqsesm") + ".fifo"),
		Attributes: map[string]string{"FifoQueue": "true", "ContentBasedDeduplication": "true"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = c.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: out.QueueUrl}) })
	return aws.ToString(out.QueueUrl)
}

// groupBodies are the bodies "<group><n>" of per messages in each of groups
// groups (A, B, …), in the order a round of every group at a time sends them.
func groupBodies(groups, per int) []string {
	var bodies []string
	for n := range per {
		for g := range groups {
			bodies = append(bodies, fmt.Sprintf("%c%d", rune('A'+g), n))
		}
	}
	return bodies
}

// sendGroups sends "<group><n>" bodies, each to the group its first letter names.
func sendGroups(t *testing.T, c *sqs.Client, url string, bodies ...string) {
	t.Helper()
	for _, b := range bodies {
		if _, err := c.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(b), MessageGroupId: aws.String(b[:1])}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestFifoConfig(t *testing.T) {
	cfg := Config{FunctionName: "fn", QueueURL: "http://127.0.0.1/000000000000/q.fifo", BatchSize: 11, MaximumBatchingWindow: time.Second}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "FIFO") {
		t.Errorf("Validate(BatchSize 11 on a FIFO queue) = %v, want an error naming FIFO", err)
	}
	cfg.QueueURL = "http://127.0.0.1/000000000000/q"
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate(BatchSize 11 with a window on a standard queue) = %v", err)
	}
}

// TestFifoPartialBatchResponse: a function that stops a group at its first
// failure and reports the rest gets them again, in order, while the other
// group goes on; the records carry the FIFO attributes Lambda sends.
func TestFifoPartialBatchResponse(t *testing.T) {
	c := engine(t)
	url := fifoQueue(t, c)
	sendGroups(t, c, url, "a1", "b1", "a2", "b2", "a3", "b3")
	var mu sync.Mutex
	var delivered []string
	failedOnce := false
	fn := &fakeFunction{handle: func(ev events.SQSEvent) ([]byte, error) {
		mu.Lock()
		defer mu.Unlock()
		var resp events.SQSEventResponse
		stopped := map[string]bool{}
		for _, r := range ev.Records {
			for _, attr := range []string{"MessageGroupId", "MessageDeduplicationId", "SequenceNumber"} {
				if r.Attributes[attr] == "" {
					t.Errorf("record %s has no %s attribute: %v", r.Body, attr, r.Attributes)
				}
			}
			g := r.Attributes["MessageGroupId"]
			if r.Body == "a2" && !failedOnce {
				failedOnce, stopped[g] = true, true
			}
			if stopped[g] {
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
				continue
			}
			delivered = append(delivered, r.Body)
		}
		return json.Marshal(resp)
	}}
	run(t, Config{QueueURL: url, Enabled: true, ReportBatchItemFailures: true, MaximumConcurrency: 2, VisibilityTimeout: time.Second}, c, fn)
	waitFor(t, "every message handled", func() bool { return held(t, c, url) == 0 })
	mu.Lock()
	defer mu.Unlock()
	perGroup := map[string][]string{}
	for _, b := range delivered {
		perGroup[b[:1]] = append(perGroup[b[:1]], b)
	}
	if diff := cmp.Diff(map[string][]string{"a": {"a1", "a2", "a3"}, "b": {"b1", "b2", "b3"}}, perGroup); diff != "" {
		t.Errorf("delivered per group (-want +got):\n%s", diff)
	}
	// b was not held back by a's failure: it was done before a2 came back.
	if pos := strings.Index(strings.Join(delivered, ","), "b3"); pos > strings.Index(strings.Join(delivered, ","), "a2") {
		t.Errorf("delivered %v: b3 after a's retry, want group b not to wait for a", delivered)
	}
}

// TestFifoOrderBrokenIsLogged: reporting a failure but not the group's later
// messages deletes them, as Lambda does; the mapping says so.
func TestFifoOrderBrokenIsLogged(t *testing.T) {
	c := engine(t)
	url := fifoQueue(t, c)
	sendGroups(t, c, url, "a1", "a2", "a3")
	var once sync.Once
	fn := &fakeFunction{handle: func(ev events.SQSEvent) ([]byte, error) {
		var resp events.SQSEventResponse
		for _, r := range ev.Records {
			if r.Body == "a2" {
				once.Do(func() {
					resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
				})
			}
		}
		return json.Marshal(resp)
	}}
	var buf testenv.SyncBuffer
	m, err := New(Config{FunctionName: "fn", QueueURL: url, Enabled: true, ReportBatchItemFailures: true, MaximumConcurrency: 2, VisibilityTimeout: time.Second},
		c, fn, slog.New(slog.NewTextHandler(&buf, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	waitFor(t, "every message handled", func() bool { return held(t, c, url) == 0 })
	cancel()
	<-done
	if diff := cmp.Diff([]string{"a1", "a2", "a3", "a2"}, fn.bodies()); diff != "" {
		t.Errorf("deliveries (-want +got):\n%s", diff)
	}
	if !strings.Contains(buf.String(), "FIFO order broken") {
		t.Errorf("log %q, want a warning that the order of group a is broken", buf.String())
	}
}
