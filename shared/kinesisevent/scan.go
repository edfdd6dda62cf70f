package kinesisevent

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"
	"unicode/utf16"
	"unicode/utf8"
)

// maxDepth is the deepest nesting of objects and arrays accepted, the same
// limit encoding/json applies.
const maxDepth = 10000

// SyntaxError reports malformed JSON, or a value of the wrong JSON type for a
// field the decoder reads, at a byte offset of the payload.
type SyntaxError struct {
	Offset   int    // byte offset in the payload
	Expected string // what the decoder expected there
	Found    string // what it found instead
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("offset %d: expected %s, found %s", e.Offset, e.Expected, e.Found)
}

// span is the raw content of a JSON string (between the quotes) in the payload.
type span struct {
	start, end int
	set        bool // the field was present with a string value
	// plain: the raw bytes are the decoded string (no escapes, valid UTF-8).
	// For data strings scanned by scanData it only means "no backslash".
	plain bool
}

type scanner struct {
	buf    []byte
	pos    int
	depth  int
	keyBuf []byte // decoded keys that had escapes
}

func (s *scanner) errAt(off int, expected string) error {
	return &SyntaxError{Offset: off, Expected: expected, Found: s.describe(off)}
}

func (s *scanner) describe(off int) string {
	if off >= len(s.buf) {
		return "end of input"
	}
	c := s.buf[off]
	if c >= 0x20 && c < 0x7f {
		return fmt.Sprintf("%q", rune(c))
	}
	return fmt.Sprintf("byte 0x%02x", c)
}

func (s *scanner) skipWS() {
	buf, i := s.buf, s.pos
	for i < len(buf) {
		c := buf[i]
		if c > ' ' || (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
			break
		}
		i++
	}
	s.pos = i
}

// peek skips whitespace and returns the next byte, 0 at end of input.
func (s *scanner) peek() byte {
	for s.pos < len(s.buf) {
		c := s.buf[s.pos]
		if c > ' ' || (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
			return c
		}
		s.pos++
	}
	return 0
}

// enter consumes the opening '{' or '[' at s.pos.
func (s *scanner) enter() error {
	s.depth++
	if s.depth > maxDepth {
		return s.errAt(s.pos, fmt.Sprintf("nesting depth at most %d", maxDepth))
	}
	s.pos++
	return nil
}

// nextKey advances to the next member of the object being read: it returns
// the index of the member's key in known (-1 if it is not there) with s.pos
// at its value, or more == false after consuming the closing '}'. first is
// true for the first call after enter. The key is returned only when it is
// not in known.
func (s *scanner) nextKey(first bool, known []string, hint int) (idx int, key []byte, more bool, err error) {
	c := s.peek()
	if c == '}' {
		s.pos++
		s.depth--
		return -1, nil, false, nil
	}
	if !first {
		if c != ',' {
			return -1, nil, false, s.errAt(s.pos, "',' or '}' after object member")
		}
		s.pos++
		c = s.peek()
	}
	if c != '"' {
		if first {
			return -1, nil, false, s.errAt(s.pos, "'\"' starting object key or '}'")
		}
		return -1, nil, false, s.errAt(s.pos, "'\"' starting object key")
	}
	// Fast path: the key is spelled exactly as a known one (with no escapes,
	// so it needs no scanning). Try known[hint] first: members usually come
	// in the same order.
	idx = -1
	p := s.pos + 1
	if hint < len(known) && s.isKey(p, known[hint]) {
		idx = hint
	} else {
		for i, k := range known {
			if s.isKey(p, k) {
				idx = i
				break
			}
		}
	}
	if idx >= 0 {
		s.pos = p + len(known[idx]) + 1
	} else {
		sp, err := s.scanString()
		if err != nil {
			return -1, nil, false, err
		}
		key = s.buf[sp.start:sp.end]
		if !sp.plain {
			s.keyBuf = appendUnquoted(s.keyBuf[:0], key)
			key = s.keyBuf
		}
		for i, k := range known {
			if string(key) == k {
				idx = i
				break
			}
		}
	}
	if s.peek() != ':' {
		return -1, nil, false, s.errAt(s.pos, "':' after object key")
	}
	s.pos++
	s.skipWS()
	return idx, key, true, nil
}

