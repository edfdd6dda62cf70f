package kinesisevent

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
)

// invalid marks a byte outside the standard base64 alphabet in the decode
// tables; the 24 data bits of a quantum never reach it.
const invalid = 1 << 31

// dec[k][c] is the base64 character c's 6 bits placed where the k-th
// character of a 4-character quantum puts them in its 24 bits, or invalid:
// a quantum decodes with four lookups OR'ed.
var dec = func() (t [4][256]uint32) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for k := range t {
		for c := range t[k] {
			t[k][c] = invalid
		}
	}
	for v := range len(alphabet) {
		c := alphabet[v]
		t[0][c] = uint32(v) << 18
		t[1][c] = uint32(v) << 12
		t[2][c] = uint32(v) << 6
		t[3][c] = uint32(v)
	}
	return t
}()

// decodeBase64 decodes padded standard base64 (RFC 4648 §4) into dst, which
// must hold base64.StdEncoding.DecodedLen(len(src)) bytes; bytes of dst past
// the returned count may be overwritten. Well-formed input without '\r' or
// '\n' is decoded here, eight characters at a time with table lookups;
// anything else goes to decodeBase64Std, so what is accepted and every error
// are exactly that function's.
func decodeBase64(dst, src []byte) (int, error) {
	if len(src) == 0 {
		return 0, nil
	}
	if len(src)%4 != 0 || len(dst) < len(src)/4*3 {
		return decodeBase64Std(dst, src)
	}
	body := len(src) - 4 // full quanta before the last one, which may be padded
	i, j, bad := decodeBlocks(dst, src[:body])
	if i < body { // one full quantum left before the last
		s := src[i : i+4 : i+4]
		w := dec[0][s[0]] | dec[1][s[1]] | dec[2][s[2]] | dec[3][s[3]]
		bad |= w
		d := dst[j : j+3 : j+3]
		d[0], d[1], d[2] = byte(w>>16), byte(w>>8), byte(w)
		i, j = i+4, j+3
	}
	s := src[i : i+4 : i+4]
	switch {
	case s[3] != '=':
		w := dec[0][s[0]] | dec[1][s[1]] | dec[2][s[2]] | dec[3][s[3]]
		bad |= w
		d := dst[j : j+3 : j+3]
		d[0], d[1], d[2] = byte(w>>16), byte(w>>8), byte(w)
		j += 3
	case s[2] != '=':
		w := dec[0][s[0]] | dec[1][s[1]] | dec[2][s[2]]
		bad |= w
		d := dst[j : j+2 : j+2]
		d[0], d[1] = byte(w>>16), byte(w>>8)
		j += 2
	default:
		w := dec[0][s[0]] | dec[1][s[1]]
		bad |= w
		dst[j] = byte(w >> 16)
		j++
	}
	if bad&invalid != 0 {
		return decodeBase64Std(dst, src)
	}
	return j, nil
}

// decodeBlocks decodes src eight characters at a time while at least eight
// are left, into six bytes each, stored as eight: the two extra bytes are
// overwritten by the next store or lie in dst's room for what follows src
// (dst must have at least two bytes more than the 6/8 of src). It returns
// the characters read, the bytes written, and the OR of every lookup, which
// has invalid set if a byte was not in the alphabet.
func decodeBlocks(dst, src []byte) (i, j int, bad uint32) {
	d0, d1, d2, d3 := &dec[0], &dec[1], &dec[2], &dec[3]
	n := min(len(src)/8, (len(dst)-2)/6)
	if n <= 0 {
		return 0, 0, 0
	}
	src, dst = src[:n*8], dst[:n*6+2]
	for len(src) >= 8 && len(dst) >= 8 {
		w1 := d0[src[0]] | d1[src[1]] | d2[src[2]] | d3[src[3]]
		w2 := d0[src[4]] | d1[src[5]] | d2[src[6]] | d3[src[7]]
		bad |= w1 | w2
		binary.BigEndian.PutUint64(dst, (uint64(w1)<<24|uint64(w2&(1<<24-1)))<<16)
		src, dst = src[8:], dst[6:]
	}
	return n * 8, n * 6, bad
}

// decodeBase64Std decodes padded standard base64 with encoding/base64.
// base64.StdEncoding skips '\r' and '\n'; they are rejected here, so every
// byte a raw JSON string may not hold (control characters, and non-ASCII)
// is rejected.
func decodeBase64Std(dst, src []byte) (int, error) {
	n, err := base64.StdEncoding.Decode(dst, src)
	if err != nil {
		return 0, err
	}
	pad := 0
	if len(src) > 0 && src[len(src)-1] == '=' {
		pad++
		if len(src) > 1 && src[len(src)-2] == '=' {
			pad++
		}
	}
	if len(src)%4 != 0 || n != len(src)/4*3-pad {
		i := bytes.IndexAny(src, "\r\n")
		if i < 0 {
			i = 0
		}
		return 0, base64.CorruptInputError(i)
	}
	return n, nil
}
