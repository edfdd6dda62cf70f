// Package event defines the flowbus event: a CloudEvents 1.0 envelope that
// also accepts the simple shape workflow tools send, with field-level
// validation, the limits Kinesis imposes, sortable id generation and a fast
// JSON codec for the structured and batch modes.
package event
