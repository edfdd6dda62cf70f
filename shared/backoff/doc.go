// Package backoff is the one way flowbus waits between retries: full-jitter
// exponential delays and a sleep that ends with its context.
package backoff
