// Command replay is the Lambda behind the read and replay routes: a
// workflow's history in order (GET /workflows/{workflow_id}/events), and
// replays of stored events back onto a stream or to one subscription's
// groups of the delivery queue (POST /replays,
// GET and DELETE /replays/{replay_id}), which go on in further asynchronous
// invocations of this function when they outlive one.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/flowbus/flowbus/shared/authz"
	"github.com/flowbus/flowbus/shared/bus"
	"github.com/flowbus/flowbus/shared/config"
	"github.com/flowbus/flowbus/shared/dynamostore"
	"github.com/flowbus/flowbus/shared/logging"
	"github.com/flowbus/flowbus/shared/metrics"
	"github.com/flowbus/flowbus/shared/ratelimit"
	"github.com/flowbus/flowbus/shared/replay"
	"github.com/flowbus/flowbus/shared/route"
	"github.com/flowbus/flowbus/shared/schema"
	"github.com/flowbus/flowbus/shared/subscription"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "replay:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg, err := config.Load(config.Needs{Stream: true, Table: true})
	if err != nil {
		return err
	}
	self := os.Getenv("AWS_LAMBDA_FUNCTION_NAME")
	if self == "" {
		return errors.New("AWS_LAMBDA_FUNCTION_NAME is not set: run under Lambda or the Runtime Interface Emulator")
	}
	awsCfg, err := config.AWS(context.Background())
	if err != nil {
		return err
	}
	db := dynamodb.NewFromConfig(awsCfg)
	kc := kinesis.NewFromConfig(awsCfg)
	store := dynamostore.New(db, cfg.Table, dynamostore.Options{})
	records := replay.NewRecords(db, cfg.Table)
	var mu sync.Mutex
	publishers := map[string]replay.Publisher{}
	runner := &replay.Runner{Records: records, Source: store, Publishers: func(stream string) replay.Publisher {
		if stream == "" {
			stream = cfg.Stream
		}
		mu.Lock()
		defer mu.Unlock()
		if p, ok := publishers[stream]; ok {
			return p
		}
		p := bus.NewPublisher(kc, stream, bus.Options{})
		publishers[stream] = p
		return p
	}}
	// Replays to one subscription enqueue to the delivery queue; without
	// one (a deployment from before subscriptions) they are refused.
	var subs Subscriptions
	if cfg.DeliveryQueue != "" {
		qc := sqs.NewFromConfig(awsCfg)
		queue, err := route.ResolveQueueURL(context.Background(), qc, cfg.DeliveryQueue)
		if err != nil {
			return err
		}
		if runner.Enqueuer, err = route.NewEnqueuer(route.Config{QueueURL: queue}, qc, nil); err != nil {
			return err
		}
		// Patterns and states only: no sealer, the secrets stay sealed.
		subStore := subscription.NewStore(db, cfg.Table, nil)
		runner.Subscriptions, subs = subStore, subStore
	}
	schemas, err := schema.Default(schema.PolicyFor(cfg.RejectUnknown), cfg.Schemas...)
	if err != nil {
		return err
	}
	log := logging.New(cfg.LogLevel, "replay")
	h := &handler{store: store, subs: subs, schemas: schemas, records: records, runner: runner,
		continuer: replay.NewContinuer(awsCfg, self), log: log, authz: authz.ForTable(cfg.Admins, db, cfg.Table, log)}
	rec := metrics.ForFunction("replay")
	h.metrics = rec
	// Requests per caller, per instance (docs/api.md "Limits"); the replay
	// workers' own invocations do not go through it.
	limited := ratelimit.New(float64(cfg.Rate), cfg.RateBurst).Wrap(h.Handle)
	lambda.Start(metrics.Flushing(invoker{h: h, api: lambda.NewHandler(limited).Invoke, log: log}, rec))
	return nil
}
