package httpapi

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// JWTAuthorizer checks tokens as API Gateway's JWT authorizer does: the
// token from the Authorization header (with or without "Bearer "), an RSA
// signature (RS256) by a key of the issuer's JWKS, found through its
// discovery document, whose kid the token names; iss equal to Issuer; aud
// (or client_id when there is no aud) one of Audience; exp after now; nbf
// and iat before now. The claims go to the function in
// requestContext.authorizer.jwt, every value a string as API Gateway
// gives them.
type JWTAuthorizer struct {
	Issuer   string
	Audience []string
	Client   *http.Client // http.DefaultClient when nil
	// Now is the clock; time.Now when nil.
	Now func() time.Time

	mu      sync.Mutex
	keys    map[string]*rsa.PublicKey
	fetched time.Time
}

// keysFor is how long fetched keys are kept (API Gateway: up to two hours);
// an unknown kid fetches again at most every refetchAfter.
const (
	keysFor      = 2 * time.Hour
	refetchAfter = 10 * time.Second
)

// authError is why a token was refused; its text goes to the client.
type authError struct{ reason string }

func (e *authError) Error() string { return e.reason }

func refuse(format string, args ...any) error {
	return &authError{reason: fmt.Sprintf(format, args...)}
}

// jwtContext is requestContext.authorizer of a request a JWT authorizer let in.
type jwtContext struct {
	JWT struct {
		Claims map[string]string `json:"claims"`
		Scopes []string          `json:"scopes"` // null: routes name no authorization scopes
	} `json:"jwt"`
}

func (a *JWTAuthorizer) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// Authorize checks the request's token; an *authError says why it is
// refused, another error that the issuer's keys could not be had.
func (a *JWTAuthorizer) Authorize(ctx context.Context, authorization string) (*jwtContext, error) {
	token := strings.TrimSpace(authorization)
	if len(token) > 7 && strings.EqualFold(token[:7], "bearer ") {
		token = strings.TrimSpace(token[7:])
	}
	if token == "" {
		return nil, refuse("no token: send Authorization: Bearer <token>")
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, refuse("the token is not a JWT (three base64url parts)")
	}
	var header struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	rawHeader, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	rawClaims, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil || json.Unmarshal(rawHeader, &header) != nil {
		return nil, refuse("the token is not a JWT (three base64url parts)")
	}
	if header.Alg != "RS256" {
		return nil, refuse("the token's alg %q is not RS256 (only RSA-based algorithms are taken)", header.Alg)
	}
	key, err := a.key(ctx, header.Kid)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(key, crypto.SHA256, sum[:], sig) != nil {
		return nil, refuse("the token's signature does not verify")
	}
	var claims map[string]any
	dec := json.NewDecoder(strings.NewReader(string(rawClaims)))
	dec.UseNumber()
	if err := dec.Decode(&claims); err != nil || claims == nil {
		return nil, refuse("the token's claims are not a JSON object")
	}
	if err := a.check(claims); err != nil {
		return nil, err
	}
	out := &jwtContext{}
	out.JWT.Claims = make(map[string]string, len(claims))
	for k, v := range claims {
		out.JWT.Claims[k] = claimString(v)
	}
	return out, nil
}

func (a *JWTAuthorizer) check(claims map[string]any) error {
	if iss, _ := claims["iss"].(string); iss != a.Issuer {
		return refuse("the token's issuer is not %s", a.Issuer)
	}
	var auds []string
	switch aud := claims["aud"].(type) {
	case string:
		auds = []string{aud}
	case []any:
		for _, v := range aud {
			if s, ok := v.(string); ok {
				auds = append(auds, s)
			}
		}
	case nil:
		if id, ok := claims["client_id"].(string); ok {
			auds = []string{id}
		}
	}
	if !slices.ContainsFunc(auds, func(s string) bool { return slices.Contains(a.Audience, s) }) {
		return refuse("the token's audience is not one of %s", strings.Join(a.Audience, ", "))
	}
	now := a.now().Unix()
	exp, ok := numeric(claims["exp"])
	if !ok {
		return refuse("the token has no exp")
	}
	if now >= exp {
		return refuse("the token has expired")
	}
	if nbf, ok := numeric(claims["nbf"]); ok && now < nbf {
		return refuse("the token is not valid yet (nbf)")
	}
	if iat, ok := numeric(claims["iat"]); ok && now < iat {
		return refuse("the token was issued in the future (iat)")
	}
	return nil
}

func numeric(v any) (int64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	if i, err := n.Int64(); err == nil {
		return i, true
	}
	f, err := n.Float64()
	return int64(f), err == nil
}

// claimString writes a claim as API Gateway passes it: strings as they
// are, numbers and booleans as JSON, an array as "[a b]", an object as JSON.
func claimString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []any:
		parts := make([]string, len(v))
		for i, x := range v {
			parts[i] = claimString(x)
		}
		return "[" + strings.Join(parts, " ") + "]"
	case json.Number:
		return v.String()
	case bool:
		return strconv.FormatBool(v)
	case nil:
		return ""
	}
	b, _ := json.Marshal(v) // decoded JSON always marshals
	return string(b)
}

// key is the issuer's key kid, fetching the JWKS when it is not known.
func (a *JWTAuthorizer) key(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	if kid == "" {
		return nil, refuse("the token's header has no kid")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	if k, ok := a.keys[kid]; ok && now.Sub(a.fetched) < keysFor {
		return k, nil
	}
	if a.keys != nil && now.Sub(a.fetched) < refetchAfter {
		return nil, refuse("the token's kid is not a key of the issuer")
	}
	keys, err := a.fetch(ctx)
	if err != nil {
		return nil, err
	}
	a.keys, a.fetched = keys, now
	if k, ok := keys[kid]; ok {
		return k, nil
	}
	return nil, refuse("the token's kid is not a key of the issuer")
}

var errIssuerUnavailable = errors.New("the issuer's keys are unavailable")

func (a *JWTAuthorizer) fetch(ctx context.Context) (map[string]*rsa.PublicKey, error) {
	var disc struct {
		JWKSURI string `json:"jwks_uri"`
	}
	if err := a.getJSON(ctx, strings.TrimRight(a.Issuer, "/")+"/.well-known/openid-configuration", &disc); err != nil {
		return nil, err
	}
	var set struct {
		Keys []struct {
			Kty, Kid, N, E string
		} `json:"keys"`
	}
	if err := a.getJSON(ctx, disc.JWKSURI, &set); err != nil {
		return nil, err
	}
	keys := map[string]*rsa.PublicKey{}
	for _, k := range set.Keys {
		n, err1 := base64.RawURLEncoding.DecodeString(k.N)
		e, err2 := base64.RawURLEncoding.DecodeString(k.E)
		if k.Kty != "RSA" || k.Kid == "" || err1 != nil || err2 != nil || len(e) > 4 {
			continue
		}
		keys[k.Kid] = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	}
	return keys, nil
}

func (a *JWTAuthorizer) getJSON(ctx context.Context, url string, v any) error {
	client := a.Client
	if client == nil {
		client = http.DefaultClient
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", errIssuerUnavailable, url, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %w", errIssuerUnavailable, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: %s answered %s", errIssuerUnavailable, url, resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v); err != nil {
		return fmt.Errorf("%w: %s: %w", errIssuerUnavailable, url, err)
	}
	return nil
}
