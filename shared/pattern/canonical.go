package pattern

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// Canonical renders the compiled pattern as JSON: fields sorted, no white
// space, every operand as it was written. Compiling the canonical form gives
// a pattern that matches the same events and renders the same text, so it is
// what a store should keep.
func (p *Pattern) Canonical() string {
	return string(p.root.appendJSON(nil))
}

// MarshalJSON renders the canonical form.
func (p *Pattern) MarshalJSON() ([]byte, error) { return p.root.appendJSON(nil), nil }

func appendString(b []byte, s string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return append(b, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...)
}

func (o *object) appendJSON(b []byte) []byte {
	b = append(b, '{')
	// Field names sort before or after "$or" as strings do, so that the
	// canonical form is the sorted one encoding/json would write.
	orDone := len(o.or) == 0
	n := 0
	comma := func() {
		if n > 0 {
			b = append(b, ',')
		}
		n++
	}
	writeOr := func() {
		comma()
		b = append(b, `"$or":[`...)
		for i, a := range o.or {
			if i > 0 {
				b = append(b, ',')
			}
			b = a.appendJSON(b)
		}
		b = append(b, ']')
		orDone = true
	}
	for i := range o.fields {
		f := &o.fields[i]
		if !orDone && f.name > "$or" {
			writeOr()
		}
		comma()
		b = appendString(b, f.name)
		b = append(b, ':')
		if f.nested != nil {
			b = f.nested.appendJSON(b)
			continue
		}
		b = append(b, '[')
		for j := range f.rules {
			if j > 0 {
				b = append(b, ',')
			}
			b = f.rules[j].appendJSON(b)
		}
		b = append(b, ']')
	}
	if !orDone {
		writeOr()
	}
	return append(b, '}')
}

func (v value) appendJSON(b []byte) []byte {
	switch v.kind {
	case kindNull:
		return append(b, "null"...)
	case kindBool:
		return strconv.AppendBool(b, v.b)
	case kindNumber:
		return append(b, v.s...)
	}
	return appendString(b, v.s)
}

func (r *rule) appendJSON(b []byte) []byte {
	op := func(name string) {
		b = append(b, `{"`...)
		b = append(b, name...)
		b = append(b, `":`...)
	}
	switch r.kind {
	case ruleExact:
		return r.exact.appendJSON(b)
	case rulePrefix, ruleSuffix:
		if r.kind == rulePrefix {
			op("prefix")
		} else {
			op("suffix")
		}
		if r.fold {
			b = append(b, `{"equals-ignore-case":`...)
			b = appendString(b, r.str)
			b = append(b, '}')
		} else {
			b = appendString(b, r.str)
		}
	case ruleEqualsIgnoreCase:
		op("equals-ignore-case")
		b = appendString(b, r.str)
	case ruleWildcard:
		op("wildcard")
		b = appendString(b, r.str)
	case ruleCIDR:
		op("cidr")
		b = appendString(b, r.str)
	case ruleExists:
		op("exists")
		b = strconv.AppendBool(b, r.exists)
	case ruleNumeric:
		op("numeric")
		b = append(b, '[')
		for i, c := range r.num {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, c.op)
			b = append(b, ',')
			b = append(b, c.text...)
		}
		b = append(b, ']')
	case ruleAnythingBut:
		op("anything-but")
		if r.but != butValues {
			b = append(b, `{"`...)
			b = append(b, butNames[r.but]...)
			b = append(b, `":`...)
		}
		if r.butList {
			b = append(b, '[')
		}
		for i, s := range r.strs {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, s)
		}
		for i, n := range r.nums {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, n.text...)
		}
		if r.butList {
			b = append(b, ']')
		}
		if r.but != butValues {
			b = append(b, '}')
		}
	}
	return append(b, '}')
}
