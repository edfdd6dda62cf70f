package jsonscan

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxDepth is the deepest nesting of objects and arrays a Scanner accepts
// unless told otherwise: encoding/json's limit, counted from the top of the
// input (the outermost object or array is level 1).
const MaxDepth = 10000

// ErrSyntax is the sentinel wrapped by every syntax error.
var ErrSyntax = errors.New("invalid JSON")

// SyntaxError says where the input stopped being JSON, or stopped being what
// a decoder expected there, and what it expected.
type SyntaxError struct {
	Offset   int    // byte offset in the input
	Expected string // what the reader expected there
	Found    string // what it found instead
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("offset %d: expected %s, found %s", e.Offset, e.Expected, e.Found)
}

// Unwrap lets errors.Is(err, ErrSyntax) match.
func (e *SyntaxError) Unwrap() error { return ErrSyntax }

// Options change what a Scanner accepts. The zero value is encoding/json's
// rules.
type Options struct {
	// MaxDepth is the deepest nesting accepted, counted from the top of the
	// input; 0 means MaxDepth.
	MaxDepth int
	// ValidUTF8 refuses strings holding invalid UTF-8 (encoding/json accepts
	// them and reads each bad byte as U+FFFD).
	ValidUTF8 bool
}

// Scanner reads one JSON document from a byte slice. Slices it returns point
// into that input and are valid as long as the input is, except unescaped
// keys, which are valid until the next call. The zero value, after Reset, reads
// with encoding/json's rules.
type Scanner struct {
	buf    []byte
	pos    int
	depth  int // objects and arrays open
	opts   Options
	keyBuf []byte // the last key that needed unescaping
}

// New returns a Scanner over b with encoding/json's rules.
func New(b []byte) *Scanner { return &Scanner{buf: b} }

// NewOptions returns a Scanner over b with opts.
func NewOptions(b []byte, opts Options) *Scanner { return &Scanner{buf: b, opts: opts} }

// Reset points the scanner at the start of a new input, keeping its options.
func (s *Scanner) Reset(b []byte) { s.buf, s.pos, s.depth = b, 0, 0 }

// Seek moves the scanner to byte off of its input, for a reader that comes
// back to a value it skimmed. Nesting is not changed.
func (s *Scanner) Seek(off int) { s.pos = off }

// Input returns the input the scanner reads.
func (s *Scanner) Input() []byte { return s.buf }

// Offset is the position of the next unread byte.
func (s *Scanner) Offset() int { return s.pos }

// Unexpected returns a *SyntaxError at the next non-space byte, saying it is
// not what a reader expected.
func (s *Scanner) Unexpected(expected string) error {
	s.skipSpace()
	return s.errAt(s.pos, expected)
}

func (s *Scanner) errAt(off int, expected string) error {
	return &SyntaxError{Offset: off, Expected: expected, Found: s.describe(off)}
}

func (s *Scanner) describe(off int) string {
	if off >= len(s.buf) {
		return "end of input"
	}
	c := s.buf[off]
	if c >= 0x20 && c < 0x7f {
		return fmt.Sprintf("%q", rune(c))
	}
	return fmt.Sprintf("byte 0x%02x", c)
}

