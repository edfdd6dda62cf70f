package webhook_test

import (
	"bytes"
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/flowbus/flowbus/shared/webhook"
)

// countingKeys counts a KeyService's calls and can be made to fail.
type countingKeys struct {
	webhook.KeyService
	generated, decrypted atomic.Int32
	fail                 error
}

func (c *countingKeys) GenerateDataKey(ctx context.Context) ([]byte, []byte, error) {
	c.generated.Add(1)
	if c.fail != nil {
		return nil, nil, c.fail
	}
	return c.KeyService.GenerateDataKey(ctx)
}

func (c *countingKeys) Decrypt(ctx context.Context, wrapped []byte) ([]byte, error) {
	c.decrypted.Add(1)
	if c.fail != nil {
		return nil, c.fail
	}
	return c.KeyService.Decrypt(ctx, wrapped)
}

func localKeys(t *testing.T, b byte) *webhook.LocalKeys {
	t.Helper()
	k, err := webhook.NewAESGCM(bytes.Repeat([]byte{b}, webhook.KeyBytes))
	if err != nil {
		t.Fatal(err)
	}
	return webhook.NewLocalKeys(k)
}

func TestEnvelope(t *testing.T) {
	ctx := context.Background()
	keys := &countingKeys{KeyService: localKeys(t, 1)}
	env := webhook.NewEnvelope(keys, nil)
	secret, _ := webhook.GenerateSecret()
	plain := []byte(secret.String())

	sealed, err := env.Seal(ctx, plain)
	if err != nil {
		t.Fatal(err)
	}
	if sealed[0] != 2 {
		t.Errorf("version byte %d, want 2", sealed[0])
	}
	if bytes.Contains(sealed, plain) || bytes.Contains(sealed, plain[6:]) {
		t.Fatal("sealed value contains the secret")
	}
	again, _ := env.Seal(ctx, plain)
	if bytes.Equal(sealed[:40], again[:40]) {
		t.Error("two seals share a wrapped data key")
	}
	if n := keys.generated.Load(); n != 2 {
		t.Errorf("GenerateDataKey called %d times for 2 seals, want 2", n)
	}

	for range 3 {
		got, err := env.Open(ctx, sealed)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("Open = %q, %v; want %q", got, err, plain)
		}
	}
	if n := keys.decrypted.Load(); n != 1 {
		t.Errorf("Decrypt called %d times for 3 opens of one value, want 1 (cached)", n)
	}

	// Another process with the same key service (a new cold start) opens it.
	if got, err := webhook.NewEnvelope(localKeys(t, 1), nil).Open(ctx, sealed); err != nil || !bytes.Equal(got, plain) {
		t.Errorf("Open in another Envelope = %q, %v", got, err)
	}
	// Another key cannot.
	if _, err := webhook.NewEnvelope(localKeys(t, 2), nil).Open(ctx, sealed); !errors.Is(err, webhook.ErrSealed) {
		t.Errorf("Open under another key = %v, want ErrSealed", err)
	}
	for name, bad := range map[string][]byte{
		"flipped tag bit":        func() []byte { b := bytes.Clone(sealed); b[len(b)-1] ^= 1; return b }(),
		"flipped wrapped key":    func() []byte { b := bytes.Clone(sealed); b[10] ^= 1; return b }(),
		"length past the end":    func() []byte { b := bytes.Clone(sealed); b[1], b[2] = 0xff, 0xff; return b }(),
		"zero length":            func() []byte { b := bytes.Clone(sealed); b[1], b[2] = 0, 0; return b }(),
		"truncated":              sealed[:len(sealed)-20],
		"header only":            sealed[:3],
		"empty":                  nil,
		"unknown version":        func() []byte { b := bytes.Clone(sealed); b[0] = 9; return b }(),
		"plain text, not sealed": plain,
	} {
		if _, err := webhook.NewEnvelope(localKeys(t, 1), nil).Open(ctx, bad); !errors.Is(err, webhook.ErrSealed) {
			t.Errorf("Open(%s) = %v, want ErrSealed", name, err)
		}
	}

	// A key service that fails is its error, not a corrupt value.
	down := errors.New("kms unavailable")
	failing := webhook.NewEnvelope(&countingKeys{KeyService: localKeys(t, 1), fail: down}, nil)
	if _, err := failing.Open(ctx, sealed); !errors.Is(err, down) || errors.Is(err, webhook.ErrSealed) {
		t.Errorf("Open with a failing key service = %v, want its error", err)
	}
	if _, err := failing.Seal(ctx, plain); !errors.Is(err, down) {
		t.Errorf("Seal with a failing key service = %v, want its error", err)
	}
}

// TestEnvelopeOpensLegacy: values the former scheme sealed (AESGCM under
// FLOWBUS_SECRET_KEY) still open when that key is given, and only then.
func TestEnvelopeOpensLegacy(t *testing.T) {
	ctx := context.Background()
	legacy, _ := webhook.NewAESGCM(bytes.Repeat([]byte{7}, webhook.KeyBytes))
	old, err := legacy.Seal(ctx, []byte("whsec_old"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := webhook.NewEnvelope(localKeys(t, 1), legacy).Open(ctx, old); err != nil || string(got) != "whsec_old" {
		t.Errorf("Open(legacy) = %q, %v", got, err)
	}
	if _, err := webhook.NewEnvelope(localKeys(t, 1), nil).Open(ctx, old); !errors.Is(err, webhook.ErrSealed) {
		t.Errorf("Open(legacy) without the legacy key = %v, want ErrSealed", err)
	}
	other, _ := webhook.NewAESGCM(bytes.Repeat([]byte{8}, webhook.KeyBytes))
	if _, err := webhook.NewEnvelope(localKeys(t, 1), other).Open(ctx, old); !errors.Is(err, webhook.ErrSealed) {
		t.Errorf("Open(legacy) under another legacy key = %v, want ErrSealed", err)
	}
}