// isKey reports whether the bytes at p are k and a closing quote.
func (s *scanner) isKey(p int, k string) bool {
	end := p + len(k)
	return end < len(s.buf) && s.buf[end] == '"' && string(s.buf[p:end]) == k
}

// nextElem advances to the next element of the array being read, or returns
// false after consuming the closing ']'.
func (s *scanner) nextElem(first bool) (bool, error) {
	c := s.peek()
	if c == ']' {
		s.pos++
		s.depth--
		return false, nil
	}
	if !first {
		if c != ',' {
			return false, s.errAt(s.pos, "',' or ']' after array element")
		}
		s.pos++
		s.skipWS()
	}
	return true, nil
}

// literal consumes word ("null", "true" or "false") at s.pos.
func (s *scanner) literal(word string) error {
	for i := 0; i < len(word); i++ {
		if s.pos+i >= len(s.buf) || s.buf[s.pos+i] != word[i] {
			return s.errAt(s.pos+i, fmt.Sprintf("%q", word))
		}
	}
	s.pos += len(word)
	return nil
}

// skipValue consumes any JSON value starting at s.pos (whitespace skipped).
func (s *scanner) skipValue() error {
	switch s.peek() {
	case '"':
		_, err := s.scanString()
		return err
	case '{':
		if err := s.enter(); err != nil {
			return err
		}
		for first := true; ; first = false {
			_, _, more, err := s.nextKey(first, nil, 0)
			if err != nil || !more {
				return err
			}
			if err := s.skipValue(); err != nil {
				return err
			}
		}
	case '[':
		if err := s.enter(); err != nil {
			return err
		}
		for first := true; ; first = false {
			more, err := s.nextElem(first)
			if err != nil || !more {
				return err
			}
			if err := s.skipValue(); err != nil {
				return err
			}
		}
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		_, _, err := s.scanNumber()
		return err
	}
	return s.errAt(s.pos, "JSON value")
}

// stringOrNull reads a string value, or null which leaves sp unchanged.
func (s *scanner) stringOrNull(sp *span) error {
	switch s.peek() {
	case '"':
		v, err := s.scanString()
		if err != nil {
			return err
		}
		*sp = v
		return nil
	case 'n':
		return s.literal("null")
	}
	return s.errAt(s.pos, "string or null")
}

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// special returns a mask with the high bit set in bytes of x (little endian)
// that may be a control character, '"' or '\\', and 0 if there are none.
// The lowest set bit is exact: the tests ("Determine if a word has a byte
// less than n" in Bit Twiddling Hacks) can be wrong only above a true match.
func special(x uint64) uint64 {
	q := x ^ (lsb * '"')
	b := x ^ (lsb * '\\')
	return ((x-lsb*0x20)&^x | (q-lsb)&^q | (b-lsb)&^b) & msb
}

// scanString consumes a string starting at the '"' at s.pos, validating
// escapes and rejecting raw control characters.
func (s *scanner) scanString() (span, error) {
	buf := s.buf
	start := s.pos + 1
	i := start
	var acc uint64 // OR of the bytes seen, to tell whether all are ASCII
	esc := false
	for {
		for i+8 <= len(buf) {
			x := binary.LittleEndian.Uint64(buf[i:])
			if m := special(x); m != 0 {
				n := bits.TrailingZeros64(m) >> 3 // bytes before the special one
				acc |= x & (1<<(n*8) - 1)
				i += n
				goto found
			}
			acc |= x
			i += 8
		}
		for i < len(buf) {
			c := buf[i]
			if c < 0x20 || c == '"' || c == '\\' {
				break
			}
			acc |= uint64(c)
			i++
		}
	found:
		if i >= len(buf) {
			return span{}, s.errAt(i, "'\"' ending string")
		}
		switch c := buf[i]; c {
		case '"':
			s.pos = i + 1
			plain := !esc && (acc&msb == 0 || utf8.Valid(buf[start:i]))
			return span{start: start, end: i, set: true, plain: plain}, nil
		case '\\':
			esc = true
			if i+1 >= len(buf) {
				return span{}, s.errAt(i+1, "escape character")
			}
			switch buf[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				for k := i + 2; k < i+6; k++ {
					if k >= len(buf) || unhex(buf[k]) < 0 {
						return span{}, s.errAt(k, "hexadecimal digit in \\u escape")
					}
				}
				i += 6
			default:
				return span{}, s.errAt(i+1, "escape character")
			}
		default:
			return span{}, s.errAt(i, "string character (control characters must be escaped)")
		}
	}
}

