// Package apigw translates between API Gateway HTTP API (payload v2) requests
// and flowbus: request bodies, content types, JSON answers and RFC 9457
// problem details, mapped from errors in one place.
package apigw
