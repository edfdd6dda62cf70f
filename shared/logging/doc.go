// Package logging builds the structured JSON logger every flowbus function
// uses: log/slog with the function name and, inside an invocation, the
// Lambda request id on every line. Event payloads are never logged.
package logging
