// Package delivery delivers routed events to their subscriptions' targets:
// each message of the delivery FIFO queue (one per subscription and event,
// grouped by subscription/workflow, written by shared/route) is delivered
// in group order to an http, bus, lambda, sqs, kinesis or eventbridge target;
// a failure holds back its group with a backoff, an exhausted or permanent
// one goes to the subscription's dead-letter entries, which redrive sends
// back to the queue in order. It also keeps the per-subscription figures
// GET /subscriptions/{name} shows.
package delivery
