// Package httpapi serves an API Gateway HTTP API locally, as
// `sam local start-api` does: it routes requests as API Gateway does, builds
// the payload format 2.0 event, invokes the route's Lambda function, and maps
// its answer (or its failure) to the HTTP response API Gateway would send.
package httpapi
