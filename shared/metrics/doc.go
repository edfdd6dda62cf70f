// Package metrics is flowbus's observability core: a Recorder that collects
// one invocation's counters and latencies and writes them as CloudWatch
// Embedded Metric Format log lines, a small mergeable latency Sketch for
// percentiles, and an encoder for the Prometheus text exposition format.
package metrics
