package eventstore

import "time"

// GivenUp says why and when the stream's event source mapping gave records
// up: it sent their positions to its on-failure destination instead of
// delivering them to the consumer.
type GivenUp struct {
	// Condition is the on-failure record's condition: RetryAttemptsExhausted
	// or RecordAgeExceeded.
	Condition string
	// At is when the mapping gave up (the on-failure record's timestamp).
	// Events of the workflow stored from then on came from later records.
	At time.Time
}

// Reason is the parked entries' reason for records given up on.
func (g GivenUp) Reason() string {
	return "given up on by the event source mapping: " + g.Condition
}

// UndeliveredResult counts what parking given-up entries did.
type UndeliveredResult struct {
	Parked        int // entries parked now, in stream order
	Duplicates    int // entries whose events the workflow holds already: not parked
	AlreadyParked int // entries parked by an earlier run (the same on-failure record again)
	// LaterStored is how many events of the workflow from later records were
	// stored before these could be; when it is not 0, the Parked entries
	// will come after them once resumed: their order is broken.
	LaterStored int
	OrderBroken int // entries parked behind LaterStored events
}
