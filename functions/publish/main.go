// Command publish is the Lambda behind POST /events: it puts the events of a
// request on the Kinesis stream, each workflow in order.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/flowbus/flowbus/shared/authz"
	"github.com/flowbus/flowbus/shared/bus"
	"github.com/flowbus/flowbus/shared/config"
	"github.com/flowbus/flowbus/shared/ingest"
	"github.com/flowbus/flowbus/shared/logging"
	"github.com/flowbus/flowbus/shared/metrics"
	"github.com/flowbus/flowbus/shared/ratelimit"
	"github.com/flowbus/flowbus/shared/schema"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "publish:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg, err := config.Load(config.Needs{Stream: true})
	if err != nil {
		return err
	}
	awsCfg, err := config.AWS(context.Background())
	if err != nil {
		return err
	}
	schemas, err := schema.Default(schema.PolicyFor(cfg.RejectUnknown), cfg.Schemas...)
	if err != nil {
		return err
	}
	log := logging.New(cfg.LogLevel, "publish")
	pub := bus.NewPublisher(kinesis.NewFromConfig(awsCfg), cfg.Stream, bus.Options{})
	rec := metrics.ForFunction("publish")
	h := &handler{svc: ingest.New(pub, cfg.MaxBatch, cfg.DefaultSource, schemas), maxBody: cfg.MaxBodyBytes, log: log, metrics: rec,
		// The policy is read from the table (FLOWBUS_TABLE); without one, only FLOWBUS_ADMINS may publish.
		authz: authz.ForTable(cfg.Admins, dynamodb.NewFromConfig(awsCfg), cfg.Table, log)}
	// Requests per caller, per instance (docs/api.md "Limits").
	lambda.Start(metrics.Flushing(lambda.NewHandler(ratelimit.New(float64(cfg.Rate), cfg.RateBurst).Wrap(h.Handle)), rec))
	return nil
}
