package webhook_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"testing"

	"github.com/flowbus/flowbus/shared/webhook"
)

func TestAESGCMSealer(t *testing.T) {
	ctx := context.Background()
	var sealer webhook.Sealer
	a, err := webhook.ParseAESGCMKey(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	sealer = a
	secret, _ := webhook.GenerateSecret()
	plain := []byte(secret.String())
	sealed, err := sealer.Seal(ctx, plain)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, plain) || bytes.Contains(sealed, plain[6:]) {
		t.Fatal("sealed value contains the secret")
	}
	again, _ := sealer.Seal(ctx, plain)
	if bytes.Equal(sealed, again) {
		t.Error("sealing twice gave the same bytes (nonce reused)")
	}
	got, err := sealer.Open(ctx, sealed)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Open = %q, %v; want %q", got, err, plain)
	}

	other, _ := webhook.NewAESGCM(bytes.Repeat([]byte{8}, 32))
	if _, err := other.Open(ctx, sealed); !errors.Is(err, webhook.ErrSealed) {
		t.Errorf("Open with another key = %v, want ErrSealed", err)
	}
	for name, bad := range map[string][]byte{
		"flipped bit": func() []byte { b := bytes.Clone(sealed); b[len(b)-1] ^= 1; return b }(),
		"truncated":   sealed[:10],
		"empty":       nil,
		"version":     func() []byte { b := bytes.Clone(sealed); b[0] = 9; return b }(),
	} {
		if _, err := sealer.Open(ctx, bad); !errors.Is(err, webhook.ErrSealed) {
			t.Errorf("Open(%s) = %v, want ErrSealed", name, err)
		}
	}
	if _, err := webhook.NewAESGCM(make([]byte, 16)); err == nil {
		t.Error("NewAESGCM took a 16-byte key")
	}
	if _, err := webhook.ParseAESGCMKey("not base64"); err == nil {
		t.Error("ParseAESGCMKey took a non-base64 key")
	}
}
