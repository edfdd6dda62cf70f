package config

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/flowbus/flowbus/shared/event"
)

// Environment variables flowbus reads. Endpoints and credentials are the AWS
// SDK's standard ones: AWS_REGION, AWS_ENDPOINT_URL (LocalStack),
// AWS_ENDPOINT_URL_KINESIS and AWS_ENDPOINT_URL_DYNAMODB (the local engines).
const (
	EnvStream        = "FLOWBUS_STREAM"                       // stream name or ARN
	EnvTable         = "FLOWBUS_TABLE"                        // event store table name
	EnvMaxBodyBytes  = "FLOWBUS_MAX_BODY_BYTES"               // largest publish request body
	EnvMaxBatch      = "FLOWBUS_MAX_BATCH"                    // most events per publish request
	EnvDefaultSource = "FLOWBUS_DEFAULT_SOURCE"               // source of simple-shape events that name none
	EnvLogLevel      = "FLOWBUS_LOG_LEVEL"                    // debug, info, warn, error
	EnvUnknownTypes  = "FLOWBUS_UNKNOWN_TYPES"                // accept or reject events of types no schema is registered for
	EnvSchemas       = "FLOWBUS_SCHEMAS"                      // built-in schema sets to register, comma-separated (workflow-events)
	EnvSecretKey     = "FLOWBUS_SECRET_KEY"                   // base64 of 32 bytes: the local key under the local runtime; deployed, only the former key, to read secrets sealed before KMS
	EnvKMSKey        = "FLOWBUS_KMS_KEY"                      // KMS key (id, ARN or alias) whose data keys seal webhook secrets at rest
	EnvRate          = "FLOWBUS_RATE_PER_CALLER"              // HTTP requests per second per caller, per function instance (0: no limit)
	EnvRateBurst     = "FLOWBUS_RATE_BURST"                   // the burst a caller may send above the rate
	EnvMaxSubs       = "FLOWBUS_MAX_SUBSCRIPTIONS"            // subscriptions one deployment may hold
	EnvMaxSubsCaller = "FLOWBUS_MAX_SUBSCRIPTIONS_PER_CALLER" // subscriptions one caller may have created
	EnvAllowPrivate  = "FLOWBUS_WEBHOOK_PRIVATE"              // "allow": webhook targets may be private addresses (RFC 1918, fc00::/7, 100.64/10)
	EnvDeliveryQueue = "FLOWBUS_DELIVERY_QUEUE"               // URL of the subscriptions' delivery FIFO queue
	EnvAdmins        = "FLOWBUS_ADMINS"                       // principals granted admin whatever the policy holds, comma-separated (the bootstrap)
	EnvDerivedBudget = "FLOWBUS_DERIVED_BUDGET"               // derived events the chains one original event starts may publish
	// EnvLocal is "true" under the local runtime, as SAM CLI sets it in
	// sam local: plain http:// webhooks to loopback are allowed, and
	// webhook secrets are sealed under the local key FLOWBUS_SECRET_KEY
	// (make dev generates one under .run/secrets), DevSecretKey when it is
	// not set, instead of KMS.
	EnvLocal = "AWS_SAM_LOCAL"
)

// DevSecretKey is the local key under the local runtime when
// FLOWBUS_SECRET_KEY is not set (make invoke, a template without the
// parameter), and what the local runtime sealed with before make dev
// generated a key of its own. It is public; a deployment never uses it
// (KMS seals there, and a deployed function without FLOWBUS_KMS_KEY
// refuses to start).
const DevSecretKey = "Zmxvd2J1cy1sb2NhbC1kZXYta2V5LW5vdC1zZWNyZXQ="

// Limits a deployment may lower but not raise.
const (
	MaxBatchLimit    = 500     // PutRecords records per call, and EventBridge-like request cap
	MaxBodyLimit     = 6 << 20 // Lambda's synchronous payload limit
	DefaultBodyBytes = 5 << 20 // PutRecords bytes per call
)

// Defaults of the limits that protect the bus (docs/api.md "Limits").
const (
	DefaultRate             = 500   // requests per second per caller, per instance
	DefaultRateBurst        = 1000  // requests at once above the rate
	DefaultMaxSubscriptions = 1000  // per deployment
	DefaultMaxSubsPerCaller = 100   // per caller (the principal that created them)
	MaxSubscriptionsLimit   = 10000 // what FLOWBUS_MAX_SUBSCRIPTIONS may be raised to
	DefaultDerivedBudget    = 100   // per original event (delivery.DefaultDerivedBudget)
	DerivedBudgetLimit      = 1000  // what FLOWBUS_DERIVED_BUDGET may be raised to (delivery.MaxDerivedBudget)
)

