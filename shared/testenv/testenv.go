package testenv

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/flowbus/flowbus/shared/bus"
	"github.com/flowbus/flowbus/shared/config"
	"github.com/flowbus/flowbus/shared/dynamostore"
)

// EnvRequire is set by make test: a missing engine is then a failure, never
// a skip.
const EnvRequire = "FLOWBUS_REQUIRE_ENGINES"

// AWS returns an SDK config for the engines, or stops the test: with a
// failure under make test, with a skip when a developer runs one package by
// hand without engines.
func AWS(t testing.TB) aws.Config {
	t.Helper()
	if os.Getenv("AWS_ENDPOINT_URL") == "" && (os.Getenv("AWS_ENDPOINT_URL_KINESIS") == "" || os.Getenv("AWS_ENDPOINT_URL_DYNAMODB") == "") {
		msg := "no AWS engines: run `make test`, or `make engines` and `. localstack/.run/env` (or start LocalStack and set AWS_ENDPOINT_URL)"
		if os.Getenv(EnvRequire) != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	cfg, err := config.AWS(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// Name returns a resource name unique to this run.
func Name(prefix string) string {
	var b [4]byte
	_, _ = crand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}

// Table creates a fresh event store table and deletes it when t ends.
func Table(t testing.TB, cfg aws.Config) (*dynamodb.Client, string) {
	t.Helper()
	db := dynamodb.NewFromConfig(cfg)
	name := Name("flowbus-test")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := dynamostore.CreateTable(ctx, db, name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = db.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(name)})
	})
	return db, name
}

// Stream creates a fresh stream and deletes it when t ends.
func Stream(t testing.TB, cfg aws.Config, shards int32) (*kinesis.Client, string) {
	t.Helper()
	client := kinesis.NewFromConfig(cfg)
	name := Name("flowbus-test")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := bus.CreateStream(ctx, client, name, shards); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = client.DeleteStream(context.Background(), &kinesis.DeleteStreamInput{StreamName: aws.String(name), EnforceConsumerDeletion: aws.Bool(true)})
	})
	return client, name
}
