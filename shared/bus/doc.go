// Package bus puts events on the Kinesis stream. It aggregates the events of
// one workflow into as few records as fit, keeps at most one record of a
// workflow in flight, and retries only what failed, so a workflow's order
// survives the partial failures PutRecords is allowed to have.
package bus
