package kinesisevent

import (
	"bytes"
	"encoding/base64"
	"math/rand/v2"
	"strings"
	"syscall"
	"testing"
)

// base64Seeds hold the shapes decodeBase64 takes apart: lengths around its
// eight-character blocks, each padding, bytes outside the alphabet in the
// body and in the last quantum, padding too early, and line breaks (which
// base64.StdEncoding skips and decodeBase64 refuses).
var base64Seeds = []string{
	"", "QQ==", "QUI=", "QUJD", "QUJDRA==", "QUJDREU=", "QUJDREVG", "QUJDREVGRw==", "QUJDREVGR0g=",
	"QUJDREVGR0hJ", "AAAAAAAAAAAAAAAAAAAA", "////++++////++++", "QR==", "QUJ=",
	"A", "AA", "AAA", "AAAAA", "A===", "====", "QQ==QUJD", "QUJDQQ==QUJD", "QU=D", "Q=JD",
	"AA*A", "-_-_", "AAAA\nAAAA", "AAAA\r\nAAAA", "AAAAAAA\n", "\nAAA", "AAAAAAAAAAAAAA\xffA",
	"AAAAAAAAAAAA\x00AAA", "AAAA AAA", "AAé=", "AAAAAAAAAAAA=AAA",
}

func TestDecodeBase64(t *testing.T) {
	for _, s := range append(base64Seeds, strings.Repeat("QUJD", 1000), strings.Repeat("QUJD", 1000)+"QQ==",
		strings.Repeat("QUJD", 1000)+"Q!==", strings.Repeat("QUJD", 500)+"\n"+strings.Repeat("QUJD", 500)) {
		checkDecodeBase64(t, []byte(s))
	}
}

// FuzzDecodeBase64 holds decodeBase64 to decodeBase64Std, and both to
// base64.StdEncoding for input without '\r' or '\n': the same bytes, the
// same error or none.
func FuzzDecodeBase64(f *testing.F) {
	for _, s := range base64Seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(checkDecodeBase64)
}

func checkDecodeBase64(t *testing.T, src []byte) {
	n := base64.StdEncoding.DecodedLen(len(src))
	got := make([]byte, n)
	gn, gerr := decodeBase64(got, src)
	want := make([]byte, n)
	wn, werr := decodeBase64Std(want, src)
	if gn != wn || !bytes.Equal(got[:gn], want[:wn]) || errString(gerr) != errString(werr) || gerr != werr {
		t.Fatalf("decodeBase64(%q) = %x, %v; decodeBase64Std: %x, %v", src, got[:gn], gerr, want[:wn], werr)
	}
	if bytes.ContainsAny(src, "\r\n") {
		if gerr == nil {
			t.Fatalf("decodeBase64(%q) accepted a line break", src)
		}
		return
	}
	std := make([]byte, n)
	sn, serr := base64.StdEncoding.Decode(std, src)
	if serr != nil {
		sn = 0
	}
	if gn != sn || !bytes.Equal(got[:gn], std[:sn]) || gerr != serr {
		t.Fatalf("decodeBase64(%q) = %x, %v; base64.StdEncoding: %x, %v", src, got[:gn], gerr, std[:sn], serr)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// BenchmarkDecodeBase64 compares decodeBase64 with decodeBase64Std
// (encoding/base64) on 1,368 characters, a 1 KB event's record data: a
// repeated pattern, and random bytes, whose characters use the whole
// alphabet and so every run of the pair table. cpu-ns/op is the process's
// CPU time: on a shared machine ns/op includes waiting for a core.
func BenchmarkDecodeBase64(b *testing.B) {
	random := make([]byte, 1024)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range random {
		random[i] = byte(r.Uint32())
	}
	for _, tc := range []struct {
		name string
		raw  []byte
		fn   func(dst, src []byte) (int, error)
	}{
		{"tables", bytes.Repeat([]byte{0x00, 0x7f, 0xff, 'x'}, 256), decodeBase64},
		{"tables-random", random, decodeBase64},
		{"encoding-base64", bytes.Repeat([]byte{0x00, 0x7f, 0xff, 'x'}, 256), decodeBase64Std},
	} {
		raw := tc.raw
		src := []byte(base64.StdEncoding.EncodeToString(raw))
		dst := make([]byte, base64.StdEncoding.DecodedLen(len(src)))
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(src)))
			cpu := cpuTime(b)
			for b.Loop() {
				if n, err := tc.fn(dst, src); err != nil || n != len(raw) {
					b.Fatal(n, err)
				}
			}
			b.ReportMetric(float64(cpuTime(b)-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}

// cpuTime is the process's CPU time (user and system) in nanoseconds.
func cpuTime(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
