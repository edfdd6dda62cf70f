// Command subscriptions is the Lambda behind the subscriptions API: create,
// list, read, replace and delete subscriptions (/subscriptions,
// /subscriptions/{name}), rotate a webhook secret
// (/subscriptions/{name}/rotate-secret), and test an event pattern against
// an event (/patterns/test), and show and redrive a subscription's
// dead-lettered deliveries (/subscriptions/{name}/dead-letters, /redrive).
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/flowbus/flowbus/shared/authz"
	"github.com/flowbus/flowbus/shared/config"
	"github.com/flowbus/flowbus/shared/delivery"
	"github.com/flowbus/flowbus/shared/kmskey"
	"github.com/flowbus/flowbus/shared/logging"
	"github.com/flowbus/flowbus/shared/ratelimit"
	routing "github.com/flowbus/flowbus/shared/route"
	"github.com/flowbus/flowbus/shared/subscription"
	"github.com/flowbus/flowbus/shared/webhook"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "subscriptions:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg, err := config.Load(config.Needs{Table: true, SecretKey: true, DeliveryQueue: true})
	if err != nil {
		return err
	}
	awsCfg, err := config.AWS(context.Background())
	if err != nil {
		return err
	}
	sealer, err := kmskey.Sealer(cfg, awsCfg)
	if err != nil {
		return err
	}
	db := dynamodb.NewFromConfig(awsCfg)
	qc := sqs.NewFromConfig(awsCfg)
	queueURL, err := routing.ResolveQueueURL(context.Background(), qc, cfg.DeliveryQueue)
	if err != nil {
		return err
	}
	h := &handler{
		store: subscription.NewStore(db, cfg.Table, sealer).Limit(cfg.MaxSubs).LimitPerOwner(cfg.MaxSubsCaller),
		deliveries: deliveries{figures: delivery.NewRecorder(db, cfg.Table), dead: delivery.NewDeadLetters(db, cfg.Table),
			queue: qc, queueURL: queueURL},
		policy: webhook.Policy{AllowPlainLoopback: cfg.Local, AllowPrivate: cfg.AllowPrivate},
		log:    logging.New(cfg.LogLevel, "subscriptions"),
	}
	policies := authz.NewStore(db, cfg.Table)
	h.authz, h.policies = authz.NewAuthorizer(cfg.Admins, policies, h.log), policies
	// Requests per caller, per instance (docs/api.md "Limits").
	lambda.Start(ratelimit.New(float64(cfg.Rate), cfg.RateBurst).Wrap(h.Handle))
	return nil
}

// deliveries joins the delivery figures and dead-letter entries.
type deliveries struct {
	figures  *delivery.Recorder
	dead     *delivery.DeadLetters
	queue    delivery.Sender
	queueURL string
}

func (d deliveries) Status(ctx context.Context, name string, now time.Time) (delivery.Status, error) {
	return d.figures.Status(ctx, name, now)
}

func (d deliveries) List(ctx context.Context, name, after string, limit int) (delivery.DeadLetterPage, error) {
	return d.dead.List(ctx, name, after, limit)
}

func (d deliveries) Forget(ctx context.Context, name string) (int, error) {
	return d.dead.Forget(ctx, name)
}

func (d deliveries) Redrive(ctx context.Context, name string) (int, bool, error) {
	return d.dead.Redrive(ctx, name, d.queue, d.queueURL)
}
