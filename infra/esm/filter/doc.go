// Package filter compiles and matches the JSON filter patterns of AWS Lambda
// event filtering (the FilterCriteria of an event source mapping), which use
// the EventBridge pattern syntax: exact values, prefix, suffix,
// equals-ignore-case, anything-but, numeric, exists, null and empty, and $or.
// A pattern is compiled once and matched against decoded JSON documents.
package filter
