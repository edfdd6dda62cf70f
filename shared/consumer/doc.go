// Package consumer turns a Lambda Kinesis batch into event store appends:
// it de-aggregates records, stores each workflow strictly in order while
// workflows run side by side, reports transient failures as partial batch
// failures, and parks a workflow whose record can never be stored instead of
// blocking its shard.
package consumer
