package template

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLoadAuth(t *testing.T) {
	// template.yaml: every route takes the API's default authorizer, the
	// AuthorizerType parameter.
	for _, tt := range []struct {
		params map[string]string
		want   string
	}{{nil, IAMAuthorizer}, {map[string]string{"AuthorizerType": "JwtAuthorizer"}, "JwtAuthorizer"}} {
		a, err := LoadAuth("../../template.yaml", tt.params)
		if err != nil {
			t.Fatal(err)
		}
		for key, name := range a.Routes {
			if name != tt.want {
				t.Errorf("%v: route %s has authorizer %q, want %q", tt.params, key, name, tt.want)
			}
		}
		if len(a.Routes) == 0 {
			t.Fatal("no routes")
		}
		if diff := cmp.Diff(a.JWT["JwtAuthorizer"], JWTAuthorizer{Issuer: "https://example.invalid/", Audience: []string{"flowbus"}}); diff != "" {
			t.Errorf("JwtAuthorizer (-got +want):\n%s", diff)
		}
	}
	// The implicit API takes Globals HttpApi Auth; a route's own Auth wins.
	doc := `
Globals:
  HttpApi:
    Auth:
      DefaultAuthorizer: Jwt
      Authorizers:
        Jwt:
          JwtConfiguration: {issuer: "http://127.0.0.1:1", audience: [a, b]}
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn
      Events:
        Open: {Type: HttpApi, Properties: {Method: get, Path: /open, Auth: {Authorizer: NONE}}}
        Closed: {Type: HttpApi, Properties: {Method: POST, Path: /closed}}
`
	path := filepath.Join(t.TempDir(), "template.yaml")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := LoadAuth(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := &Auth{Routes: map[string]string{"GET /open": "", "POST /closed": "Jwt"},
		JWT: map[string]JWTAuthorizer{"Jwt": {Issuer: "http://127.0.0.1:1", Audience: []string{"a", "b"}}}}
	if diff := cmp.Diff(a, want); diff != "" {
		t.Errorf("LoadAuth (-got +want):\n%s", diff)
	}
}
