// Package esm emulates the AWS Lambda event source mapping for Kinesis: it
// polls each shard (parents before children), batches, filters and invokes a
// function with the event Lambda sends, applies Lambda's retry, bisection,
// partial batch response, record age and parallelization rules, sends what it
// gives up on to an on-failure destination, and checkpoints every shard.
package esm
