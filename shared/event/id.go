package event

import (
	crand "crypto/rand"
	"encoding/binary"
	"math/rand/v2"
	"sync"
	"time"
)

// crockford is the ULID alphabet: sortable, no I, L, O or U.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// IDSource makes ULIDs: 48 bits of milliseconds then 80 random bits, so ids
// sort by creation time. Within one millisecond the random part counts up,
// so ids from one source are strictly increasing. Safe for concurrent use.
type IDSource struct {
	mu     sync.Mutex
	rng    *rand.ChaCha8
	lastMs uint64
	hi     uint16 // top 16 of the 80 random bits
	lo     uint64 // low 64 of the 80 random bits
}

// NewIDSource returns a source seeded from the operating system.
func NewIDSource() *IDSource {
	var seed [32]byte
	_, _ = crand.Read(seed[:]) // crypto/rand.Read never fails on supported platforms
	return &IDSource{rng: rand.NewChaCha8(seed)}
}

// New returns a new id for time t.
func (s *IDSource) New(t time.Time) string {
	ms := uint64(t.UnixMilli())
	s.mu.Lock()
	if ms <= s.lastMs {
		ms = s.lastMs
		s.lo++
		if s.lo == 0 {
			s.hi++
		}
	} else {
		s.lastMs = ms
		s.lo = s.rng.Uint64()
		s.hi = uint16(s.rng.Uint64())
	}
	hi, lo := s.hi, s.lo
	s.mu.Unlock()

	var b [16]byte
	binary.BigEndian.PutUint64(b[0:8], ms<<16|uint64(hi))
	binary.BigEndian.PutUint64(b[8:16], lo)
	return encodeULID(&b)
}

func encodeULID(b *[16]byte) string {
	var out [26]byte
	// 128 bits in 26 base-32 digits, most significant first (the first digit
	// carries only 3 bits).
	hi := binary.BigEndian.Uint64(b[0:8])
	lo := binary.BigEndian.Uint64(b[8:16])
	for i := 25; i >= 0; i-- {
		out[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:])
}
