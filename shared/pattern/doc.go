// Package pattern is the EventBridge event-pattern language of flowbus: it
// compiles a pattern (exact values, prefix, suffix, equals-ignore-case,
// anything-but, numeric, exists, null and empty, wildcard, cidr, $or) and
// matches it against any decoded JSON document, such as a CloudEvent.
// Lambda mode accepts only what Lambda event filtering accepts, for the event
// source mapping emulation. A Matcher indexes many named patterns so that
// matching one event costs what its candidate patterns cost, not what all do.
package pattern
