// Package ingest is the publish path: it reads a request body in any of the
// accepted shapes, validates each event, gives it an id and a time, refuses
// what would not fit a Kinesis record, and puts the rest on the stream,
// answering one entry per event in request order. It answers in its own
// terms, an Outcome or an error (errors.go); apigw maps both to HTTP.
package ingest
