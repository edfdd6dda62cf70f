// Package jsonscan is a small allocation-free JSON reader and writer for the
// hot paths of flowbus: it walks objects key by key, returns values as slices
// of the input, and validates what it skips, so decoding an event costs what
// the fields it keeps cost and no more.
package jsonscan
