// Package jwtlocal is the local runtime's JWT issuer: an RSA key (RS256, as
// API Gateway's JWT authorizer takes only RSA-based algorithms) made on
// first use and kept in a folder (.run/issuer), tokens signed with it, and
// the issuer's OpenID discovery document and JWKS served on loopback, which
// the local HTTP API reads as API Gateway's JWT authorizer reads a real
// issuer's.
package jwtlocal

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// KeyFile is the private key's file name in the issuer's folder.
const KeyFile = "issuer-key.pem"

// DefaultAudience is the audience of the tokens Mint makes unless told
// otherwise: template.yaml's JwtAudience default.
const DefaultAudience = "flowbus"

// DefaultTTL is how long a minted token is valid unless told otherwise.
const DefaultTTL = 12 * time.Hour

// Issuer signs tokens as the issuer named URL.
type Issuer struct {
	URL string // the iss claim, and where discovery is served
	key *rsa.PrivateKey
	kid string
}

// Open loads the issuer's key from dir, making it on first use (0600, made
// once even when several processes open the folder at the same time).
func Open(dir, url string) (*Issuer, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, KeyFile)
	key, err := readKey(path)
	if errors.Is(err, os.ErrNotExist) {
		key, err = makeKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("issuer key %s: %w", path, err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(pub)
	return &Issuer{URL: strings.TrimRight(url, "/"), key: key, kid: base64.RawURLEncoding.EncodeToString(sum[:9])}, nil
}

func readKey(path string) (*rsa.PrivateKey, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		return nil, errors.New("not PEM")
	}
	return x509.ParsePKCS1PrivateKey(block.Bytes)
}

// makeKey writes a new key to a temporary file and links it into place,
// which fails if another process got there first: then its key is read.
func makeKey(path string) (*rsa.PrivateKey, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	der := x509.MarshalPKCS1PrivateKey(key)
	tmp, err := os.CreateTemp(filepath.Dir(path), ".key-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	if err := pem.Encode(tmp, &pem.Block{Type: "RSA PRIVATE KEY", Bytes: der}); err != nil {
		tmp.Close()
		return nil, err
	}
	if err := tmp.Close(); err != nil {
		return nil, err
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return readKey(path)
		}
		return nil, err
	}
	return key, nil
}

// Claims of a token to mint. Extra claims go in Extra: "groups" as a list,
// "scope" as a space-separated string, anything else.
type Claims struct {
	Subject  string
	Audience string        // DefaultAudience when ""
	TTL      time.Duration // DefaultTTL when 0; negative for a token already expired
	Extra    map[string]any
}

// Mint signs a token with the issuer's key.
func (iss *Issuer) Mint(c Claims, now time.Time) (string, error) {
	if c.Audience == "" {
		c.Audience = DefaultAudience
	}
	if c.TTL == 0 {
		c.TTL = DefaultTTL
	}
	claims := map[string]any{
		"iss": iss.URL, "sub": c.Subject, "aud": c.Audience,
		"iat": now.Add(-time.Minute).Unix(), "nbf": now.Add(-time.Minute).Unix(), "exp": now.Add(c.TTL).Unix(),
	}
	for k, v := range c.Extra { // tests override any claim
		claims[k] = v
	}
	return iss.Sign(claims)
}

// Sign signs claims as they are (tests use it for tokens Mint would not
// make).
func (iss *Issuer) Sign(claims map[string]any) (string, error) {
	header, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": iss.kid}) // strings always marshal
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	signing := b64(header) + "." + b64(payload)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(nil, iss.key, crypto.SHA256, sum[:])
	if err != nil {
		return "", err
	}
	return signing + "." + b64(sig), nil
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// JWKS is the issuer's public key set.
func (iss *Issuer) JWKS() []byte {
	pub := iss.key.PublicKey
	e := big.NewInt(int64(pub.E)).Bytes()
	body, _ := json.Marshal(map[string]any{"keys": []map[string]string{{ // strings always marshal
		"kty": "RSA", "alg": "RS256", "use": "sig", "kid": iss.kid, "n": b64(pub.N.Bytes()), "e": b64(e),
	}}})
	return body
}

// Paths the issuer serves.
const (
	DiscoveryPath = "/.well-known/openid-configuration"
	JWKSPath      = "/.well-known/jwks.json"
)

// Handler serves the discovery document and the JWKS.
func (iss *Issuer) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+DiscoveryPath, func(w http.ResponseWriter, _ *http.Request) {
		body, _ := json.Marshal(map[string]any{ // strings always marshal
			"issuer": iss.URL, "jwks_uri": iss.URL + JWKSPath, "id_token_signing_alg_values_supported": []string{"RS256"},
		})
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
	mux.HandleFunc("GET "+JWKSPath, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(iss.JWKS())
	})
	return mux
}
