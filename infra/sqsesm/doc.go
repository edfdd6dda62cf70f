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
//
// A mapping starts 5 pollers (Lambda's number) and adds one, at Lambda's
// pace of 300 a minute, while every poller is in an invocation and the last
// receive returned messages (a backlog, as Lambda scales on), up to
// MaximumConcurrency (or LocalMaxConcurrency); a poller whose receive comes
// back empty retires while more than 5 run (docs/design.md, "The local
// runtime").
package sqsesm
