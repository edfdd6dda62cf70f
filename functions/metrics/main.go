// Command metrics is the Lambda behind GET /metrics and its one-minute
// schedule: the schedule computes a snapshot of the bus's figures (rates,
// latency, store size, consumer lag, each subscription's delivery figures) and saves it, so the GET only reads it.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/flowbus/flowbus/shared/authz"
	"github.com/flowbus/flowbus/shared/config"
	"github.com/flowbus/flowbus/shared/delivery"
	"github.com/flowbus/flowbus/shared/logging"
	"github.com/flowbus/flowbus/shared/metrics"
	"github.com/flowbus/flowbus/shared/stats"
	"github.com/flowbus/flowbus/shared/subscription"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "metrics:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg, err := config.Load(config.Needs{Stream: true, Table: true})
	if err != nil {
		return err
	}
	awsCfg, err := config.AWS(context.Background())
	if err != nil {
		return err
	}
	db := dynamodb.NewFromConfig(awsCfg)
	// Listing subscriptions opens no secrets: no sealer.
	deliveries := delivery.StatusSource{Subscriptions: subscription.NewStore(db, cfg.Table, nil), Figures: delivery.NewRecorder(db, cfg.Table)}
	h := &handler{
		snapshots: &stats.Snapshots{DB: db, Kin: kinesis.NewFromConfig(awsCfg), Table: cfg.Table, Stream: cfg.Stream, Deliveries: deliveries},
		log:       logging.New(cfg.LogLevel, "metrics"),
	}
	h.authz = authz.ForTable(cfg.Admins, db, cfg.Table, h.log)
	lambda.Start(metrics.Flushing(h, metrics.ForFunction("metrics")))
	return nil
}
