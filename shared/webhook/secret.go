package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Standard Webhooks 1.0 headers.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// SecretPrefix starts every serialised secret.
const SecretPrefix = "whsec_"

// Secret sizes in bytes: Standard Webhooks asks for 24 to 64; flowbus
// generates 32.
const (
	MinSecretBytes     = 24
	MaxSecretBytes     = 64
	GeneratedSecretLen = 32
)

// Tolerance is how far a webhook-timestamp may be from the receiver's clock.
const Tolerance = 5 * time.Minute

// Errors Verify and ParseSecret return; match them with errors.Is.
var (
	ErrSecret          = errors.New("secret is not whsec_ followed by base64 of 24 to 64 bytes")
	ErrMissingHeader   = errors.New("webhook-id, webhook-timestamp or webhook-signature missing")
	ErrTimestamp       = errors.New("webhook-timestamp is not an integer within 5 minutes of now")
	ErrSignature       = errors.New("no webhook-signature matches")
	errSecretGenerator = errors.New("read random bytes")
)

// Secret is a signing key. The zero Secret signs nothing.
type Secret struct {
	key []byte
}

// GenerateSecret returns a new random secret.
func GenerateSecret() (Secret, error) {
	key := make([]byte, GeneratedSecretLen)
	if _, err := rand.Read(key); err != nil {
		return Secret{}, fmt.Errorf("%w: %w", errSecretGenerator, err)
	}
	return Secret{key: key}, nil
}

// ParseSecret reads a secret in its serialised form, whsec_<base64 key>.
// As the reference libraries do, the prefix may be left off.
func ParseSecret(s string) (Secret, error) {
	s = strings.TrimPrefix(s, SecretPrefix)
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(key) < MinSecretBytes || len(key) > MaxSecretBytes {
		return Secret{}, ErrSecret
	}
	return Secret{key: key}, nil
}

// String is the serialised secret, whsec_<base64 key>: what the subscriber
// is shown once and what the store seals.
func (s Secret) String() string {
	return SecretPrefix + base64.StdEncoding.EncodeToString(s.key)
}

// Redacted is what a Secret prints as and logs as: only String reveals it,
// for the one answer that shows it and for the sealer.
const Redacted = SecretPrefix + "[redacted]"

// Format prints Redacted for every verb, so a secret inside a struct, an
// error or a %v never reaches a log.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, Redacted) }

// LogValue keeps a secret out of slog output.
func (s Secret) LogValue() slog.Value { return slog.StringValue(Redacted) }

// IsZero reports whether s holds no key.
func (s Secret) IsZero() bool { return len(s.key) == 0 }

// appendSignature writes "v1,<base64 HMAC-SHA256 of id.timestamp.body>".
func (s Secret) appendSignature(dst []byte, id, ts string, body []byte) []byte {
	sum := s.sum(id, ts, body)
	dst = append(dst, "v1,"...)
	return base64.StdEncoding.AppendEncode(dst, sum)
}

func (s Secret) sum(id, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Sign returns the webhook-signature value for one attempt: a v1 entry per
// secret, space-separated, so that during a rotation a receiver holding
// either the old or the new secret accepts the delivery.
func Sign(secrets []Secret, id string, ts time.Time, body []byte) string {
	return string(appendSignatures(nil, secrets, id, strconv.FormatInt(ts.Unix(), 10), body))
}

func appendSignatures(dst []byte, secrets []Secret, id, ts string, body []byte) []byte {
	first := true
	for _, s := range secrets {
		if s.IsZero() {
			continue
		}
		if !first {
			dst = append(dst, ' ')
		}
		first = false
		dst = s.appendSignature(dst, id, ts, body)
	}
	return dst
}

// Verify checks a delivery as a receiver should: the three headers are
// present, webhook-timestamp is within Tolerance of now, and one of the
// space-separated v1 signatures is the HMAC of id.timestamp.body under
// secret (compared in constant time). Other versions are ignored.
func Verify(secret Secret, h http.Header, body []byte, now time.Time) error {
	id, ts, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || ts == "" || sigs == "" {
		return ErrMissingHeader
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return ErrTimestamp
	}
	if d := now.Sub(time.Unix(sec, 0)); d > Tolerance || d < -Tolerance {
		return ErrTimestamp
	}
	want := secret.sum(id, ts, body)
	var got [sha256.Size + 1]byte // 44 base64 characters decode to 33 bytes at most
	for _, entry := range strings.Fields(sigs) {
		b64, ok := strings.CutPrefix(entry, "v1,")
		if !ok || len(b64) != base64.StdEncoding.EncodedLen(sha256.Size) {
			continue
		}
		n, err := base64.StdEncoding.Decode(got[:], []byte(b64))
		if err != nil || n != sha256.Size {
			continue
		}
		if hmac.Equal(got[:n], want) {
			return nil
		}
	}
	return ErrSignature
}
