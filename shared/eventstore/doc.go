// Package eventstore defines the event store every flowbus handler reads and
// writes: each workflow's history at gap-free positions 1, 2, 3, … assigned
// in stream order, idempotent appends, paginated reads, and the parking of a
// workflow whose next record cannot be stored.
package eventstore
