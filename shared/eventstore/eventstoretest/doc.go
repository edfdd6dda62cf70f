// Package eventstoretest is the contract every eventstore.Store
// implementation passes: Run(t, newStore) checks order, gap-free positions,
// idempotency, reads and paging, parking and resuming, through the
// interface alone.
package eventstoretest
