// Command subscriptions is the Lambda behind the subscriptions API: create,
// list, read, replace and delete subscriptions (/subscriptions,
// /subscriptions/{name}), rotate a webhook secret
// (/subscriptions/{name}/rotate-secret), and test an event pattern against
// an event (/patterns/test).
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/flowbus/flowbus/shared/config"
	"github.com/flowbus/flowbus/shared/logging"
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
	cfg, err := config.Load(config.Needs{Table: true, SecretKey: true})
	if err != nil {
		return err
	}
	sealer, err := webhook.ParseAESGCMKey(cfg.SecretKey)
	if err != nil {
		return fmt.Errorf("%s: %w", config.EnvSecretKey, err)
	}
	awsCfg, err := config.AWS(context.Background())
	if err != nil {
		return err
	}
	h := &handler{
		store:  subscription.NewStore(dynamodb.NewFromConfig(awsCfg), cfg.Table, sealer),
		policy: webhook.Policy{AllowPlainLoopback: cfg.Local},
		log:    logging.New(cfg.LogLevel, "subscriptions"),
	}
	lambda.Start(h.Handle)
	return nil
}
