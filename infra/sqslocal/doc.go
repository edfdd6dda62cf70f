// Package sqslocal is an in-memory Amazon SQS engine for local runs and tests:
// an http.Handler that speaks the AWS JSON 1.0 protocol the AWS SDK for Go v2
// uses (X-Amz-Target: AmazonSQS.<Operation>), with standard queues, visibility
// timeouts, long polling, batches, redrive to a dead-letter queue and the MD5
// checksums the SDKs verify. FIFO queues are refused.
package sqslocal
