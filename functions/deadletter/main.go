// Command deadletter is the Lambda on the consumer's dead-letter queue: each
// message is an on-failure record of the Kinesis event source mapping
// (positions, no events); it reads those records back from the stream and
// parks them in the event store under their workflows, so nothing the
// mapping gave up on is lost.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/flowbus/flowbus/shared/config"
	"github.com/flowbus/flowbus/shared/deadletter"
	"github.com/flowbus/flowbus/shared/dynamostore"
	"github.com/flowbus/flowbus/shared/logging"
	"github.com/flowbus/flowbus/shared/metrics"
	"github.com/flowbus/flowbus/shared/stats"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "deadletter:", err)
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
	log := logging.New(cfg.LogLevel, "deadletter")
	db := dynamodb.NewFromConfig(awsCfg)
	store := dynamostore.New(db, cfg.Table, dynamostore.Options{})
	rec := metrics.ForFunction("deadletter")
	h := &handler{
		redriver: deadletter.New(kinesis.NewFromConfig(awsCfg), store, log),
		stats:    stats.NewRecorder(db, cfg.Table),
		log:      log,
		metrics:  rec,
	}
	lambda.Start(metrics.Flushing(lambda.NewHandler(h.handle), rec))
	return nil
}
