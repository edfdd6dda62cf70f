package webhook

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
)

// Sealer keeps secrets encrypted at rest. The subscription store seals a
// secret's String() before writing it and opens it when a delivery needs
// it; nothing else sees the plain text. Envelope is the one deployments and
// the local runtime use; AESGCM is the former scheme, kept to read what it
// sealed.
type Sealer interface {
	Seal(ctx context.Context, plain []byte) ([]byte, error)
	Open(ctx context.Context, sealed []byte) ([]byte, error)
}

// ErrSealed is returned by Open for data that was not sealed by this key
// (wrong key, truncated or altered).
var ErrSealed = errors.New("sealed secret cannot be opened with this key")

// sealVersion is the first byte of every value AESGCM seals; Envelope's
// start with envelopeVersion, so either can be told apart.
const sealVersion = 1

// AESGCM seals with AES-256-GCM under one key: version byte, 12-byte random
// nonce, ciphertext and tag. It was flowbus's first scheme, under a key in
// configuration (FLOWBUS_SECRET_KEY); Envelope opens what it sealed when
// given that key, and LocalKeys uses it to wrap data keys.
type AESGCM struct {
	aead cipher.AEAD
}

// KeyBytes is the size of an AESGCM key.
const KeyBytes = 32

// NewAESGCM returns a Sealer under key, which must be 32 bytes.
func NewAESGCM(key []byte) (*AESGCM, error) {
	if len(key) != KeyBytes {
		return nil, fmt.Errorf("sealing key is %d bytes, want %d", len(key), KeyBytes)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("sealing key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("sealing key: %w", err)
	}
	return &AESGCM{aead: aead}, nil
}

// ParseAESGCMKey reads a sealing key as configuration holds it: standard
// base64 of 32 bytes (for example `openssl rand -base64 32`).
func ParseAESGCMKey(s string) (*AESGCM, error) {
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("sealing key is not base64: %w", err)
	}
	return NewAESGCM(key)
}

// Seal encrypts plain.
func (a *AESGCM) Seal(_ context.Context, plain []byte) ([]byte, error) {
	return a.seal(plain)
}

func (a *AESGCM) seal(plain []byte) ([]byte, error) {
	ns := a.aead.NonceSize()
	out := make([]byte, 1+ns, 1+ns+len(plain)+a.aead.Overhead())
	out[0] = sealVersion
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return a.aead.Seal(out, out[1:], plain, out[:1]), nil
}

// Open decrypts what Seal returned; anything else is ErrSealed.
func (a *AESGCM) Open(_ context.Context, sealed []byte) ([]byte, error) {
	return a.open(sealed)
}

func (a *AESGCM) open(sealed []byte) ([]byte, error) {
	ns := a.aead.NonceSize()
	if len(sealed) < 1+ns+a.aead.Overhead() || sealed[0] != sealVersion {
		return nil, ErrSealed
	}
	plain, err := a.aead.Open(nil, sealed[1:1+ns], sealed[1+ns:], sealed[:1])
	if err != nil {
		return nil, ErrSealed
	}
	return plain, nil
}
