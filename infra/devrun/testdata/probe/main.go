// Command probe is a test consumer for the local runtime's event source
// mapping. It handles a batch in order and writes each handled record's
// partition key, sequence number, event id and replay id if any to
// $PROBE_LOG. An event of type
// probe.fail-once is reported as a batch item failure the first time it is
// seen (handling stops there, as flowbus's consumer stops a workflow); an
// event of type probe.poison makes the whole invocation fail, every time.
//
// Given an SQS event, it writes "sqs <body> <ApproximateReceiveCount>
// <eventSourceARN>" per message handled; a body starting with fail-once: is
// reported as a batch item failure the first time it is seen.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(handle)
}

func handle(ctx context.Context, raw json.RawMessage) (any, error) {
	var shape struct {
		Records []struct {
			EventSource string `json:"eventSource"`
		} `json:"Records"`
	}
	if err := json.Unmarshal(raw, &shape); err != nil {
		return nil, err
	}
	if len(shape.Records) > 0 && shape.Records[0].EventSource == "aws:sqs" {
		var ev events.SQSEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, err
		}
		return handleSQS(ctx, ev)
	}
	var ev events.KinesisEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		return nil, err
	}
	return handleKinesis(ctx, ev)
}

func handleSQS(_ context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	logPath, stateDir := os.Getenv("PROBE_LOG"), os.Getenv("PROBE_STATE")
	var resp events.SQSEventResponse
	for _, m := range ev.Records {
		if name, ok := strings.CutPrefix(m.Body, "fail-once:"); ok {
			marker := filepath.Join(stateDir, "sqs-"+name)
			if _, err := os.Stat(marker); errors.Is(err, os.ErrNotExist) {
				if err := os.WriteFile(marker, nil, 0o644); err != nil {
					return resp, err
				}
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
				continue
			}
		}
		if err := appendLine(logPath, fmt.Sprintf("sqs %s %s %s", m.Body, m.Attributes["ApproximateReceiveCount"], m.EventSourceARN)); err != nil {
			return resp, err
		}
	}
	return resp, nil
}

func appendLine(path, line string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(f, line)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func handleKinesis(_ context.Context, ev events.KinesisEvent) (events.KinesisEventResponse, error) {
	logPath, stateDir := os.Getenv("PROBE_LOG"), os.Getenv("PROBE_STATE")
	var resp events.KinesisEventResponse
	for _, r := range ev.Records {
		var e struct {
			Type     string `json:"type"`
			ID       string `json:"id"`
			ReplayID string `json:"replayid"`
		}
		// Records hold one event or a batch; the probe only looks at the first.
		data := r.Kinesis.Data
		if len(data) > 0 && data[0] == '[' {
			var batch []json.RawMessage
			if err := json.Unmarshal(data, &batch); err == nil && len(batch) > 0 {
				data = batch[0]
			}
		}
		_ = json.Unmarshal(data, &e)
		switch e.Type {
		case "probe.poison":
			return resp, errors.New("poison record " + r.Kinesis.SequenceNumber)
		case "probe.fail-once":
			marker := filepath.Join(stateDir, e.ID)
			if _, err := os.Stat(marker); errors.Is(err, os.ErrNotExist) {
				if err := os.WriteFile(marker, nil, 0o644); err != nil {
					return resp, err
				}
				resp.BatchItemFailures = []events.KinesisBatchItemFailure{{ItemIdentifier: r.Kinesis.SequenceNumber}}
				return resp, nil
			}
		}
		f, err := os.OpenFile(logPath, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return resp, err
		}
		line := fmt.Sprintf("%s %s %s", r.Kinesis.PartitionKey, r.Kinesis.SequenceNumber, e.ID)
		if e.ReplayID != "" {
			line += " replay=" + e.ReplayID
		}
		_, err = fmt.Fprintln(f, line)
		f.Close()
		if err != nil {
			return resp, err
		}
	}
	return resp, nil
}