// Config is every setting of a flowbus function.
type Config struct {
	Stream        string
	Table         string
	MaxBodyBytes  int
	MaxBatch      int
	DefaultSource string
	LogLevel      string
	RejectUnknown bool     // refuse events of types the schema registry does not know
	Schemas       []string // built-in schema sets to register
	SecretKey     string   // FLOWBUS_SECRET_KEY, or DevSecretKey under the local runtime
	KMSKey        string   // FLOWBUS_KMS_KEY
	Rate          int      // FLOWBUS_RATE_PER_CALLER, 0: no limit
	RateBurst     int      // FLOWBUS_RATE_BURST
	MaxSubs       int      // FLOWBUS_MAX_SUBSCRIPTIONS
	MaxSubsCaller int      // FLOWBUS_MAX_SUBSCRIPTIONS_PER_CALLER
	AllowPrivate  bool     // FLOWBUS_WEBHOOK_PRIVATE=allow
	Local         bool     // running under the local runtime (AWS_SAM_LOCAL=true)
	DeliveryQueue string   // URL of the delivery FIFO queue
	Admins        []string // FLOWBUS_ADMINS: the bootstrap admins ("sub:alice", an IAM ARN)
	DerivedBudget int      // FLOWBUS_DERIVED_BUDGET
}

// Needs says which resources a function uses, so Validate asks only for those.
type Needs struct {
	Stream, Table bool
	SecretKey     bool // the subscriptions' webhook secrets: FLOWBUS_KMS_KEY deployed, FLOWBUS_SECRET_KEY locally
	DeliveryQueue bool // FLOWBUS_DELIVERY_QUEUE
}

// Load reads the environment and applies defaults. It reports every problem
// at once.
func Load(needs Needs) (Config, error) {
	var errsUnknown error
	c := Config{
		Stream:        os.Getenv(EnvStream),
		Table:         os.Getenv(EnvTable),
		DefaultSource: envOr(EnvDefaultSource, event.DefaultSource),
		LogLevel:      envOr(EnvLogLevel, "info"),
		SecretKey:     os.Getenv(EnvSecretKey),
		KMSKey:        os.Getenv(EnvKMSKey),
		DeliveryQueue: os.Getenv(EnvDeliveryQueue),
		Local:         os.Getenv(EnvLocal) == "true",
	}
	if c.SecretKey == "" && c.Local {
		c.SecretKey = DevSecretKey
	}
	switch v := envOr(EnvUnknownTypes, "accept"); v {
	case "accept":
	case "reject":
		c.RejectUnknown = true
	default:
		errsUnknown = fmt.Errorf("%s is %q, want accept or reject", EnvUnknownTypes, v)
	}
	if v := os.Getenv(EnvSchemas); v != "" {
		c.Schemas = strings.Split(v, ",")
	}
	for _, a := range strings.Split(os.Getenv(EnvAdmins), ",") {
		if a = strings.TrimSpace(a); a != "" {
			c.Admins = append(c.Admins, a)
		}
	}
	errs := []error{errsUnknown}
	switch v := os.Getenv(EnvAllowPrivate); v {
	case "", "deny":
	case "allow":
		c.AllowPrivate = true
	default:
		errs = append(errs, fmt.Errorf("%s is %q, want allow or deny", EnvAllowPrivate, v))
	}
	var err error
	if c.MaxBodyBytes, err = envInt(EnvMaxBodyBytes, DefaultBodyBytes); err != nil {
		errs = append(errs, err)
	}
	if c.MaxBatch, err = envInt(EnvMaxBatch, MaxBatchLimit); err != nil {
		errs = append(errs, err)
	}
	if c.Rate, err = envInt(EnvRate, DefaultRate); err != nil || c.Rate < 0 {
		errs = append(errs, fmt.Errorf("%s is %q, want a whole number of requests per second, 0 for no limit", EnvRate, os.Getenv(EnvRate)))
	}
	if c.RateBurst, err = envInt(EnvRateBurst, DefaultRateBurst); err != nil || c.RateBurst < 1 {
		errs = append(errs, fmt.Errorf("%s is %q, want a positive integer", EnvRateBurst, os.Getenv(EnvRateBurst)))
	}
	if c.MaxSubs, err = envInt(EnvMaxSubs, DefaultMaxSubscriptions); err != nil || c.MaxSubs < 1 || c.MaxSubs > MaxSubscriptionsLimit {
		errs = append(errs, fmt.Errorf("%s is %q, want 1 to %d", EnvMaxSubs, os.Getenv(EnvMaxSubs), MaxSubscriptionsLimit))
	}
	if c.MaxSubsCaller, err = envInt(EnvMaxSubsCaller, DefaultMaxSubsPerCaller); err != nil || c.MaxSubsCaller < 1 || c.MaxSubsCaller > MaxSubscriptionsLimit {
		errs = append(errs, fmt.Errorf("%s is %q, want 1 to %d", EnvMaxSubsCaller, os.Getenv(EnvMaxSubsCaller), MaxSubscriptionsLimit))
	}
	if c.DerivedBudget, err = envInt(EnvDerivedBudget, DefaultDerivedBudget); err != nil || c.DerivedBudget < 1 || c.DerivedBudget > DerivedBudgetLimit {
		errs = append(errs, fmt.Errorf("%s is %q, want 1 to %d", EnvDerivedBudget, os.Getenv(EnvDerivedBudget), DerivedBudgetLimit))
	}
	errs = append(errs, c.Validate(needs))
	return c, errors.Join(errs...)
}

