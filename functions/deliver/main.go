// Command deliver is the Lambda on the SQS event source mapping of the
// delivery FIFO queue (ReportBatchItemFailures): it delivers each message's
// event to its subscription's target, in order per (subscription,
// workflow), holds back a failing group with a backoff, and dead-letters
// what cannot be delivered.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/flowbus/flowbus/shared/bus"
	"github.com/flowbus/flowbus/shared/config"
	"github.com/flowbus/flowbus/shared/delivery"
	"github.com/flowbus/flowbus/shared/dynamostore"
	"github.com/flowbus/flowbus/shared/logging"
	"github.com/flowbus/flowbus/shared/metrics"
	"github.com/flowbus/flowbus/shared/route"
	"github.com/flowbus/flowbus/shared/sealing"
	"github.com/flowbus/flowbus/shared/subscription"
	"github.com/flowbus/flowbus/shared/webhook"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "deliver:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg, err := config.Load(config.Needs{Stream: true, Table: true, SecretKey: true, DeliveryQueue: true})
	if err != nil {
		return err
	}
	ctx := context.Background()
	awsCfg, err := config.AWS(ctx)
	if err != nil {
		return err
	}
	// Deliver only opens secrets: KMS Decrypt as one signed request, the
	// SDK's KMS client does not fit the bootstrap's 10 MiB.
	sealer, err := sealing.For(cfg, sealing.NewDecrypter(awsCfg, cfg.KMSKey))
	if err != nil {
		return err
	}
	log := logging.New(cfg.LogLevel, "deliver")
	db := dynamodb.NewFromConfig(awsCfg)
	qc := sqs.NewFromConfig(awsCfg)
	kc := kinesis.NewFromConfig(awsCfg)
	queueURL, err := route.ResolveQueueURL(ctx, qc, cfg.DeliveryQueue)
	if err != nil {
		return err
	}
	budget, err := delivery.NewBudgets(db, cfg.Table, cfg.DerivedBudget)
	if err != nil {
		return err
	}
	attempts := delivery.NewAttempts(db, cfg.Table)
	d, err := delivery.New(delivery.Config{QueueURL: queueURL}, delivery.Deps{
		Subscriptions: subscription.NewStore(db, cfg.Table, sealer),
		Events:        delivery.StoreEvents{DB: db, Table: cfg.Table, Reader: dynamostore.New(db, cfg.Table, dynamostore.Options{})},
		Queue:         qc,
		DeadLetters:   delivery.NewDeadLetters(db, cfg.Table),
		Attempts:      attempts,
		Progress:      attempts,
		Budget:        budget,
		Targets: delivery.Targets{
			// Plain http:// to loopback only under the local runtime; private
			// addresses only when the deployment allows them.
			Webhook:     webhook.New(webhook.Options{Policy: webhook.Policy{AllowPlainLoopback: cfg.Local, AllowPrivate: cfg.AllowPrivate}}),
			Bus:         bus.NewPublisher(kc, cfg.Stream, bus.Options{}),
			Lambda:      awslambda.NewFromConfig(awsCfg),
			SQS:         qc,
			Kinesis:     kc,
			EventBridge: eventbridge.NewFromConfig(awsCfg),
		},
		Log: log,
	})
	if err != nil {
		return err
	}
	rec := metrics.ForFunction("deliver")
	figures := delivery.NewFiguresBuffer(delivery.NewRecorder(db, cfg.Table), delivery.BufferFor, log)
	// SIGTERM (Lambda sends it before it shuts an instance down, once an
	// extension is registered, which WithEnableSIGTERM does) writes the
	// figures the buffer holds.
	onTerm := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
		defer cancel()
		if err := figures.Flush(ctx); err != nil {
			log.Warn("delivery figures not recorded at shutdown", "err", err)
		}
	}
	lambda.StartWithOptions(metrics.Flushing(lambda.NewHandler((&handler{deliverer: d, figures: figures, metrics: rec, log: log}).Handle), rec),
		lambda.WithEnableSIGTERM(onTerm))
	return nil
}
