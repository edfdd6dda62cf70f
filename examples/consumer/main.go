// Command consumer is a worked Kinesis-triggered consumer of flowbus's bus
// stream, built on shared/subscriber: it keeps a status per workflow
// (started, step N, completed, failed) in a DynamoDB table of its own, each
// workflow's events applied once and in order. template.yaml deploys it
// beside flowbus (its own stack); make dev runs it with
// DEV_FLAGS=-include=examples/consumer/template.yaml.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/flowbus/flowbus/shared/config"
	"github.com/flowbus/flowbus/shared/pattern"
	"github.com/flowbus/flowbus/shared/subscriber"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "consumer:", err)
		os.Exit(1)
	}
}

func run() error {
	table := os.Getenv("CONSUMER_TABLE")
	if table == "" {
		return errors.New("CONSUMER_TABLE is not set: the table the template gives the function")
	}
	// Outside this repository, config.LoadDefaultConfig from the SDK does
	// the same; flowbus's own loader keeps the bootstrap small.
	awsCfg, err := config.AWS(context.Background())
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	s, err := newSubscriber(dynamodb.NewFromConfig(awsCfg), table, os.Getenv("CONSUMER_PATTERN"), lambdacontext.FunctionName, log)
	if err != nil {
		return err
	}
	lambda.Start(s)
	return nil
}

// Table is what the example needs of DynamoDB: the projector's update and
// the idempotency store's calls.
type Table interface {
	DB
	subscriber.DynamoDB
}

// newSubscriber wires the projector into a Subscriber.
func newSubscriber(db Table, table, eventPattern, name string, log *slog.Logger) (*subscriber.Subscriber, error) {
	// The same pattern the template's FilterCriteria tests on data: here
	// it is applied to each event of an aggregated record.
	pat, err := pattern.Compile(eventPattern, pattern.EventBridge)
	if err != nil {
		return nil, fmt.Errorf("CONSUMER_PATTERN: %w", err)
	}
	p := &projector{db: db, table: table}
	return subscriber.New(p.Apply, subscriber.Options{
		Pattern: pat,
		// A replay of old events would move a status back: leave them out.
		SkipReplayed: true,
		// The same table holds the idempotency marks (pk "<function>#…",
		// sk "idempotency") beside the statuses (pk "wf#…", sk "status").
		Idempotency: subscriber.NewDynamoStore(db, table, name),
		Log:         log,
	}), nil
}
