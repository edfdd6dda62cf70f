// Package jsonscan is the one JSON tokenizer of flowbus: a small
// allocation-free reader (and a string writer) for the hot paths. It walks
// objects key by key, returns values as slices of the input, and validates
// what it skips, so decoding costs what the fields kept cost and no more.
// With zero Options it accepts and reads exactly what encoding/json does
// (FuzzScanner holds it to that); every decoder in flowbus reads through it.
package jsonscan