func (s *Scanner) skipSpace() {
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

// Peek returns the next non-space byte without consuming it, or 0 at the end.
func (s *Scanner) Peek() byte {
	s.skipSpace()
	if s.pos >= len(s.buf) {
		return 0
	}
	return s.buf[s.pos]
}

// End reports an error unless only whitespace is left.
func (s *Scanner) End() error {
	if s.skipSpace(); s.pos != len(s.buf) {
		return s.errAt(s.pos, "end of input")
	}
	return nil
}

// open consumes c ('{' or '['), one level deeper.
func (s *Scanner) open(c byte) error {
	if s.Peek() != c {
		return s.errAt(s.pos, fmt.Sprintf("%q", rune(c)))
	}
	max := s.opts.MaxDepth
	if max <= 0 {
		max = MaxDepth
	}
	if s.depth >= max {
		return s.errAt(s.pos, fmt.Sprintf("nesting depth at most %d", max))
	}
	s.depth++
	s.pos++
	return nil
}

// BeginObject consumes '{'.
func (s *Scanner) BeginObject() error { return s.open('{') }

// BeginArray consumes '['.
func (s *Scanner) BeginArray() error { return s.open('[') }

// NextKey reads the next key of an object opened with BeginObject, including
// the ':' after it; first is true for the first call after BeginObject. more
// is false when the closing '}' was consumed. The key points into the input
// unless it needed unescaping; then it is valid until the next call.
func (s *Scanner) NextKey(first bool) (key []byte, more bool, err error) {
	_, key, more, err = s.NextKeyIn(first, nil, 0)
	return key, more, err
}

// NextKeyIn is NextKey for a reader that knows the keys it wants: idx is the
// key's index in known, or -1. The key is returned when it is not spelled
// exactly as a known one in the input; known[hint] is tried first, as
// members usually come in the same order. Known keys must be ASCII without
// quotes, backslashes or control characters; a key spelled as one of them
// is matched without being scanned.
func (s *Scanner) NextKeyIn(first bool, known []string, hint int) (idx int, key []byte, more bool, err error) {
	c := s.Peek()
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
		c = s.Peek()
	}
	if c != '"' {
		if first {
			return -1, nil, false, s.errAt(s.pos, "'\"' starting object key or '}'")
		}
		return -1, nil, false, s.errAt(s.pos, "'\"' starting object key")
	}
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
		var plain bool
		if key, plain, err = s.str(); err != nil {
			return -1, nil, false, err
		}
		if !plain {
			s.keyBuf = AppendUnquoted(s.keyBuf[:0], key)
			key = s.keyBuf
		}
		for i, k := range known {
			if string(key) == k {
				idx = i
				break
			}
		}
	}
	if s.Peek() != ':' {
		return -1, nil, false, s.errAt(s.pos, "':' after object key")
	}
	s.pos++
	return idx, key, true, nil
}

// isKey reports whether the bytes at p are k and a closing quote.
func (s *Scanner) isKey(p int, k string) bool {
	end := p + len(k)
	return end < len(s.buf) && s.buf[end] == '"' && string(s.buf[p:end]) == k
}

// NextElement prepares to read the next element of an array opened with
// BeginArray; first is true for the first call after BeginArray. more is
// false when the closing ']' was consumed.
func (s *Scanner) NextElement(first bool) (more bool, err error) {
	c := s.Peek()
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
	}
	return true, nil
}

// Null consumes a null literal if one comes next.
func (s *Scanner) Null() bool {
	if s.Peek() == 'n' && len(s.buf)-s.pos >= 4 && string(s.buf[s.pos:s.pos+4]) == "null" {
		s.pos += 4
		return true
	}
	return false
}

// String reads a string value and returns it as a Go string.
func (s *Scanner) String() (string, error) {
	b, err := s.StringBytes()
	return string(b), err
}

// StringBytes reads a string value. When the value is the input as it
// stands (no escapes, valid UTF-8) the result points into the input;
// otherwise it is a new, unescaped slice.
func (s *Scanner) StringBytes() ([]byte, error) {
	raw, plain, err := s.RawString()
	if err != nil || plain {
		return raw, err
	}
	return AppendUnquoted(make([]byte, 0, len(raw)), raw), nil
}

// RawString reads a string value and returns what stands between its
// quotes. plain reports whether that is the value; if not (escapes, or
// invalid UTF-8 without Options.ValidUTF8), AppendUnquoted gives the value.
func (s *Scanner) RawString() (raw []byte, plain bool, err error) {
	if s.Peek() != '"' {
		return nil, false, s.errAt(s.pos, "string")
	}
	return s.str()
}

