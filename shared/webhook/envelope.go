package webhook

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"sync"
)

// KeyService makes data keys and unwraps them: KMS on AWS (package
// kmskey), LocalKeys under the local runtime. A wrapped key is useless
// without the service that made it.
type KeyService interface {
	// GenerateDataKey returns a new 32-byte key and its wrapped form.
	GenerateDataKey(ctx context.Context) (plain, wrapped []byte, err error)
	// Decrypt unwraps what GenerateDataKey wrapped.
	Decrypt(ctx context.Context, wrapped []byte) ([]byte, error)
}

// envelopeVersion starts every value Envelope seals.
const envelopeVersion = 2

// maxWrappedKey bounds a wrapped key read from the table (a KMS ciphertext
// blob of a 32-byte key is about 180 bytes; KMS allows up to 6 KiB).
const maxWrappedKey = 6144

// maxCachedKeys bounds the unwrapped data keys an Envelope keeps: one per
// sealed secret, so a deliver function calls KMS once per secret per cold
// start instead of on every refresh of its subscription snapshot.
const maxCachedKeys = 4096

// Envelope seals each secret under a data key of its own, which the
// KeyService wraps: version byte 2, the wrapped key's length (2 bytes, big
// endian), the wrapped key, a 12-byte random nonce, then AES-256-GCM
// ciphertext and tag, with everything before the nonce as additional data.
// Only a caller the key service lets decrypt (kms:Decrypt on the key, on
// AWS) reads a secret; the table alone never yields one. Values sealed
// under the former scheme (AESGCM, version byte 1) open with Legacy when
// it is set.
type Envelope struct {
	keys   KeyService
	legacy *AESGCM

	mu    sync.Mutex
	cache map[string]cipher.AEAD // wrapped key -> its unwrapped key
}

// NewEnvelope returns an Envelope over keys; legacy, when not nil, opens
// values AESGCM sealed before.
func NewEnvelope(keys KeyService, legacy *AESGCM) *Envelope {
	return &Envelope{keys: keys, legacy: legacy, cache: map[string]cipher.AEAD{}}
}

// Seal encrypts plain under a new data key.
func (e *Envelope) Seal(ctx context.Context, plain []byte) ([]byte, error) {
	key, wrapped, err := e.keys.GenerateDataKey(ctx)
	if err != nil {
		return nil, fmt.Errorf("seal: data key: %w", err)
	}
	aead, err := newGCM(key)
	clear(key)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	if len(wrapped) == 0 || len(wrapped) > maxWrappedKey {
		return nil, fmt.Errorf("seal: wrapped data key is %d bytes", len(wrapped))
	}
	head := 3 + len(wrapped)
	ns := aead.NonceSize()
	out := make([]byte, head+ns, head+ns+len(plain)+aead.Overhead())
	out[0] = envelopeVersion
	binary.BigEndian.PutUint16(out[1:3], uint16(len(wrapped)))
	copy(out[3:], wrapped)
	if _, err := rand.Read(out[head:]); err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return aead.Seal(out, out[head:], plain, out[:head]), nil
}

// Open decrypts what Seal (or, with a legacy key, AESGCM) sealed. A value
// that is not one, or was altered, is ErrSealed; a key service that fails
// is its error.
func (e *Envelope) Open(ctx context.Context, sealed []byte) ([]byte, error) {
	if len(sealed) > 0 && sealed[0] == sealVersion {
		if e.legacy == nil {
			return nil, fmt.Errorf("%w: sealed under the former FLOWBUS_SECRET_KEY scheme, which is not configured", ErrSealed)
		}
		return e.legacy.open(sealed)
	}
	if len(sealed) < 3 || sealed[0] != envelopeVersion {
		return nil, ErrSealed
	}
	n := int(binary.BigEndian.Uint16(sealed[1:3]))
	head := 3 + n
	if n == 0 || len(sealed) < head {
		return nil, ErrSealed
	}
	aead, err := e.unwrap(ctx, sealed[3:head])
	if err != nil {
		return nil, err
	}
	ns := aead.NonceSize()
	if len(sealed) < head+ns+aead.Overhead() {
		return nil, ErrSealed
	}
	plain, err := aead.Open(nil, sealed[head:head+ns], sealed[head+ns:], sealed[:head])
	if err != nil {
		return nil, ErrSealed
	}
	return plain, nil
}

func (e *Envelope) unwrap(ctx context.Context, wrapped []byte) (cipher.AEAD, error) {
	e.mu.Lock()
	aead, ok := e.cache[string(wrapped)]
	e.mu.Unlock()
	if ok {
		return aead, nil
	}
	key, err := e.keys.Decrypt(ctx, wrapped)
	if err != nil {
		return nil, fmt.Errorf("open: data key: %w", err)
	}
	aead, err = newGCM(key)
	clear(key)
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	e.mu.Lock()
	if len(e.cache) >= maxCachedKeys {
		clear(e.cache)
	}
	e.cache[string(wrapped)] = aead
	e.mu.Unlock()
	return aead, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	if len(key) != KeyBytes {
		return nil, fmt.Errorf("data key is %d bytes, want %d", len(key), KeyBytes)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// LocalKeys is the KeyService of the local runtime: data keys wrapped with
// AES-256-GCM under one local key (make dev generates it on first start,
// under .run/), standing in for KMS, which the local engines do not have.
type LocalKeys struct {
	key *AESGCM
}

// NewLocalKeys returns a LocalKeys wrapping under key.
func NewLocalKeys(key *AESGCM) *LocalKeys { return &LocalKeys{key: key} }

// GenerateDataKey returns 32 random bytes and their wrapped form.
func (l *LocalKeys) GenerateDataKey(context.Context) ([]byte, []byte, error) {
	plain := make([]byte, KeyBytes)
	if _, err := rand.Read(plain); err != nil {
		return nil, nil, err
	}
	wrapped, err := l.key.seal(plain)
	if err != nil {
		return nil, nil, err
	}
	return plain, wrapped, nil
}

// Decrypt unwraps a data key; one wrapped under another key is ErrSealed.
func (l *LocalKeys) Decrypt(_ context.Context, wrapped []byte) ([]byte, error) {
	return l.key.open(wrapped)
}
