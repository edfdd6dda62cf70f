// Package loadgen drives flowbus through its HTTP API and proves what it
// stored: publishers that remember every acknowledged event in the order it
// was acknowledged per workflow, and a checker that reads the event store
// straight from DynamoDB and reports each event missing, stored twice or out
// of order, each gap in positions and each parked workflow. make load and
// make faults are built on it.
package loadgen
