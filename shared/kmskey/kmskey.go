package kmskey

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/flowbus/flowbus/shared/config"
	"github.com/flowbus/flowbus/shared/webhook"
)

// API is the part of the KMS client the key service calls.
type API interface {
	GenerateDataKey(ctx context.Context, in *kms.GenerateDataKeyInput, optFns ...func(*kms.Options)) (*kms.GenerateDataKeyOutput, error)
	Decrypt(ctx context.Context, in *kms.DecryptInput, optFns ...func(*kms.Options)) (*kms.DecryptOutput, error)
}

// Context is the encryption context of every data key: KMS refuses to
// decrypt a wrapped key under any other, and key policies and IAM
// conditions (kms:EncryptionContext:flowbus) can name it.
var Context = map[string]string{"flowbus": "webhook-secret"}

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

// Sealer is the sealer a function keeps webhook secrets with. Deployed, it
// is an Envelope over KMS key cfg.KMSKey, opening values sealed under the
// former scheme with cfg.SecretKey when that is set. Under the local
// runtime it is an Envelope over the local key cfg.SecretKey (make dev
// generates it on first start), opening former values sealed under that
// key or the public config.DevSecretKey.
func Sealer(cfg config.Config, awsCfg aws.Config) (webhook.Sealer, error) {
	if cfg.Local {
		local, err := webhook.ParseAESGCMKey(cfg.SecretKey)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", config.EnvSecretKey, err)
		}
		legacy := local
		if cfg.SecretKey != config.DevSecretKey {
			// Before the envelope, the local runtime sealed under the dev key.
			legacy, _ = webhook.ParseAESGCMKey(config.DevSecretKey)
		}
		return webhook.NewEnvelope(webhook.NewLocalKeys(local), legacy), nil
	}
	var legacy *webhook.AESGCM
	if cfg.SecretKey != "" {
		var err error
		if legacy, err = webhook.ParseAESGCMKey(cfg.SecretKey); err != nil {
			return nil, fmt.Errorf("%s: %w", config.EnvSecretKey, err)
		}
	}
	return webhook.NewEnvelope(New(kms.NewFromConfig(awsCfg), cfg.KMSKey), legacy), nil
}
