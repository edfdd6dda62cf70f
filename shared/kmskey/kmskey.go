package kmskey

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/flowbus/flowbus/shared/config"
	"github.com/flowbus/flowbus/shared/sealing"
	"github.com/flowbus/flowbus/shared/webhook"
)

// API is the part of the KMS client the key service calls.
type API interface {
	GenerateDataKey(ctx context.Context, in *kms.GenerateDataKeyInput, optFns ...func(*kms.Options)) (*kms.GenerateDataKeyOutput, error)
	Decrypt(ctx context.Context, in *kms.DecryptInput, optFns ...func(*kms.Options)) (*kms.DecryptOutput, error)
}

// Context is the encryption context of every data key
// (sealing.EncryptionContext).
var Context = sealing.EncryptionContext

// Service is a webhook.KeyService over one KMS key.
type Service struct {
	api   API
	keyID string
}

// New returns a Service over the key keyID (an id, ARN or alias).
func New(api API, keyID string) *Service { return &Service{api: api, keyID: keyID} }

// GenerateDataKey asks KMS for a new AES-256 data key.
func (s *Service) GenerateDataKey(ctx context.Context) ([]byte, []byte, error) {
	out, err := s.api.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{
		KeyId:             aws.String(s.keyID),
		KeySpec:           types.DataKeySpecAes256,
		EncryptionContext: Context,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("kms generate data key: %w", err)
	}
	return out.Plaintext, out.CiphertextBlob, nil
}

// Decrypt unwraps a data key; KMS checks it was made under this key and
// context.
func (s *Service) Decrypt(ctx context.Context, wrapped []byte) ([]byte, error) {
	out, err := s.api.Decrypt(ctx, &kms.DecryptInput{
		CiphertextBlob:    wrapped,
		KeyId:             aws.String(s.keyID),
		EncryptionContext: Context,
	})
	if err != nil {
		return nil, fmt.Errorf("kms decrypt data key: %w", err)
	}
	return out.Plaintext, nil
}

// Sealer is sealing.For over this package's Service on cfg.KMSKey: what
// the subscriptions function seals new secrets with.
func Sealer(cfg config.Config, awsCfg aws.Config) (webhook.Sealer, error) {
	var keys webhook.KeyService
	if !cfg.Local {
		keys = New(kms.NewFromConfig(awsCfg), cfg.KMSKey)
	}
	return sealing.For(cfg, keys)
}
