package template

import (
	"fmt"
	"os"
	"strings"
)

// IAMAuthorizer is the authorizer name of IAM (SigV4) authorization.
const IAMAuthorizer = "AWS_IAM"

// Auth is how a template's HTTP API authenticates its routes: the
// authorizer of each route, and the JWT authorizers' configuration.
type Auth struct {
	// Routes maps a route key ("POST /events") to its authorizer's name:
	// IAMAuthorizer, a key of JWT, or "" for none.
	Routes map[string]string
	JWT    map[string]JWTAuthorizer
}

// JWTAuthorizer is a JWT authorizer's JwtConfiguration.
type JWTAuthorizer struct {
	Issuer   string
	Audience []string
}

// LoadAuth reads the template's HTTP API authorization as SAM builds it:
// an AWS::Serverless::HttpApi's Auth (DefaultAuthorizer, Authorizers,
// EnableIamAuthorizer) for the routes whose ApiId names it, Globals
// HttpApi Auth for the implicit API, a route's own Auth.Authorizer (NONE
// for none) over either.
func LoadAuth(path string, overrides map[string]string) (*Auth, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read template: %w", err)
	}
	doc, err := Resolve(raw, overrides)
	if err != nil {
		return nil, fmt.Errorf("template %s: %w", path, err)
	}
	a := &Auth{Routes: map[string]string{}, JWT: map[string]JWTAuthorizer{}}
	type api struct{ def string }
	apis := map[string]api{}
	readAuth := func(auth map[string]any) api {
		authorizers, _ := auth["Authorizers"].(map[string]any)
		for name, v := range authorizers {
			cfg, _ := v.(map[string]any)
			jwt, _ := cfg["JwtConfiguration"].(map[string]any)
			if jwt == nil {
				continue
			}
			j := JWTAuthorizer{Issuer: str(jwt["issuer"])}
			switch aud := jwt["audience"].(type) {
			case []any:
				for _, x := range aud {
					j.Audience = append(j.Audience, str(x))
				}
			case string:
				j.Audience = strings.Split(aud, ",")
			}
			a.JWT[name] = j
		}
		return api{def: str(auth["DefaultAuthorizer"])}
	}
	globals, _ := section(doc, "Globals")["HttpApi"].(map[string]any)
	implicit := api{}
	if auth, ok := globals["Auth"].(map[string]any); ok {
		implicit = readAuth(auth)
	}
	resources := section(doc, "Resources")
	for id, r := range resources {
		res, _ := r.(map[string]any)
		if res["Type"] != "AWS::Serverless::HttpApi" {
			continue
		}
		props, _ := res["Properties"].(map[string]any)
		auth, _ := props["Auth"].(map[string]any)
		apis[id] = readAuth(auth)
	}
	for _, r := range resources {
		res, _ := r.(map[string]any)
		if res["Type"] != "AWS::Serverless::Function" {
			continue
		}
		props, _ := res["Properties"].(map[string]any)
		evs, _ := props["Events"].(map[string]any)
		for _, e := range evs {
			ev, _ := e.(map[string]any)
			if ev["Type"] != "HttpApi" {
				continue
			}
			p, _ := ev["Properties"].(map[string]any)
			which := implicit
			if id := apiID(p["ApiId"]); id != "" {
				which = apis[id]
			}
			name := which.def
			if auth, ok := p["Auth"].(map[string]any); ok && str(auth["Authorizer"]) != "" {
				name = str(auth["Authorizer"])
			}
			if name == "NONE" {
				name = ""
			}
			a.Routes[strings.ToUpper(str(p["Method"]))+" "+str(p["Path"])] = name
		}
	}
	return a, nil
}

// apiID is the logical id an HttpApi event's ApiId names: Ref resolves it
// to the id itself (an HttpApi has no name property).
func apiID(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case map[string]any:
		return str(v["Ref"])
	}
	return ""
}