// SkimString reads a string value without checking its bytes when it holds
// no backslash: then raw is what stands between the quotes and plain is true
// only in the sense that it needs no unescaping. A caller that uses it must
// refuse control characters and invalid UTF-8 itself (base64 decoding
// does). With a backslash it is RawString.
func (s *Scanner) SkimString() (raw []byte, plain bool, err error) {
	if s.Peek() != '"' {
		return nil, false, s.errAt(s.pos, "string")
	}
	start := s.pos + 1
	rest := s.buf[start:]
	if q := bytes.IndexByte(rest, '"'); q >= 0 && bytes.IndexByte(rest[:q], '\\') < 0 {
		s.pos = start + q + 1
		return rest[:q], true, nil
	}
	return s.str()
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

// str consumes the string whose opening quote is at s.pos, validating
// escapes and refusing raw control characters, eight bytes at a time. After
// 32 plain bytes it reads in one stride up to the next quote or backslash:
// bytes.IndexByte finds them and scanPlain checks the bytes before them with
// fewer operations a word than special needs. Each byte is looked at by
// bytes.IndexByte at most twice, so a string costs time linear in its
// length whatever its escapes.
func (s *Scanner) str() (raw []byte, plain bool, err error) {
	buf := s.buf
	start := s.pos + 1
	i := start
	var acc uint64 // OR of the bytes seen, to tell whether all are ASCII
	esc := false
	from := i  // where the current run of plain words began; len(buf) once it tried a stride
	next := -1 // the offset of the first quote at or after i, once looked for; len(buf) if none
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
			if i-from >= 32 {
				from = len(buf)
				if j, hi, ok := stride(buf, i, &next); ok {
					acc |= hi
					i = j
					goto found
				}
			}
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
			return nil, false, s.errAt(i, "'\"' ending string")
		}
		switch c := buf[i]; c {
		case '"':
			raw = buf[start:i]
			valid := acc&msb == 0 || utf8.Valid(raw)
			if !valid && s.opts.ValidUTF8 {
				return nil, false, s.errAt(start+invalidUTF8(raw), "valid UTF-8 in string")
			}
			s.pos = i + 1
			return raw, !esc && valid, nil
		case '\\':
			esc = true
			if i+1 >= len(buf) {
				return nil, false, s.errAt(i+1, "escape character")
			}
			switch buf[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				for k := i + 2; k < i+6; k++ {
					if k >= len(buf) || unhex(buf[k]) < 0 {
						return nil, false, s.errAt(k, "hexadecimal digit in \\u escape")
					}
				}
				i += 6
			default:
				return nil, false, s.errAt(i+1, "escape character")
			}
			from = i
		default:
			return nil, false, s.errAt(i, "string character (control characters must be escaped)")
		}
	}
}

// stride returns the offset j of the first quote or backslash at or after
// i when every byte before it is plain (no control character), and the high
// bits of those bytes. *next is the offset of the first quote at or after
// i, if it was looked for and i has not passed it, or len(buf) if there is
// none.
func stride(buf []byte, i int, next *int) (j int, hi uint64, ok bool) {
	if *next < i {
		if q := bytes.IndexByte(buf[i:], '"'); q >= 0 {
			*next = i + q
		} else {
			*next = len(buf)
		}
	}
	if *next >= len(buf) {
		return i, 0, false
	}
	seg := buf[i:*next]
	if b := bytes.IndexByte(seg, '\\'); b >= 0 {
		seg = seg[:b]
	}
	ctl, hi := scanPlain(seg)
	return i + len(seg), hi, ctl == 0
}

// scanPlain returns ctl, with the high bit set in some byte if b holds a
// control character (a byte below 0x20), and hi, with it set in some byte if
// b holds a byte of 0x80 or more; both are 0 otherwise. The test for control
// characters is special's: it can be wrong only above a true match, so an
// OR over words is exact.
func scanPlain(b []byte) (ctl, hi uint64) {
	if len(b) < 8 {
		for _, c := range b {
			if c < 0x20 {
				ctl = msb
			}
			hi |= uint64(c)
		}
		return ctl, hi & msb
	}
	// The last eight bytes first: the words below may stop short of them.
	hi = binary.LittleEndian.Uint64(b[len(b)-8:])
	ctl = (hi - lsb*0x20) &^ hi
	for len(b) >= 16 {
		x := binary.LittleEndian.Uint64(b[:8])
		y := binary.LittleEndian.Uint64(b[8:16])
		ctl |= (x-lsb*0x20)&^x | (y-lsb*0x20)&^y
		hi |= x | y
		b = b[16:]
	}
	if len(b) >= 8 {
		x := binary.LittleEndian.Uint64(b[:8])
		ctl |= (x - lsb*0x20) &^ x
		hi |= x
	}
	return ctl & msb, hi & msb
}

