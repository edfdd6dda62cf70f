// Command consume is the Lambda on the Kinesis stream: it stores every event
// in the DynamoDB event store, each workflow in order, and parks a workflow
// whose record can never be stored instead of blocking its shard.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/flowbus/flowbus/shared/config"
	"github.com/flowbus/flowbus/shared/consumer"
	"github.com/flowbus/flowbus/shared/dynamostore"
	"github.com/flowbus/flowbus/shared/logging"
	"github.com/flowbus/flowbus/shared/metrics"
	"github.com/flowbus/flowbus/shared/stats"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "consume:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg, err := config.Load(config.Needs{Table: true})
	if err != nil {
		return err
	}
	awsCfg, err := config.AWS(context.Background())
	if err != nil {
		return err
	}
	log := logging.New(cfg.LogLevel, "consume")
	db := dynamodb.NewFromConfig(awsCfg)
	store := dynamostore.New(db, cfg.Table, dynamostore.Options{})
	c := consumer.New(store, log).WithStats(stats.NewRecorder(db, cfg.Table))
	rec := metrics.ForFunction("consume")
	lambda.Start(metrics.Flushing(&handler{consumer: c, log: log, metrics: rec}, rec))
	return nil
}
