// Package route hands the bus's events to subscriptions: it matches every
// event of a Kinesis batch against the enabled subscriptions' patterns and
// sends one message per (subscription, event) to the delivery FIFO queue,
// in stream order per (subscription, workflow) — the queue's message group —
// so a failing target holds back only its own pair.
package route
