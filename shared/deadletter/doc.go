// Package deadletter brings back what the consumer's Kinesis event source
// mapping gave up on: it reads an on-failure record (positions only, no
// events), reads those records back from the stream, decodes them as the
// consumer does and parks them in the event store under their workflows, so
// that nothing sent to the on-failure destination is lost.
package deadletter
