// Command replay is the Lambda behind GET /workflows/{workflow_id}/events:
// a workflow's history from the event store, in order, page by page.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/flowbus/flowbus/shared/config"
	"github.com/flowbus/flowbus/shared/dynamostore"
	"github.com/flowbus/flowbus/shared/logging"
	"github.com/flowbus/flowbus/shared/schema"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "replay:", err)
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
	store := dynamostore.New(dynamodb.NewFromConfig(awsCfg), cfg.Table, dynamostore.Options{})
	h := &handler{store: store, schemas: schema.Default(), log: logging.New(cfg.LogLevel, "replay")}
	lambda.Start(h.Handle)
	return nil
}
