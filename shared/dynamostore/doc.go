// Package dynamostore is the DynamoDB event store. It uses only what real
// DynamoDB, LocalStack and dynalite all have (conditional UpdateItem,
// BatchWriteItem, BatchGetItem, Query; no transactions, no streams): a
// per-workflow lease on a head item, deterministic event keys, and a commit
// of the head that makes the written events visible, so every crash point
// between two writes is safe to retry.
package dynamostore
