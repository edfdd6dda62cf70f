// Package sqsesm emulates the AWS Lambda event source mapping for Amazon SQS:
// pollers long-poll a queue, gather batches (batch size, batching window,
// the 6 MB payload limit), filter on the body, invoke a function with the
// event Lambda sends, and delete what the function handled — everything on
// success, all but the reported batchItemFailures with partial batch
// responses, nothing on a function error, so the rest reappears after the
// visibility timeout and the queue's redrive policy applies. On a FIFO queue
// the records carry MessageGroupId, MessageDeduplicationId and SequenceNumber
// attributes, and what the function reports failed comes back in order; a
// function that reports a failure but not the later messages of the same
// group breaks the group's order, as on AWS, and the mapping logs it.
package sqsesm
