// Package schema is flowbus's schema registry: for each event type and
// schema version, a validator for data, and upcasters that turn version N
// data into N+1, so publish refuses data that does not match its version and
// readers can ask for every event at the latest version while the store keeps
// what was written.
package schema