// Validate checks c for what needs asks.
func (c Config) Validate(needs Needs) error {
	var errs []error
	if needs.Stream && c.Stream == "" {
		errs = append(errs, fmt.Errorf("%s is required", EnvStream))
	}
	if needs.Table && c.Table == "" {
		errs = append(errs, fmt.Errorf("%s is required", EnvTable))
	}
	if needs.DeliveryQueue && c.DeliveryQueue == "" {
		errs = append(errs, fmt.Errorf("%s is required", EnvDeliveryQueue))
	}
	if needs.SecretKey && !c.Local && c.KMSKey == "" {
		errs = append(errs, fmt.Errorf("%s is required (the KMS key that seals webhook secrets; template.yaml creates it)", EnvKMSKey))
	}
	if needs.SecretKey && c.Local && c.SecretKey == "" {
		errs = append(errs, fmt.Errorf("%s is required under the local runtime (base64 of 32 bytes, e.g. openssl rand -base64 32)", EnvSecretKey))
	}
	if c.MaxBodyBytes < 1 || c.MaxBodyBytes > MaxBodyLimit {
		errs = append(errs, fmt.Errorf("%s is %d, want 1 to %d", EnvMaxBodyBytes, c.MaxBodyBytes, MaxBodyLimit))
	}
	if c.MaxBatch < 1 || c.MaxBatch > MaxBatchLimit {
		errs = append(errs, fmt.Errorf("%s is %d, want 1 to %d", EnvMaxBatch, c.MaxBatch, MaxBatchLimit))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("%s is %q, want debug, info, warn or error", EnvLogLevel, c.LogLevel))
	}
	return errors.Join(errs...)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func envInt(name string, def int) (int, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return def, fmt.Errorf("%s is %q, want an integer", name, v)
	}
	return n, nil
}

// AWS builds the SDK configuration from the environment, as Lambda provides
// it: AWS_REGION (or AWS_DEFAULT_REGION), the credentials in
// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, and the
// endpoints in AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE> (honouring
// AWS_IGNORE_CONFIGURED_ENDPOINT_URLS). It does not use the SDK's config
// package: that brings SSO, STS and IMDS clients a Lambda never needs and
// over 2 MB to every bootstrap.
func AWS(_ context.Context) (aws.Config, error) {
	region := os.Getenv("AWS_REGION")
	if region == "" {
		region = os.Getenv("AWS_DEFAULT_REGION")
	}
	var errs []error
	if region == "" {
		errs = append(errs, errors.New("AWS_REGION is not set"))
	}
	key, secret := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
	if key == "" || secret == "" {
		errs = append(errs, errors.New("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set (Lambda sets them; locally the engines' env file does)"))
	}
	if err := errors.Join(errs...); err != nil {
		return aws.Config{}, fmt.Errorf("load AWS config: %w", err)
	}
	cfg := aws.Config{
		Region:        region,
		Credentials:   aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(key, secret, os.Getenv("AWS_SESSION_TOKEN"))),
		ConfigSources: []any{envEndpoints{}},
	}
	if ep := os.Getenv("AWS_ENDPOINT_URL"); ep != "" && !ignoreEndpoints() {
		cfg.BaseEndpoint = aws.String(ep)
	}
	return cfg, nil
}

func ignoreEndpoints() bool {
	v, _ := strconv.ParseBool(os.Getenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"))
	return v
}

// envEndpoints gives each service client its AWS_ENDPOINT_URL_<SERVICE>, as
// the SDK's own environment configuration does.
type envEndpoints struct{}

// GetServiceBaseEndpoint returns the endpoint for the service with SDK id
// sdkID ("Kinesis", "DynamoDB", "SQS").
func (envEndpoints) GetServiceBaseEndpoint(_ context.Context, sdkID string) (string, bool, error) {
	name := "AWS_ENDPOINT_URL_" + strings.ToUpper(strings.ReplaceAll(sdkID, " ", "_"))
	v := os.Getenv(name)
	return v, v != "", nil
}

// GetIgnoreConfiguredEndpoints reports AWS_IGNORE_CONFIGURED_ENDPOINT_URLS.
func (envEndpoints) GetIgnoreConfiguredEndpoints(context.Context) (bool, bool, error) {
	return ignoreEndpoints(), true, nil
}
