// Package kinesisevent decodes the JSON payload AWS Lambda passes to a
// Kinesis-triggered function (what events.KinesisEvent models) into records
// with base64-decoded data, in a single pass with a few allocations per batch.
package kinesisevent
