// Command route is the Lambda on its own Kinesis event source mapping of the
// bus stream: it matches every event against the enabled subscriptions and
// sends one message per (subscription, event) to the delivery FIFO queue, in
// order per (subscription, workflow). Storing never waits for it.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/flowbus/flowbus/shared/config"
	"github.com/flowbus/flowbus/shared/delivery"
	"github.com/flowbus/flowbus/shared/logging"
	"github.com/flowbus/flowbus/shared/route"
	"github.com/flowbus/flowbus/shared/subscription"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "route:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg, err := config.Load(config.Needs{Table: true, DeliveryQueue: true})
	if err != nil {
		return err
	}
	awsCfg, err := config.AWS(context.Background())
	if err != nil {
		return err
	}
	log := logging.New(cfg.LogLevel, "route")
	// Routing reads patterns only: no sealer, the secrets stay sealed.
	db := dynamodb.NewFromConfig(awsCfg)
	store := subscription.NewStore(db, cfg.Table, nil)
	qc := sqs.NewFromConfig(awsCfg)
	queueURL, err := route.ResolveQueueURL(context.Background(), qc, cfg.DeliveryQueue)
	if err != nil {
		return err
	}
	r, err := route.New(route.Config{QueueURL: queueURL}, route.StoreSource{Store: store, Log: log}, qc, log)
	if err != nil {
		return err
	}
	lambda.Start(&handler{router: r, figures: delivery.NewRecorder(db, cfg.Table), log: log})
	return nil
}
