// Package template reads template.yaml, the SAM template flowbus deploys
// with, into what the local runtime needs: the functions (code, environment,
// memory, timeout), the HTTP API routes, the Kinesis event source mappings
// and the stream, table and queue — so what runs locally is what deploys.
package template
