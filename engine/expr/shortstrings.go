package expr

import (
	"encoding/binary"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
)

// shortStrings is the set of an IN list of a few short strings (codes,
// flags, country prefixes: TPC-H Q22's substring(c_phone, 1, 2) IN ('13',
// '31', ...)), each packed into an integer, little-endian, kept by its
// length: a value is in the set when its length has a packed string
// equal to its bytes, one load and a few compares instead of hashing it
// for a Go map.
type shortStrings struct {
	byLen [maxShortString + 1][]uint64
}

// maxShortString is the longest string packed; maxShortStrings the most
// strings a set packs.
const (
	maxShortString  = 8
	maxShortStrings = 32
)

// newShortStrings packs strs, or returns nil when they are too many or
// one is too long.
func newShortStrings(strs map[string]struct{}) *shortStrings {
	if len(strs) > maxShortStrings {
		return nil
	}
	s := &shortStrings{}
	for v := range strs {
		if len(v) > maxShortString {
			return nil
		}
		s.byLen[len(v)] = append(s.byLen[len(v)], packShort([]byte(v)))
	}
	return s
}

// packShort is b (at most 8 bytes) as a little-endian integer.
func packShort(b []byte) uint64 {
	var k uint64
	for i, c := range b {
		k |= uint64(c) << (8 * i)
	}
	return k
}

// mark sets bit i of bits for each row i of x in the set (not in it when
// negated); null rows are left for the caller's validity.
func (s *shortStrings) mark(x *array.String, bits []byte, negated bool) {
	if x.Len() == 0 {
		return // (its offsets may be absent)
	}
	offs, data := x.ValueOffsets(), x.ValueBytes()
	base := offs[0]
	for i := range x.Len() {
		lo, hi := int(offs[i]-base), int(offs[i+1]-base)
		hit := false
		if n := hi - lo; n <= maxShortString {
			var k uint64
			if lo+8 <= len(data) {
				// (1<<64 - 1 is every bit: a shift past the width is 0.)
				k = binary.LittleEndian.Uint64(data[lo:]) & (1<<(8*n) - 1)
			} else {
				k = packShort(data[lo:hi])
			}
			for _, c := range s.byLen[n] {
				if c == k {
					hit = true
					break
				}
			}
		}
		if hit != negated {
			bitutil.SetBit(bits, i)
		}
	}
}
