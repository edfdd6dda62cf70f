// Package ingest is the publish path: it reads a request body in any of the
// accepted shapes, validates each event, gives it an id and a time, refuses
// what would not fit a Kinesis record, and puts the rest on the stream,
// answering one entry per event in request order.
package ingest
