package expr

// intSet is the integer set of an IN list, tested once per row: values
// outside [lo, hi] miss at once, and a set whose range is at most
// maxIntSetBits wide is a bitmap (a shift and a mask per row, 128 KiB at
// most, where a Go map hashes and probes: a dynamic filter's IN set over
// a fact's keys tested it 30 M times in a TPC-H run).
type intSet struct {
	lo, hi int64
	bits   []uint64           // bit v-lo, when the range is narrow enough
	m      map[int64]struct{} // otherwise
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
	s.m = make(map[int64]struct{}, len(vals))
	for _, v := range vals {
		s.m[v] = struct{}{}
	}
	s.n = len(s.m)
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
	_, ok := s.m[v]
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
	for i, v := range vals {
		var hit byte
		if v >= s.lo && v <= s.hi {
			if _, ok := s.m[v]; ok {
				hit = 1
			}
		}
		out[i/8] |= (hit ^ flip) << (i % 8)
	}
}
