// Package subscriber turns a function of one event into a Lambda handler for
// a Kinesis event source mapping on flowbus's bus stream: it decodes every
// record (one CloudEvent or a batch of one workflow), hands the events to the
// function in per-workflow order, workflows side by side, and reports a
// failed workflow's record in batchItemFailures so that Lambda retries it from
// there, with optional per-event filtering, replay skipping and a DynamoDB
// idempotency store.
package subscriber
