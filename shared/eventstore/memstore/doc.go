// Package memstore is an event store in memory, for fast unit tests: it
// passes the same eventstoretest contract as the DynamoDB store, and keeps
// nothing once the process ends.
package memstore
