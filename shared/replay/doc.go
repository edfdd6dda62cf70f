// Package replay puts stored events back on a stream, in their original
// order per workflow and marked as replayed: one workflow at a time, or every
// workflow in a time window, with progress checkpointed in DynamoDB so a
// replay that outlives one Lambda invocation resumes where it stopped.
package replay
