package sqslocal

import (
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"slices"
	"strings"
)

// md5Hex is MD5OfMessageBody: the hex MD5 of the body's UTF-8 bytes.
func md5Hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// Transport types of the attribute digest.
const (
	transportString byte = 1
	transportBinary byte = 2
)

// md5OfAttributes is MD5OfMessageAttributes (and MD5OfMessageSystemAttributes)
// as SQS computes it: for each attribute, in ascending order of name, the
// name, the data type and the value, each as a 4-byte big-endian length
// followed by its bytes, with a transport-type byte (1 string, 2 binary)
// before the value. It is "" when there are no attributes, and SQS then omits
// the field.
func md5OfAttributes(attrs map[string]attributeValue) string {
	if len(attrs) == 0 {
		return ""
	}
	names := make([]string, 0, len(attrs))
	for name := range attrs {
		names = append(names, name)
	}
	slices.Sort(names)
	h := md5.New()
	var buf []byte
	for _, name := range names {
		a := attrs[name]
		buf = appendLengthPrefixed(buf[:0], []byte(name))
		buf = appendLengthPrefixed(buf, []byte(a.DataType))
		if isBinaryType(a.DataType) {
			buf = append(buf, transportBinary)
			buf = appendLengthPrefixed(buf, a.BinaryValue)
		} else {
			buf = append(buf, transportString)
			buf = appendLengthPrefixed(buf, []byte(a.StringValue))
		}
		h.Write(buf)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func appendLengthPrefixed(buf, b []byte) []byte {
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(b)))
	return append(buf, b...)
}

// isBinaryType reports whether a data type ("Binary" or "Binary.<label>")
// carries a BinaryValue.
func isBinaryType(dataType string) bool {
	return baseType(dataType) == "Binary"
}

// baseType is the data type without its custom label: "Number.float" is a
// "Number".
func baseType(dataType string) string {
	base, _, _ := strings.Cut(dataType, ".")
	return base
}
