package event

import "bytes"

// reasonLoneSurrogate refuses an attribute holding a \u escape of a UTF-16
// surrogate without its pair.
const reasonLoneSurrogate = "holds a lone UTF-16 surrogate escape (\\ud800 to \\udfff without its pair), which is not Unicode text"

// loneSurrogate reports whether JSON text (what stands between a string's
// quotes, or a whole value) holds a \u escape of a UTF-16 surrogate without
// its pair. Such an escape decodes to U+FFFD, so two different values would
// read the same.
func loneSurrogate(raw []byte) bool {
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

// hex4 decodes the four hex digits at the start of b, or returns -1.
func hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return -1
		}
	}
	return r
}
