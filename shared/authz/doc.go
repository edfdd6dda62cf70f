// Package authz decides what a caller of the HTTP API may do. API Gateway
// authenticates (IAM or a JWT authorizer, and the local HTTP API as its JWT
// authorizer would) and puts the caller in the request context; CallerOf
// reads it, and a Policy, kept in the table under table.PolicyPK and cached
// briefly (Authorizer), maps the caller's principals to grants: publish with
// which sources and workflow ids, read and replay which workflows and types,
// manage and redrive which subscriptions, see the metrics, administer the
// policy. Anything not granted is denied. docs/api.md "Security" is the
// reference.
package authz
