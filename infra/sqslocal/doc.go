// Package sqslocal is an in-memory Amazon SQS engine for local runs and tests:
// an http.Handler that speaks the AWS JSON 1.0 protocol the AWS SDK for Go v2
// uses (X-Amz-Target: AmazonSQS.<Operation>), with standard and FIFO queues
// (message groups received in order and one in-flight batch per group,
// deduplication within five minutes, sequence numbers), visibility timeouts,
// long polling, batches, redrive to a dead-letter queue and the MD5 checksums
// the SDKs verify.
package sqslocal
