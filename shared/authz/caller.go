package authz

import (
	"encoding/json"
	"strings"

	"github.com/aws/aws-lambda-go/events"
)

// Principal prefixes of a JWT caller; an IAM caller's principal is its ARN.
const (
	SubPrefix   = "sub:"   // sub:<the token's sub claim>
	GroupPrefix = "group:" // group:<each of the groups or cognito:groups claims>
	ScopePrefix = "scope:" // scope:<each scope of the scope or scp claim>
)

// Caller is who made a request, as the API's authorizer told it.
type Caller struct {
	// ID names the caller in logs and answers: "sub:alice" or an IAM ARN;
	// "" for an anonymous caller (a route without an authorizer).
	ID string
	// Principals are every principal the caller is: its ID, and for a JWT
	// caller its groups and scopes.
	Principals []string
}

// Anonymous tells whether no authorizer identified the caller.
func (c Caller) Anonymous() bool { return c.ID == "" }

// CallerOf reads the caller from a payload format 2.0 request context: an
// IAM authorizer's userArn, or a JWT authorizer's claims (API Gateway gives
// every claim as a string; an array claim as "[a b]") and scopes.
func CallerOf(rc events.APIGatewayV2HTTPRequestContext) Caller {
	a := rc.Authorizer
	if a == nil {
		return Caller{}
	}
	if a.IAM != nil && a.IAM.UserARN != "" {
		return Caller{ID: a.IAM.UserARN, Principals: []string{a.IAM.UserARN}}
	}
	if a.JWT == nil || a.JWT.Claims["sub"] == "" {
		return Caller{}
	}
	c := Caller{ID: SubPrefix + a.JWT.Claims["sub"]}
	c.Principals = append(c.Principals, c.ID)
	for _, claim := range []string{"groups", "cognito:groups"} {
		for _, g := range listClaim(a.JWT.Claims[claim]) {
			c.Principals = appendNew(c.Principals, GroupPrefix+g)
		}
	}
	scopes := append([]string(nil), a.JWT.Scopes...)
	for _, claim := range []string{"scope", "scp"} {
		scopes = append(scopes, listClaim(a.JWT.Claims[claim])...)
	}
	for _, s := range scopes {
		c.Principals = appendNew(c.Principals, ScopePrefix+s)
	}
	return c
}

// listClaim splits a claim API Gateway flattened to a string: "[a b]" (an
// array), a JSON array, or a space- or comma-separated list ("a b" is how
// a scope claim is written).
func listClaim(v string) []string {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil
	}
	if strings.HasPrefix(v, "[\"") {
		var list []string
		if json.Unmarshal([]byte(v), &list) == nil {
			return list
		}
	}
	v = strings.TrimSuffix(strings.TrimPrefix(v, "["), "]")
	return strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == ',' })
}

func appendNew(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}
