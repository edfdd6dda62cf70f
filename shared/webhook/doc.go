// Package webhook delivers one flowbus event to an HTTP endpoint: CloudEvents
// over HTTP (binary mode by default, structured on request), signed per
// Standard Webhooks 1.0, behind an SSRF guard that checks every address
// actually dialled, with the optional CloudEvents abuse-protection handshake.
// Each delivery answers a Result whose Outcome tells the delivery engine what
// to do next: done, retry (with Retry-After), dead-letter, or disable.
package webhook