// invalidUTF8 returns the offset of the first byte of b that is not valid UTF-8.
func invalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return len(b)
}

// Number reads a number value and returns its text.
func (s *Scanner) Number() ([]byte, error) {
	s.skipSpace()
	start := s.pos
	if err := s.number(); err != nil {
		return nil, err
	}
	return s.buf[start:s.pos], nil
}

func (s *Scanner) number() error {
	buf := s.buf
	i := s.pos
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
		return s.errAt(i, "digit")
	}
	if i < len(buf) && buf[i] == '.' {
		i++
		if i >= len(buf) || !isDigit(buf[i]) {
			return s.errAt(i, "digit after decimal point")
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
			return s.errAt(i, "digit in exponent")
		}
		for i < len(buf) && isDigit(buf[i]) {
			i++
		}
	}
	s.pos = i
	return nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// Value reads any JSON value, checks that it is well formed, and returns its
// bytes as they stand in the input.
func (s *Scanner) Value() ([]byte, error) {
	s.skipSpace()
	start := s.pos
	if err := s.skip(); err != nil {
		return nil, err
	}
	return s.buf[start:s.pos], nil
}

func (s *Scanner) skip() error {
	switch c := s.Peek(); c {
	case '{':
		if err := s.open('{'); err != nil {
			return err
		}
		for first := true; ; first = false {
			_, more, err := s.NextKey(first)
			if err != nil || !more {
				return err
			}
			if err := s.skip(); err != nil {
				return err
			}
		}
	case '[':
		if err := s.open('['); err != nil {
			return err
		}
		for first := true; ; first = false {
			more, err := s.NextElement(first)
			if err != nil || !more {
				return err
			}
			if err := s.skip(); err != nil {
				return err
			}
		}
	case '"':
		_, _, err := s.str()
		return err
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return s.number()
	}
	return s.errAt(s.pos, "JSON value")
}

// literal consumes word ("null", "true" or "false") at s.pos.
func (s *Scanner) literal(word string) error {
	for i := 0; i < len(word); i++ {
		if s.pos+i >= len(s.buf) || s.buf[s.pos+i] != word[i] {
			return s.errAt(s.pos+i, fmt.Sprintf("%q", word))
		}
	}
	s.pos += len(word)
	return nil
}

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

// LoneSurrogate reports whether JSON text (what stands between a string's
// quotes, or a whole value) holds a \u escape of a UTF-16 surrogate without
// its pair. Such an escape decodes to U+FFFD, so two different values would
// read the same.
func LoneSurrogate(raw []byte) bool {
	i := bytes.IndexByte(raw, '\\')
	if i < 0 {
		return false
	}
	for ; i < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		i++ // the escaped character
		if i >= len(raw) || raw[i] != 'u' {
			continue
		}
		r := hex4(raw[i+1:])
		if r < 0 {
			continue
		}
		i += 4 // at the last hex digit
		switch {
		case r >= 0xdc00 && r <= 0xdfff:
			return true // a low surrogate first
		case r >= 0xd800 && r <= 0xdbff:
			rest := raw[i+1:]
			if len(rest) < 6 || rest[0] != '\\' || rest[1] != 'u' {
				return true
			}
			if low := hex4(rest[2:]); low < 0xdc00 || low > 0xdfff {
				return true
			}
			i += 6
		}
	}
	return false
}

// AppendUnquoted appends the value of a JSON string to dst, given what
// stands between its quotes (as RawString returns it), exactly as
// encoding/json decodes it: invalid UTF-8 bytes and unpaired surrogate
// escapes become U+FFFD. Malformed escapes, which a Scanner never returns,
// are copied through.
func AppendUnquoted(dst, raw []byte) []byte {
	s := raw
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
