// Package stats keeps the bus's own figures in the event store's table,
// written once per consumed batch (never per event): per-minute counts and
// latency sketches, all-time store size, the largest workflows, and each
// shard's last stored position; and it computes the snapshot GET /metrics
// serves: rates over 1/5/15 minutes, latency percentiles, store size and
// consumer lag per shard.
package stats
