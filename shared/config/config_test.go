package config

import (
	"strings"
	"testing"
)

func TestLoadReportsEveryProblem(t *testing.T) {
	t.Setenv(EnvMaxBatch, "900")
	t.Setenv(EnvMaxBodyBytes, "x")
	t.Setenv(EnvLogLevel, "loud")
	t.Setenv(EnvUnknownTypes, "maybe")
	t.Setenv(EnvStream, "")
	_, err := Load(Needs{Stream: true})
	if err == nil {
		t.Fatal("Load accepted a bad environment")
	}
	for _, want := range []string{EnvMaxBatch, EnvMaxBodyBytes, EnvLogLevel, EnvUnknownTypes, EnvStream} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}

func TestLoadDefaults(t *testing.T) {
	t.Setenv(EnvTable, "t")
	t.Setenv(EnvUnknownTypes, "reject")
	c, err := Load(Needs{Table: true})
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxBatch != MaxBatchLimit || c.MaxBodyBytes != DefaultBodyBytes || c.LogLevel != "info" || !c.RejectUnknown {
		t.Errorf("config %+v", c)
	}
}

func TestAWSFromTheEnvironment(t *testing.T) {
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "k")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "s")
	t.Setenv("AWS_ENDPOINT_URL_KINESIS", "http://127.0.0.1:1")
	cfg, err := AWS(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ep, found, _ := envEndpoints{}.GetServiceBaseEndpoint(t.Context(), "Kinesis")
	if cfg.Region != "eu-west-1" || !found || ep != "http://127.0.0.1:1" {
		t.Errorf("region %s, kinesis endpoint %q %v", cfg.Region, ep, found)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	if _, err := AWS(t.Context()); err == nil {
		t.Error("AWS without credentials did not fail")
	}
}

func TestSecretKey(t *testing.T) {
	t.Setenv(EnvSecretKey, "")
	t.Setenv(EnvKMSKey, "")
	t.Setenv(EnvLocal, "")
	if _, err := Load(Needs{SecretKey: true}); err == nil || !strings.Contains(err.Error(), EnvKMSKey) {
		t.Errorf("got %v, want %s required", err, EnvKMSKey)
	}
	t.Setenv(EnvKMSKey, "alias/flowbus")
	if c, err := Load(Needs{SecretKey: true}); err != nil || c.KMSKey != "alias/flowbus" || c.SecretKey != "" {
		t.Errorf("deployed: got %q %q %v, want the KMS key and no secret key", c.KMSKey, c.SecretKey, err)
	}
	t.Setenv(EnvLocal, "true")
	c, err := Load(Needs{SecretKey: true})
	if err != nil || c.SecretKey != DevSecretKey || !c.Local {
		t.Errorf("local: got %q %v %v, want the dev key", c.SecretKey, c.Local, err)
	}
	t.Setenv(EnvSecretKey, "k")
	if c, _ := Load(Needs{SecretKey: true}); c.SecretKey != "k" {
		t.Errorf("got %q, want the configured key", c.SecretKey)
	}
}

func TestLimits(t *testing.T) {
	t.Setenv(EnvRate, "")
	t.Setenv(EnvRateBurst, "")
	t.Setenv(EnvMaxSubs, "")
	t.Setenv(EnvDerivedBudget, "")
	c, err := Load(Needs{})
	if err != nil || c.Rate != DefaultRate || c.RateBurst != DefaultRateBurst || c.MaxSubs != DefaultMaxSubscriptions || c.DerivedBudget != DefaultDerivedBudget {
		t.Errorf("defaults: %d %d %d %d %v", c.Rate, c.RateBurst, c.MaxSubs, c.DerivedBudget, err)
	}
	t.Setenv(EnvRate, "0")
	t.Setenv(EnvMaxSubs, "5")
	t.Setenv(EnvDerivedBudget, "7")
	if c, err := Load(Needs{}); err != nil || c.Rate != 0 || c.MaxSubs != 5 || c.DerivedBudget != 7 {
		t.Errorf("set: %d %d %d %v", c.Rate, c.MaxSubs, c.DerivedBudget, err)
	}
	for k, v := range map[string]string{EnvRate: "-1", EnvRateBurst: "0", EnvMaxSubs: "10001", EnvDerivedBudget: "1001"} {
		t.Run(k, func(t *testing.T) {
			t.Setenv(k, v)
			if _, err := Load(Needs{}); err == nil || !strings.Contains(err.Error(), k) {
				t.Errorf("%s=%s: %v, want an error naming it", k, v, err)
			}
		})
	}
}

func TestAllowPrivate(t *testing.T) {
	for v, want := range map[string]bool{"": false, "deny": false, "allow": true} {
		t.Setenv(EnvAllowPrivate, v)
		if c, err := Load(Needs{}); err != nil || c.AllowPrivate != want {
			t.Errorf("%s=%q: %v %v, want %v", EnvAllowPrivate, v, c.AllowPrivate, err, want)
		}
	}
	t.Setenv(EnvAllowPrivate, "yes")
	if _, err := Load(Needs{}); err == nil || !strings.Contains(err.Error(), EnvAllowPrivate) {
		t.Errorf("yes: %v, want an error naming %s", err, EnvAllowPrivate)
	}
}