// scanData consumes the base64 data string at s.pos. Its content is not
// checked here when it has no backslash: base64 decoding later rejects every
// byte a JSON string may not hold raw (see decodeBase64).
func (s *scanner) scanData() (span, error) {
	start := s.pos + 1
	rest := s.buf[start:]
	if q := bytes.IndexByte(rest, '"'); q >= 0 && bytes.IndexByte(rest[:q], '\\') < 0 {
		s.pos = start + q + 1
		return span{start: start, end: start + q, set: true, plain: true}, nil
	}
	return s.scanString()
}

// scanNumber consumes a number at s.pos and returns its bounds.
func (s *scanner) scanNumber() (start, end int, err error) {
	buf := s.buf
	i := s.pos
	start = i
	if i < len(buf) && buf[i] == '-' {
		i++
	}
	switch {
	case i < len(buf) && buf[i] == '0':
		i++
	case i < len(buf) && buf[i] >= '1' && buf[i] <= '9':
		for i < len(buf) && isDigit(buf[i]) {
			i++
		}
	default:
		return 0, 0, s.errAt(i, "digit")
	}
	if i < len(buf) && buf[i] == '.' {
		i++
		if i >= len(buf) || !isDigit(buf[i]) {
			return 0, 0, s.errAt(i, "digit after decimal point")
		}
		for i < len(buf) && isDigit(buf[i]) {
			i++
		}
	}
	if i < len(buf) && (buf[i] == 'e' || buf[i] == 'E') {
		i++
		if i < len(buf) && (buf[i] == '+' || buf[i] == '-') {
			i++
		}
		if i >= len(buf) || !isDigit(buf[i]) {
			return 0, 0, s.errAt(i, "digit in exponent")
		}
		for i < len(buf) && isDigit(buf[i]) {
			i++
		}
	}
	s.pos = i
	return start, i, nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func unhex(c byte) rune {
	switch {
	case c >= '0' && c <= '9':
		return rune(c - '0')
	case c >= 'a' && c <= 'f':
		return rune(c - 'a' + 10)
	case c >= 'A' && c <= 'F':
		return rune(c - 'A' + 10)
	}
	return -1
}

// hex4 decodes the 4 hex digits of a \u escape at s[0:4], or returns -1.
func hex4(s []byte) rune {
	if len(s) < 4 {
		return -1
	}
	var r rune
	for _, c := range s[:4] {
		d := unhex(c)
		if d < 0 {
			return -1
		}
		r = r<<4 | d
	}
	return r
}

// appendUnquoted appends the decoded content of a JSON string (without its
// quotes) to dst, exactly as encoding/json decodes it: invalid UTF-8 bytes
// and unpaired surrogate escapes become U+FFFD. s must have been validated by
// scanString; malformed escapes are copied through rather than panicking.
func appendUnquoted(dst, s []byte) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			switch e := s[i+1]; e {
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				r := hex4(s[i+2:])
				if r < 0 {
					dst = append(dst, c)
					i++
					continue
				}
				i += 6
				if utf16.IsSurrogate(r) {
					if i+1 < len(s) && s[i] == '\\' && s[i+1] == 'u' {
						if r1 := hex4(s[i+2:]); r1 >= 0 {
							if d := utf16.DecodeRune(r, r1); d != utf8.RuneError {
								dst = utf8.AppendRune(dst, d)
								i += 6
								continue
							}
						}
					}
					r = utf8.RuneError
				}
				dst = utf8.AppendRune(dst, r)
				continue
			default: // '"', '\\', '/'
				dst = append(dst, e)
			}
			i += 2
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			i++
		default:
			r, size := utf8.DecodeRune(s[i:])
			dst = utf8.AppendRune(dst, r)
			i += size
		}
	}
	return dst
}
