// Package testenv gives integration tests the AWS engines make test starts
// (kinesis-mock and dynalite, or LocalStack): an SDK config from the standard
// endpoint variables, and uniquely named streams and tables removed when the
// test ends.
package testenv
