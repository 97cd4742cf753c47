package expr

import "github.com/kapot-go/kapot/engine/rowkey"

// intSet is the integer set of an IN list, tested once per row: values
// outside [lo, hi] miss at once, and a set whose range is at most
// maxIntSetBits wide is a bitmap (a shift and a mask per row, 128 KiB at
// most, where a Go map hashes and probes: a dynamic filter's IN set over
// a fact's keys tested it 30 M times in a TPC-H run). A wider one is an
// open-addressing table behind a key filter (about a byte a key, in the
// caches), which turns most absent values away before the table: a
// dynamic filter's 57 000 order keys, spread over 6 M, against every
// lineitem.
type intSet struct {
	lo, hi int64
	bits   []uint64          // bit v-lo, when the range is narrow enough
	tab    *rowkey.IntTable  // otherwise
	filter *rowkey.KeyFilter // tab's keys
	n      int
}

// maxIntSetBits bounds a bitmap set's range (128 KiB of bits).
const maxIntSetBits = 1 << 20

// newIntSet builds the set of vals (duplicates allowed).
func newIntSet(vals []int64) *intSet {
	s := &intSet{}
	if len(vals) == 0 {
		s.lo, s.hi = 1, 0 // empty: nothing is inside
		return s
	}
	s.lo, s.hi = vals[0], vals[0]
	for _, v := range vals {
		s.lo, s.hi = min(s.lo, v), max(s.hi, v)
	}
	if span := uint64(s.hi - s.lo); span < maxIntSetBits {
		s.bits = make([]uint64, span/64+1)
		for _, v := range vals {
			d := uint64(v - s.lo)
			if s.bits[d/64]&(1<<(d%64)) == 0 {
				s.bits[d/64] |= 1 << (d % 64)
				s.n++
			}
		}
		return s
	}
	s.tab = rowkey.NewIntTable(len(vals))
	for _, v := range vals {
		s.tab.GetOrPut(v, 0)
	}
	s.filter = rowkey.NewKeyFilter(s.tab)
	s.n = s.tab.Len()
	return s
}

// Len is the number of distinct values.
func (s *intSet) Len() int { return s.n }

// Has reports whether v is in the set.
func (s *intSet) Has(v int64) bool {
	if v < s.lo || v > s.hi {
		return false
	}
	if s.bits != nil {
		d := uint64(v - s.lo)
		return s.bits[d/64]&(1<<(d%64)) != 0
	}
	if !s.filter.MayContain(v) {
		return false
	}
	_, ok := s.tab.Get(v)
	return ok
}

// mark sets bit i of out for each vals[i] in the set (or not in it, when
// negated); out is zeroed and holds len(vals) bits.
func (s *intSet) mark(vals []int64, out []byte, negated bool) {
	var flip byte
	if negated {
		flip = 1
	}
	if s.bits != nil {
		lo, span, bits := s.lo, uint64(s.hi-s.lo), s.bits
		for i, v := range vals {
			d := uint64(v - lo)
			var hit byte
			if d <= span {
				hit = byte(bits[d/64] >> (d % 64) & 1)
			}
			out[i/8] |= (hit ^ flip) << (i % 8)
		}
		return
	}
	if s.tab == nil {
		// Empty: nothing is in it.
		for i := range vals {
			out[i/8] |= flip << (i % 8)
		}
		return
	}
	if !negated {
		// The values the filter lets by, found without a branch a value
		// (see rowkey.KeyFilter.Select), then looked up.
		for _, i := range s.filter.Select(vals, nil) {
			if v := vals[i]; v >= s.lo && v <= s.hi {
				if _, ok := s.tab.Get(v); ok {
					out[i/8] |= 1 << (i % 8)
				}
			}
		}
		return
	}
	for i, v := range vals {
		out[i/8] |= (byte(b2i(!s.Has(v))) << (i % 8))
	}
}

// b2i is 1 for true.
func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
