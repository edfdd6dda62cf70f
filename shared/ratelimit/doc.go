// Package ratelimit bounds request rates per caller with a token bucket
// per caller key, kept in the function instance's memory: a caller gets at
// most the rate from each warm instance, so across N concurrent instances
// up to N times it (the function's reserved concurrency bounds N). Wrap
// puts it in front of an HTTP API handler, answering 429 with Retry-After.
package ratelimit
