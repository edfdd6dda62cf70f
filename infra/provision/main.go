// Command provision creates the flowbus stream and event store table on
// whatever endpoint the AWS SDK's standard variables point at (LocalStack or
// the local engines). It is idempotent: safe to run again.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/flowbus/flowbus/shared/bus"
	"github.com/flowbus/flowbus/shared/config"
	"github.com/flowbus/flowbus/shared/dynamostore"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "provision:", err)
		os.Exit(1)
	}
}

func run() error {
	stream := flag.String("stream", envOr(config.EnvStream, "flowbus-events"), "Kinesis stream name")
	table := flag.String("table", envOr(config.EnvTable, "flowbus-events"), "DynamoDB table name")
	shards := flag.Int("shards", 1, "shard count of a new stream")
	flag.Parse()
	if *shards < 1 {
		return errors.New("-shards must be at least 1")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg, err := config.AWS(ctx)
	if err != nil {
		return err
	}
	arn, err := bus.CreateStream(ctx, kinesis.NewFromConfig(cfg), *stream, int32(*shards))
	if err != nil {
		return err
	}
	if err := dynamostore.CreateTable(ctx, dynamodb.NewFromConfig(cfg), *table); err != nil {
		return err
	}
	fmt.Printf("stream %s (%s)\ntable  %s\n", *stream, arn, *table)
	return nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
