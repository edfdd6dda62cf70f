package webhook_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flowbus/flowbus/shared/webhook"
)

// handSign is an independent signer: HMAC-SHA256 of id.timestamp.body with
// the base64-decoded key after whsec_, written out by hand.
func handSign(t *testing.T, secret, id, ts string, body []byte) string {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		t.Fatal(err)
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + ts + "."))
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// The Standard Webhooks reference libraries' signing vector.
func TestSignSpecVector(t *testing.T) {
	s, err := webhook.ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	got := webhook.Sign([]webhook.Secret{s}, "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("Sign = %q, want %q", got, want)
	}
	if hand := handSign(t, s.String(), "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", []byte(`{"test": 2432232314}`)); got != hand {
		t.Errorf("Sign = %q, hand-computed %q", got, hand)
	}
}

func TestSecretGenerateParse(t *testing.T) {
	s, err := webhook.GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	str := s.String()
	if !strings.HasPrefix(str, "whsec_") {
		t.Fatalf("secret %q has no whsec_ prefix", str)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(str, "whsec_"))
	if err != nil || len(key) != webhook.GeneratedSecretLen {
		t.Fatalf("secret key is %d bytes (%v), want %d", len(key), err, webhook.GeneratedSecretLen)
	}
	back, err := webhook.ParseSecret(str)
	if err != nil || back.String() != str {
		t.Errorf("ParseSecret(%q) = %q, %v", str, back.String(), err)
	}
	other, _ := webhook.GenerateSecret()
	if other.String() == str {
		t.Error("two generated secrets are equal")
	}
	for _, bad := range []string{
		"", "whsec_", "whsec_not base64!",
		"whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 23)),
		"whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 65)),
	} {
		if _, err := webhook.ParseSecret(bad); !errors.Is(err, webhook.ErrSecret) {
			t.Errorf("ParseSecret(%q) = %v, want ErrSecret", bad, err)
		}
	}
	for _, n := range []int{24, 64} {
		if _, err := webhook.ParseSecret("whsec_" + base64.StdEncoding.EncodeToString(make([]byte, n))); err != nil {
			t.Errorf("ParseSecret of a %d-byte key: %v", n, err)
		}
	}
}

func TestVerify(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	s1, _ := webhook.GenerateSecret()
	s2, _ := webhook.GenerateSecret()
	s3, _ := webhook.GenerateSecret()
	body := []byte(`{"a":1}`)
	headers := func(ts time.Time, sig string) http.Header {
		h := http.Header{}
		h.Set("webhook-id", "evt_1")
		h.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
		h.Set("webhook-signature", sig)
		return h
	}
	sign := func(ts time.Time, ss ...webhook.Secret) string { return webhook.Sign(ss, "evt_1", ts, body) }
	cases := []struct {
		name    string
		secret  webhook.Secret
		h       http.Header
		body    []byte
		wantErr error
	}{
		{"valid", s1, headers(now, sign(now, s1)), body, nil},
		{"rotation: old secret", s1, headers(now, sign(now, s1, s2)), body, nil},
		{"rotation: new secret", s2, headers(now, sign(now, s1, s2)), body, nil},
		{"rotation: neither", s3, headers(now, sign(now, s1, s2)), body, webhook.ErrSignature},
		{"other versions ignored", s1, headers(now, "v2,abc v1a,xyz "+sign(now, s1)), body, nil},
		{"hand-made signature", s1, headers(now, handSign(t, s1.String(), "evt_1", strconv.FormatInt(now.Unix(), 10), body)), body, nil},
		{"body changed", s1, headers(now, sign(now, s1)), []byte(`{"a":2}`), webhook.ErrSignature},
		{"wrong secret", s3, headers(now, sign(now, s1)), body, webhook.ErrSignature},
		{"garbage signature", s1, headers(now, "v1,!!!! v1,"+strings.Repeat("A", 44)), body, webhook.ErrSignature},
		{"4m59s old", s1, headers(now.Add(-299*time.Second), sign(now.Add(-299*time.Second), s1)), body, nil},
		{"5m01s old", s1, headers(now.Add(-301*time.Second), sign(now.Add(-301*time.Second), s1)), body, webhook.ErrTimestamp},
		{"5m01s ahead", s1, headers(now.Add(301*time.Second), sign(now.Add(301*time.Second), s1)), body, webhook.ErrTimestamp},
		{"timestamp not a number", s1, func() http.Header { h := headers(now, sign(now, s1)); h.Set("webhook-timestamp", "1e9"); return h }(), body, webhook.ErrTimestamp},
		{"no id", s1, func() http.Header { h := headers(now, sign(now, s1)); h.Del("webhook-id"); return h }(), body, webhook.ErrMissingHeader},
		{"no signature", s1, func() http.Header { h := headers(now, sign(now, s1)); h.Del("webhook-signature"); return h }(), body, webhook.ErrMissingHeader},
		{"id changed", s1, func() http.Header { h := headers(now, sign(now, s1)); h.Set("webhook-id", "evt_2"); return h }(), body, webhook.ErrSignature},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := webhook.Verify(c.secret, c.h, c.body, now); !errors.Is(err, c.wantErr) || (err == nil) != (c.wantErr == nil) {
				t.Errorf("Verify = %v, want %v", err, c.wantErr)
			}
		})
	}
}

func TestSignSkipsZeroSecrets(t *testing.T) {
	s, _ := webhook.GenerateSecret()
	got := webhook.Sign([]webhook.Secret{{}, s, {}}, "id", time.Unix(1, 0), nil)
	if strings.Count(got, "v1,") != 1 || strings.Contains(got, "  ") || strings.HasPrefix(got, " ") {
		t.Errorf("Sign with zero secrets around one = %q", got)
	}
}

// TestSecretNeverPrinted: only String reveals a secret; fmt verbs, a
// struct holding it and slog show the redacted form.
func TestSecretNeverPrinted(t *testing.T) {
	sec, _ := webhook.GenerateSecret()
	key := strings.TrimPrefix(sec.String(), webhook.SecretPrefix)
	target := webhook.Target{URL: "https://hooks.example/x", Secrets: []webhook.Secret{sec}}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("delivery", "secret", sec, "target", target, "secrets", target.Secrets)
	for name, out := range map[string]string{
		"%v":     fmt.Sprintf("%v", sec),
		"%s":     fmt.Sprintf("%s", sec),
		"%q":     fmt.Sprintf("%q", sec),
		"%x":     fmt.Sprintf("%x", sec),
		"%#v":    fmt.Sprintf("%#v", sec),
		"%+v":    fmt.Sprintf("%+v", target),
		"%#v tg": fmt.Sprintf("%#v", target),
		"error":  fmt.Errorf("with %v", sec).Error(),
		"slog":   logged.String(),
	} {
		if strings.Contains(out, key) || !strings.Contains(out, "redacted") {
			t.Errorf("%s printed %q", name, out)
		}
	}
}
