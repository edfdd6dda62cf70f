package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/flowbus/flowbus/infra/httpapi"
	"github.com/flowbus/flowbus/infra/jwtlocal"
	"github.com/flowbus/flowbus/shared/apigw"
)

func TestJWTAuthorizer(t *testing.T) {
	dir := t.TempDir()
	srv := httptest.NewServer(nil)
	defer srv.Close()
	iss, err := jwtlocal.Open(dir, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = iss.Handler()
	other, err := jwtlocal.Open(t.TempDir(), srv.URL) // same issuer name, another key
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	mint := func(i *jwtlocal.Issuer, c jwtlocal.Claims) string {
		tok, err := i.Mint(c, now)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	valid := mint(iss, jwtlocal.Claims{Subject: "alice", Extra: map[string]any{"groups": []string{"ops", "dev"}, "scope": "a b"}})
	fn := answer(`{}`)
	h := newAPI(t, httpapi.Route{Method: "GET", Path: "/metrics", Function: fn,
		Authorizer: &httpapi.JWTAuthorizer{Issuer: srv.URL, Audience: []string{"flowbus"}}})
	tests := []struct {
		name, header, reason string
	}{
		{"no token", "", "no token"},
		{"malformed", "Bearer not-a-jwt", "not a JWT"},
		{"expired", "Bearer " + mint(iss, jwtlocal.Claims{Subject: "a", TTL: -time.Minute}), "expired"},
		{"another audience", "Bearer " + mint(iss, jwtlocal.Claims{Subject: "a", Audience: "other"}), "audience"},
		{"another issuer", "Bearer " + mint(iss, jwtlocal.Claims{Subject: "a", Extra: map[string]any{"iss": "https://elsewhere.example"}}), "issuer"},
		{"not yet valid", "Bearer " + mint(iss, jwtlocal.Claims{Subject: "a", Extra: map[string]any{"nbf": now.Add(time.Hour).Unix()}}), "nbf"},
		{"no exp", "Bearer " + mint(iss, jwtlocal.Claims{Subject: "a", Extra: map[string]any{"exp": nil}}), "exp"},
		{"signed by another key", "Bearer " + mint(other, jwtlocal.Claims{Subject: "a"}), "kid"},
		{"tampered claims", "Bearer " + tamper(valid), "signature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "http://api.example.com/metrics", nil)
			if tt.header != "" {
				r.Header.Set("Authorization", tt.header)
			}
			w := serve(h, r)
			var p apigw.Problem
			_ = json.Unmarshal(w.Body.Bytes(), &p)
			if w.Code != http.StatusUnauthorized || w.Header().Get("Content-Type") != apigw.ContentTypeProblem || p.Type != apigw.TypeUnauthorized {
				t.Fatalf("got %d %s %s, want 401 problem+json", w.Code, w.Header().Get("Content-Type"), w.Body)
			}
			if !strings.Contains(p.Detail, tt.reason) || !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Bearer ") {
				t.Errorf("detail %q, WWW-Authenticate %q; want the reason %q", p.Detail, w.Header().Get("WWW-Authenticate"), tt.reason)
			}
		})
	}
	for _, header := range []string{"Bearer " + valid, valid} { // API Gateway takes the token with or without "Bearer "
		r := httptest.NewRequest("GET", "http://api.example.com/metrics", nil)
		r.Header.Set("Authorization", header)
		if w := serve(h, r); w.Code != http.StatusOK {
			t.Fatalf("a valid token: %d %s", w.Code, w.Body)
		}
		_, generic := fn.last(t)
		jwt := generic["requestContext"].(map[string]any)["authorizer"].(map[string]any)["jwt"].(map[string]any)
		claims := jwt["claims"].(map[string]any)
		if claims["sub"] != "alice" || claims["groups"] != "[ops dev]" || claims["scope"] != "a b" || claims["aud"] != "flowbus" {
			t.Errorf("claims %v: want every claim a string, arrays as API Gateway writes them", claims)
		}
		if _, ok := claims["exp"].(string); !ok {
			t.Errorf("exp %v: want a string", claims["exp"])
		}
		if s, ok := jwt["scopes"]; !ok || s != nil {
			t.Errorf("scopes %v: want null, as API Gateway sends for a route without authorization scopes", s)
		}
	}
}

// tamper changes the token's claims and keeps its signature.
func tamper(tok string) string {
	parts := strings.Split(tok, ".")
	parts[1] = parts[1][:len(parts[1])-2] + "AA"
	return strings.Join(parts, ".")
}
