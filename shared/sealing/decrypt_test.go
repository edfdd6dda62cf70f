package sealing_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/flowbus/flowbus/shared/config"
	"github.com/flowbus/flowbus/shared/kmskey"
	"github.com/flowbus/flowbus/shared/sealing"
	"github.com/flowbus/flowbus/shared/webhook"
)

const keyARN = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"

// fakeKMS answers KMS's JSON 1.1 Decrypt and GenerateDataKey as KMS does,
// wrapping data keys with a local key of its own. It refuses unsigned
// requests, another key or another encryption context.
func fakeKMS(t *testing.T) *httptest.Server {
	k, _ := webhook.NewAESGCM(bytes.Repeat([]byte{5}, webhook.KeyBytes))
	inner := webhook.NewLocalKeys(k)
	fail := func(w http.ResponseWriter, typ, msg string) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"__type": typ, "message": msg})
	}
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/") || !strings.Contains(auth, "/eu-west-1/kms/aws4_request") || r.Header.Get("X-Amz-Date") == "" {
			fail(w, "IncompleteSignatureException", "not signed for kms in eu-west-1: "+auth)
			return
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
			fail(w, "SerializationException", "content type "+ct)
			return
		}
		var in struct {
			CiphertextBlob    []byte
			KeyId             string
			KeySpec           string
			EncryptionContext map[string]string
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			fail(w, "SerializationException", err.Error())
			return
		}
		if in.KeyId != keyARN || !maps.Equal(in.EncryptionContext, map[string]string{"flowbus": "webhook-secret"}) {
			fail(w, "InvalidCiphertextException", "wrong key or encryption context")
			return
		}
		var out map[string]any
		switch r.Header.Get("X-Amz-Target") {
		case "TrentService.Decrypt":
			plain, err := inner.Decrypt(r.Context(), in.CiphertextBlob)
			if err != nil {
				fail(w, "InvalidCiphertextException", "cannot decrypt")
				return
			}
			out = map[string]any{"Plaintext": plain, "KeyId": keyARN}
		case "TrentService.GenerateDataKey":
			plain, wrapped, _ := inner.GenerateDataKey(r.Context())
			out = map[string]any{"Plaintext": plain, "CiphertextBlob": wrapped, "KeyId": keyARN}
		default:
			fail(w, "UnknownOperationException", r.Header.Get("X-Amz-Target"))
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_ = json.NewEncoder(w).Encode(out)
	}))
}

func awsConfig(endpoint string) aws.Config {
	return aws.Config{
		Region:       "eu-west-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
	}
}

// TestDecrypterOpensWhatKMSClientSealed: a secret sealed through the SDK's
// KMS client (the subscriptions function) opens through the Decrypter's
// one signed request (the deliver function), against an endpoint that
// speaks KMS's protocol to both.
func TestDecrypterOpensWhatKMSClientSealed(t *testing.T) {
	srv := fakeKMS(t)
	defer srv.Close()
	t.Setenv("AWS_ENDPOINT_URL_KMS", "")
	ctx := context.Background()
	cfg := awsConfig(srv.URL)
	sdk := kmskey.New(kms.NewFromConfig(cfg), keyARN)
	sealed, err := webhook.NewEnvelope(sdk, nil).Seal(ctx, []byte("whsec_abc"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := webhook.NewEnvelope(sealing.NewDecrypter(cfg, keyARN), nil).Open(ctx, sealed)
	if err != nil || string(got) != "whsec_abc" {
		t.Fatalf("Decrypter Open = %q, %v", got, err)
	}
	// The fake holds both clients to the same rules: the SDK opens it too.
	if got, err := webhook.NewEnvelope(sdk, nil).Open(ctx, sealed); err != nil || string(got) != "whsec_abc" {
		t.Fatalf("SDK Open = %q, %v", got, err)
	}

	// KMS's refusal comes back as an *Error with its type.
	var ke *sealing.Error
	if _, err := webhook.NewEnvelope(sealing.NewDecrypter(cfg, "another-key"), nil).Open(ctx, sealed); !errors.As(err, &ke) || ke.Type != "InvalidCiphertextException" || ke.Status != 400 {
		t.Errorf("Open under another key = %v, want KMS's InvalidCiphertextException", err)
	}
	var ice *types.InvalidCiphertextException
	if _, err := webhook.NewEnvelope(kmskey.New(kms.NewFromConfig(cfg), "another-key"), nil).Open(ctx, sealed); !errors.As(err, &ice) {
		t.Errorf("SDK Open under another key = %v, want InvalidCiphertextException", err)
	}
	if _, _, err := sealing.NewDecrypter(cfg, keyARN).GenerateDataKey(ctx); !errors.Is(err, sealing.ErrDecryptOnly) {
		t.Errorf("GenerateDataKey = %v, want ErrDecryptOnly", err)
	}
}

func TestDecrypterEndpoint(t *testing.T) {
	srv := fakeKMS(t)
	defer srv.Close()
	// AWS_ENDPOINT_URL_KMS wins over the base endpoint.
	t.Setenv("AWS_ENDPOINT_URL_KMS", srv.URL)
	cfg := awsConfig("http://127.0.0.1:1")
	k, _ := webhook.NewAESGCM(bytes.Repeat([]byte{5}, webhook.KeyBytes))
	_, wrapped, _ := webhook.NewLocalKeys(k).GenerateDataKey(context.Background())
	if _, err := sealing.NewDecrypter(cfg, keyARN).Decrypt(context.Background(), wrapped); err != nil {
		t.Errorf("Decrypt through AWS_ENDPOINT_URL_KMS = %v", err)
	}
}

// TestFor: deployed, the sealer is the envelope over the key service it is
// given (and the former key when set); locally, over the local key.
func TestFor(t *testing.T) {
	ctx := context.Background()
	srv := fakeKMS(t)
	defer srv.Close()
	t.Setenv("AWS_ENDPOINT_URL_KMS", "")
	cfg := awsConfig(srv.URL)
	former := "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="
	deployed := config.Config{KMSKey: keyARN, SecretKey: former}
	s, err := sealing.For(deployed, kmskey.New(kms.NewFromConfig(cfg), keyARN))
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := s.Seal(ctx, []byte("whsec_new"))
	if err != nil {
		t.Fatal(err)
	}
	d, _ := sealing.For(deployed, sealing.NewDecrypter(cfg, keyARN))
	if got, err := d.Open(ctx, sealed); err != nil || string(got) != "whsec_new" {
		t.Errorf("Open = %q, %v", got, err)
	}
	old, _ := webhook.ParseAESGCMKey(former)
	v1, _ := old.Seal(ctx, []byte("whsec_old"))
	if got, err := d.Open(ctx, v1); err != nil || string(got) != "whsec_old" {
		t.Errorf("Open(former scheme) = %q, %v", got, err)
	}
	if _, err := sealing.For(config.Config{KMSKey: keyARN, SecretKey: "nope"}, nil); err == nil {
		t.Error("For took a former key that is not base64 of 32 bytes")
	}

	local, err := sealing.For(config.Config{Local: true, SecretKey: former}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ls, err := local.Seal(ctx, []byte("whsec_local"))
	if err != nil || ls[0] != 2 {
		t.Fatalf("local Seal = %x, %v; want an envelope", ls, err)
	}
	dev, _ := webhook.ParseAESGCMKey(config.DevSecretKey)
	devOld, _ := dev.Seal(ctx, []byte("whsec_dev"))
	if got, err := local.Open(ctx, devOld); err != nil || string(got) != "whsec_dev" {
		t.Errorf("local Open(sealed under the dev key before) = %q, %v", got, err)
	}
}
