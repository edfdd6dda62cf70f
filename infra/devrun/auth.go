package devrun

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/flowbus/flowbus/infra/httpapi"
	"github.com/flowbus/flowbus/infra/jwtlocal"
	"github.com/flowbus/flowbus/infra/template"
)

// DevAdmin is the subject of the token Token gives: the default caller of
// make dev, a bootstrap admin (Admins) unless the parameters name others.
const DevAdmin = "flowbus-dev"

// IssuerFile, in the issuer's folder, holds the running issuer's URL, for
// make token (cmd/token) to mint tokens it accepts.
const IssuerFile = "issuer-url"

// issuer is the runtime's local JWT issuer, served on loopback.
type issuer struct {
	*jwtlocal.Issuer
	server *http.Server
	token  string // DevAdmin's
}

// startIssuer starts the local JWT issuer on a free loopback port and sets
// the template parameters that make the HTTP API's authorizer a JWT
// authorizer of it (AuthorizerType, JwtIssuer) and DevAdmin an admin
// (Admins), unless the options set them. Under the local runtime every
// authorized route checks tokens as API Gateway's JWT authorizer does,
// including the routes AWS_IAM authorizes on AWS (SigV4 is not emulated).
func startIssuer(opts *Options) (*issuer, error) {
	dir := opts.IssuerDir
	ln, err := listenIssuer(dir)
	if err != nil {
		return nil, fmt.Errorf("local issuer: %w", err)
	}
	url := "http://" + ln.Addr().String()
	iss, err := jwtlocal.Open(dir, url)
	if err != nil {
		ln.Close()
		return nil, err
	}
	params := maps.Clone(opts.Parameters)
	if params == nil {
		params = map[string]string{}
	}
	for k, v := range map[string]string{"AuthorizerType": "JwtAuthorizer", "JwtIssuer": url, "Admins": subPrincipal(DevAdmin)} {
		if _, set := params[k]; !set {
			params[k] = v
		}
	}
	opts.Parameters = params
	tok, err := iss.Mint(jwtlocal.Claims{Subject: DevAdmin}, time.Now())
	if err != nil {
		ln.Close()
		return nil, err
	}
	is := &issuer{Issuer: iss, token: tok, server: &http.Server{Handler: iss.Handler(), ReadHeaderTimeout: 10 * time.Second}}
	go func() { _ = is.server.Serve(ln) }() // ends with Close
	// The latest runtime's issuer is the one make token mints for.
	_ = os.WriteFile(filepath.Join(dir, IssuerFile), []byte(url+"\n"), 0o600)
	return is, nil
}

// listenIssuer listens where the folder's last issuer did, when that
// address is free, so that its tokens (FLOWBUS_TOKEN, make token's) stay
// valid across restarts of make dev; else on a free loopback port.
func listenIssuer(dir string) (net.Listener, error) {
	if raw, err := os.ReadFile(filepath.Join(dir, IssuerFile)); err == nil {
		addr := strings.TrimPrefix(strings.TrimSpace(string(raw)), "http://")
		if host, _, err := net.SplitHostPort(addr); err == nil && host == "127.0.0.1" {
			if ln, err := net.Listen("tcp", addr); err == nil {
				return ln, nil
			}
		}
	}
	return net.Listen("tcp", "127.0.0.1:0")
}

func subPrincipal(subject string) string { return "sub:" + subject }

func (is *issuer) close() {
	if is == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = is.server.Shutdown(ctx)
}

// routeAuthorizers are the local HTTP API's authorizers by route key, from
// the template's: a JWT authorizer as configured, and the local issuer's in
// place of AWS_IAM.
func (r *Runtime) routeAuthorizers() (map[string]*httpapi.JWTAuthorizer, error) {
	auth, err := template.LoadAuth(r.opts.Template, r.opts.Parameters)
	if err != nil {
		return nil, err
	}
	byName := map[string]*httpapi.JWTAuthorizer{}
	out := map[string]*httpapi.JWTAuthorizer{}
	for key, name := range auth.Routes {
		if name == "" {
			continue
		}
		if _, ok := byName[name]; !ok {
			cfg, ok := auth.JWT[name]
			switch {
			case name == template.IAMAuthorizer:
				cfg = template.JWTAuthorizer{Issuer: r.issuer.URL, Audience: []string{jwtlocal.DefaultAudience}}
			case !ok:
				return nil, fmt.Errorf("route %s: authorizer %s is not a JWT authorizer of the template", key, name)
			}
			byName[name] = &httpapi.JWTAuthorizer{Issuer: cfg.Issuer, Audience: cfg.Audience}
		}
		out[key] = byName[name]
	}
	return out, nil
}

// Token is a token of DevAdmin from the runtime's issuer, valid for
// jwtlocal.DefaultTTL: what tests and make dev send as
// "Authorization: Bearer <token>" (FLOWBUS_TOKEN).
func (r *Runtime) Token() string { return r.issuer.token }

// Mint makes a token of the runtime's issuer with the given claims (tests
// of callers that are not admins, or of refused tokens).
func (r *Runtime) Mint(c jwtlocal.Claims) (string, error) {
	if r.issuer == nil {
		return "", errors.New("the runtime has no issuer")
	}
	return r.issuer.Mint(c, time.Now())
}

// IssuerURL is the local issuer's URL: the iss of its tokens.
func (r *Runtime) IssuerURL() string { return r.issuer.URL }

// Client is an HTTP client that sends Token (DevAdmin's) with every request
// that has no Authorization header of its own.
func (r *Runtime) Client() *http.Client {
	return &http.Client{Transport: bearer{token: r.Token(), base: http.DefaultTransport}}
}

// bearer adds "Authorization: Bearer <token>" to requests without one.
type bearer struct {
	token string
	base  http.RoundTripper
}

func (b bearer) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Header.Get("Authorization") != "" {
		return b.base.RoundTrip(req)
	}
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Bearer "+b.token)
	return b.base.RoundTrip(req)
}
