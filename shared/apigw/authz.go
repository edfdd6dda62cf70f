package apigw

import (
	"context"
	"errors"

	"github.com/aws/aws-lambda-go/events"

	"github.com/flowbus/flowbus/shared/authz"
)

// Authorize checks that the request's caller may do every request of rs:
// nil when it may, else the problem to answer (401 for no caller, 403 for a
// refusal, 503 when the policy cannot be read). A nil authorizer checks
// nothing: handler unit tests that are not about authorization.
func Authorize(ctx context.Context, a *authz.Authorizer, req *events.APIGatewayV2HTTPRequest, rs ...authz.Request) *Problem {
	if a == nil {
		return nil
	}
	if err := a.Check(ctx, authz.CallerOf(req.RequestContext), rs...); err != nil {
		p := AuthzProblem(err)
		return &p
	}
	return nil
}

// AuthzProblem maps an authorization error to its answer, in one place.
func AuthzProblem(err error) Problem {
	var denied *authz.DeniedError
	switch {
	case errors.Is(err, authz.ErrAnonymous):
		return Problem{Type: TypeUnauthorized, Title: "Unauthorized", Status: 401,
			Detail: "no caller identity: the route has no authorizer (IAM or JWT), and an anonymous caller is granted nothing"}
	case errors.As(err, &denied):
		return Problem{Type: TypeForbidden, Title: "Forbidden", Status: 403,
			Detail: denied.Error() + ": the policy does not grant it (docs/api.md \"Security\")"}
	}
	return Problem{Type: TypeUnavailable, Title: "Policy unavailable", Status: 503, Detail: "the authorization policy could not be read; try again"}
}
