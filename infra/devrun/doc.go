// Package devrun is flowbus's local runtime: driven by template.yaml, it
// creates the stream, table and queue on the local engines (or LocalStack),
// runs every function's real bootstrap under the Lambda Runtime Interface
// Emulator, serves the HTTP API as sam local start-api does, and runs the
// Kinesis event source mappings the way Lambda does.
package devrun
