package kmskey_test

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/flowbus/flowbus/shared/config"
	"github.com/flowbus/flowbus/shared/kmskey"
	"github.com/flowbus/flowbus/shared/webhook"
)

// fakeKMS checks what the key service asks and answers as KMS would: the
// wrapped key is the data key sealed under a key of its own, and Decrypt
// refuses another key id or encryption context.
type fakeKMS struct {
	t     *testing.T
	keyID string
	inner *webhook.LocalKeys
}

func (f *fakeKMS) GenerateDataKey(ctx context.Context, in *kms.GenerateDataKeyInput, _ ...func(*kms.Options)) (*kms.GenerateDataKeyOutput, error) {
	if aws.ToString(in.KeyId) != f.keyID || in.KeySpec != types.DataKeySpecAes256 || !maps.Equal(in.EncryptionContext, kmskey.Context) {
		f.t.Errorf("GenerateDataKey(%s, %s, %v), want %s, AES_256, %v", aws.ToString(in.KeyId), in.KeySpec, in.EncryptionContext, f.keyID, kmskey.Context)
	}
	plain, wrapped, err := f.inner.GenerateDataKey(ctx)
	return &kms.GenerateDataKeyOutput{Plaintext: plain, CiphertextBlob: wrapped, KeyId: in.KeyId}, err
}

func (f *fakeKMS) Decrypt(ctx context.Context, in *kms.DecryptInput, _ ...func(*kms.Options)) (*kms.DecryptOutput, error) {
	if aws.ToString(in.KeyId) != f.keyID || !maps.Equal(in.EncryptionContext, kmskey.Context) {
		return nil, &types.InvalidCiphertextException{Message: aws.String("wrong key or context")}
	}
	plain, err := f.inner.Decrypt(ctx, in.CiphertextBlob)
	if err != nil {
		return nil, &types.InvalidCiphertextException{Message: aws.String(err.Error())}
	}
	return &kms.DecryptOutput{Plaintext: plain, KeyId: in.KeyId}, nil
}

func TestEnvelopeOverKMS(t *testing.T) {
	ctx := context.Background()
	k, _ := webhook.NewAESGCM(bytes.Repeat([]byte{3}, webhook.KeyBytes))
	api := &fakeKMS{t: t, keyID: "arn:aws:kms:eu-west-1:111122223333:key/k1", inner: webhook.NewLocalKeys(k)}
	env := webhook.NewEnvelope(kmskey.New(api, api.keyID), nil)
	sealed, err := env.Seal(ctx, []byte("whsec_x"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := webhook.NewEnvelope(kmskey.New(api, api.keyID), nil).Open(ctx, sealed); err != nil || string(got) != "whsec_x" {
		t.Errorf("Open = %q, %v", got, err)
	}
	var ice *types.InvalidCiphertextException
	if _, err := webhook.NewEnvelope(kmskey.New(api, "another-key"), nil).Open(ctx, sealed); !errors.As(err, &ice) {
		t.Errorf("Open under another KMS key = %v, want KMS's InvalidCiphertextException", err)
	}
}

// TestLocalSealer: under the local runtime the sealer is an envelope over
// the local key, and opens what the former scheme sealed under the public
// dev key.
func TestLocalSealer(t *testing.T) {
	ctx := context.Background()
	key := "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="
	s, err := kmskey.Sealer(config.Config{Local: true, SecretKey: key}, aws.Config{})
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := s.Seal(ctx, []byte("whsec_new"))
	if err != nil || sealed[0] != 2 {
		t.Fatalf("Seal = %x, %v; want an envelope (version 2)", sealed, err)
	}
	again, _ := kmskey.Sealer(config.Config{Local: true, SecretKey: key}, aws.Config{})
	if got, err := again.Open(ctx, sealed); err != nil || string(got) != "whsec_new" {
		t.Errorf("Open after a restart = %q, %v", got, err)
	}
	dev, _ := webhook.ParseAESGCMKey(config.DevSecretKey)
	old, _ := dev.Seal(ctx, []byte("whsec_old"))
	if got, err := s.Open(ctx, old); err != nil || string(got) != "whsec_old" {
		t.Errorf("Open(sealed under the dev key before) = %q, %v", got, err)
	}
	if _, err := kmskey.Sealer(config.Config{Local: true, SecretKey: "short"}, aws.Config{}); err == nil {
		t.Error("Sealer took a local key that is not 32 bytes of base64")
	}
}
