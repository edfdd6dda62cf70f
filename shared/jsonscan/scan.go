package jsonscan

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxDepth bounds the nesting of skipped values, as a guard against inputs
// built to exhaust memory.
const MaxDepth = 1000

// ErrSyntax is the sentinel wrapped by every syntax error.
var ErrSyntax = errors.New("invalid JSON")

// SyntaxError says where the input stopped being JSON.
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at byte %d: %s", e.Offset, e.Msg)
}

// Unwrap lets errors.Is(err, ErrSyntax) match.
func (e *SyntaxError) Unwrap() error { return ErrSyntax }

// Scanner reads one JSON document from a byte slice. Slices it returns point
// into that input and are valid as long as the input is.
type Scanner struct {
	buf []byte
	pos int
}

// New returns a Scanner over b.
func New(b []byte) *Scanner { return &Scanner{buf: b} }

// Reset points the scanner at a new input.
func (s *Scanner) Reset(b []byte) { s.buf, s.pos = b, 0 }

// Offset is the position of the next unread byte.
func (s *Scanner) Offset() int { return s.pos }

func (s *Scanner) errorf(format string, args ...any) error {
	return &SyntaxError{Offset: s.pos, Msg: fmt.Sprintf(format, args...)}
}

func (s *Scanner) skipSpace() {
	for s.pos < len(s.buf) {
		switch s.buf[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
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
	s.skipSpace()
	if s.pos != len(s.buf) {
		return s.errorf("unexpected %q after the value", s.buf[s.pos])
	}
	return nil
}

func (s *Scanner) expect(c byte) error {
	s.skipSpace()
	if s.pos >= len(s.buf) {
		return s.errorf("unexpected end, want %q", c)
	}
	if s.buf[s.pos] != c {
		return s.errorf("got %q, want %q", s.buf[s.pos], c)
	}
	s.pos++
	return nil
}

// BeginObject consumes '{'.
func (s *Scanner) BeginObject() error { return s.expect('{') }

// BeginArray consumes '['.
func (s *Scanner) BeginArray() error { return s.expect('[') }

// NextKey reads the next key of an object opened with BeginObject, including
// the ':' after it. more is false when the closing '}' was consumed. The key
// is unescaped only if it holds escapes; otherwise it points into the input.
func (s *Scanner) NextKey(first bool) (key []byte, more bool, err error) {
	c := s.Peek()
	if c == '}' {
		s.pos++
		return nil, false, nil
	}
	if !first {
		if c != ',' {
			if c == 0 {
				return nil, false, s.errorf("unexpected end in object")
			}
			return nil, false, s.errorf("got %q, want ',' or '}'", c)
		}
		s.pos++
	}
	key, err = s.StringBytes()
	if err != nil {
		return nil, false, err
	}
	if err := s.expect(':'); err != nil {
		return nil, false, err
	}
	return key, true, nil
}

// NextElement prepares to read the next array element of an array opened with
// BeginArray. more is false when the closing ']' was consumed.
func (s *Scanner) NextElement(first bool) (more bool, err error) {
	c := s.Peek()
	if c == ']' {
		s.pos++
		return false, nil
	}
	if !first {
		if c != ',' {
			if c == 0 {
				return false, s.errorf("unexpected end in array")
			}
			return false, s.errorf("got %q, want ',' or ']'", c)
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

// StringBytes reads a string value. Without escapes the result points into
// the input; with escapes it is a new, unescaped slice.
func (s *Scanner) StringBytes() ([]byte, error) {
	if err := s.expect('"'); err != nil {
		return nil, err
	}
	start := s.pos
	for s.pos < len(s.buf) {
		c := s.buf[s.pos]
		switch {
		case c == '"':
			out := s.buf[start:s.pos]
			s.pos++
			return out, nil
		case c == '\\':
			return s.unescape(start)
		case c < 0x20:
			return nil, s.errorf("control character %#x in string", c)
		case c >= utf8.RuneSelf:
			r, n := utf8.DecodeRune(s.buf[s.pos:])
			if r == utf8.RuneError && n == 1 {
				return nil, s.errorf("invalid UTF-8 in string")
			}
			s.pos += n
		default:
			s.pos++
		}
	}
	return nil, s.errorf("unterminated string")
}

func (s *Scanner) unescape(start int) ([]byte, error) {
	out := make([]byte, 0, s.pos-start+16)
	out = append(out, s.buf[start:s.pos]...)
	for s.pos < len(s.buf) {
		c := s.buf[s.pos]
		switch {
		case c == '"':
			s.pos++
			return out, nil
		case c < 0x20:
			return nil, s.errorf("control character %#x in string", c)
		case c != '\\':
			if c >= utf8.RuneSelf {
				r, n := utf8.DecodeRune(s.buf[s.pos:])
				if r == utf8.RuneError && n == 1 {
					return nil, s.errorf("invalid UTF-8 in string")
				}
				out = append(out, s.buf[s.pos:s.pos+n]...)
				s.pos += n
				continue
			}
			out = append(out, c)
			s.pos++
			continue
		}
		if s.pos+1 >= len(s.buf) {
			return nil, s.errorf("unterminated escape")
		}
		e := s.buf[s.pos+1]
		s.pos += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, err := s.hex4()
			if err != nil {
				return nil, err
			}
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if s.pos+1 < len(s.buf) && s.buf[s.pos] == '\\' && s.buf[s.pos+1] == 'u' {
					save := s.pos
					s.pos += 2
					if r2, err = s.hex4(); err != nil {
						return nil, err
					}
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						r = dec
					} else {
						s.pos = save
						r = utf8.RuneError
					}
				} else {
					r = utf8.RuneError
				}
			}
			out = utf8.AppendRune(out, r)
		default:
			return nil, s.errorf("invalid escape \\%c", e)
		}
	}
	return nil, s.errorf("unterminated string")
}

func (s *Scanner) hex4() (rune, error) {
	if s.pos+4 > len(s.buf) {
		return 0, s.errorf("short \\u escape")
	}
	v, err := strconv.ParseUint(string(s.buf[s.pos:s.pos+4]), 16, 32)
	if err != nil {
		return 0, s.errorf("invalid \\u escape")
	}
	s.pos += 4
	return rune(v), nil
}

// Int reads an integer number value.
func (s *Scanner) Int() (int64, error) {
	raw, err := s.Number()
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return 0, &SyntaxError{Offset: s.pos - len(raw), Msg: "want an integer, got " + string(raw)}
	}
	return n, nil
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
	b := s.buf
	if s.pos < len(b) && b[s.pos] == '-' {
		s.pos++
	}
	if s.pos >= len(b) {
		return s.errorf("unexpected end in number")
	}
	switch c := b[s.pos]; {
	case c == '0':
		s.pos++
	case c >= '1' && c <= '9':
		for s.pos < len(b) && b[s.pos] >= '0' && b[s.pos] <= '9' {
			s.pos++
		}
	default:
		return s.errorf("invalid character %q in number", c)
	}
	if s.pos < len(b) && b[s.pos] == '.' {
		s.pos++
		d := s.pos
		for s.pos < len(b) && b[s.pos] >= '0' && b[s.pos] <= '9' {
			s.pos++
		}
		if s.pos == d {
			return s.errorf("no digits after decimal point")
		}
	}
	if s.pos < len(b) && (b[s.pos] == 'e' || b[s.pos] == 'E') {
		s.pos++
		if s.pos < len(b) && (b[s.pos] == '+' || b[s.pos] == '-') {
			s.pos++
		}
		d := s.pos
		for s.pos < len(b) && b[s.pos] >= '0' && b[s.pos] <= '9' {
			s.pos++
		}
		if s.pos == d {
			return s.errorf("no digits in exponent")
		}
	}
	return nil
}

// Value reads any JSON value, checks that it is well formed, and returns its
// bytes as they stand in the input.
func (s *Scanner) Value() ([]byte, error) {
	s.skipSpace()
	start := s.pos
	if err := s.skip(0); err != nil {
		return nil, err
	}
	return s.buf[start:s.pos], nil
}

func (s *Scanner) skip(depth int) error {
	if depth > MaxDepth {
		return s.errorf("nesting deeper than %d", MaxDepth)
	}
	switch c := s.Peek(); c {
	case '{':
		s.pos++
		for first := true; ; first = false {
			_, more, err := s.NextKey(first)
			if err != nil {
				return err
			}
			if !more {
				return nil
			}
			if err := s.skip(depth + 1); err != nil {
				return err
			}
		}
	case '[':
		s.pos++
		for first := true; ; first = false {
			more, err := s.NextElement(first)
			if err != nil {
				return err
			}
			if !more {
				return nil
			}
			if err := s.skip(depth + 1); err != nil {
				return err
			}
		}
	case '"':
		return s.skipString()
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	case 0:
		return s.errorf("unexpected end, want a value")
	default:
		if c == '-' || (c >= '0' && c <= '9') {
			return s.number()
		}
		return s.errorf("invalid character %q, want a value", c)
	}
}

// plain marks the bytes a string may hold without a closer look: not the
// quote, the backslash, control characters or the start of a multi-byte
// UTF-8 sequence.
var plain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// skipString validates a string without building it.
func (s *Scanner) skipString() error {
	s.pos++ // opening quote
	b := s.buf
	for s.pos < len(b) {
		// Runs of plain bytes, eight at a time where possible.
		for s.pos+8 <= len(b) && plain[b[s.pos]] && plain[b[s.pos+1]] && plain[b[s.pos+2]] && plain[b[s.pos+3]] &&
			plain[b[s.pos+4]] && plain[b[s.pos+5]] && plain[b[s.pos+6]] && plain[b[s.pos+7]] {
			s.pos += 8
		}
		if s.pos >= len(b) {
			break
		}
		c := b[s.pos]
		switch {
		case c == '"':
			s.pos++
			return nil
		case c == '\\':
			if s.pos+1 >= len(b) {
				return s.errorf("unterminated escape")
			}
			switch b[s.pos+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.pos += 2
			case 'u':
				s.pos += 2
				if _, err := s.hex4(); err != nil {
					return err
				}
			default:
				return s.errorf("invalid escape \\%c", b[s.pos+1])
			}
		case c < 0x20:
			return s.errorf("control character %#x in string", c)
		case c >= utf8.RuneSelf:
			r, n := utf8.DecodeRune(b[s.pos:])
			if r == utf8.RuneError && n == 1 {
				return s.errorf("invalid UTF-8 in string")
			}
			s.pos += n
		default:
			s.pos++
		}
	}
	return s.errorf("unterminated string")
}

func (s *Scanner) literal(lit string) error {
	if len(s.buf)-s.pos < len(lit) || string(s.buf[s.pos:s.pos+len(lit)]) != lit {
		return s.errorf("invalid literal, want %s", lit)
	}
	s.pos += len(lit)
	return nil
}
