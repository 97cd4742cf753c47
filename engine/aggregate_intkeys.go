package engine

import (
	"math/bits"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/kapot-go/kapot/engine/rowkey"
)

// intLayout packs the values of three or more integer-like group keys,
// or two or more of which strings stand for their codes (see strCodes),
// into one int64 (see groupPackedInts): key i's value less base[i] in
// width[i] bits at shift[i]. ok is false when the keys of the first batch
// did not leave room for it (then every batch takes the byte-encoded
// keys); set once an aggregate saw such a batch.
type intLayout struct {
	set, ok bool
	base    []int64
	width   []uint
	shift   []uint
}

// planIntLayout fixes the layout from the first batch's values vals
// (valid: each column's validity, nil for none): each key's range, twice
// as wide, so that later batches' values mostly fit too (keys from 0 up to
// twice the largest seen, when none is negative: surrogate keys, years,
// days), and the bits of the 63 left over to the keys from 0. Values that
// do not fit the layout take the byte-encoded keys.
// Key i is a string key's codes when coded[i] (nil: none is): planned
// only when the first batch has at most maxPlannedCodes values, and given
// the width of twice that many (with 1 024: codes up to 2 046 pack, 2 047
// is null).
func planIntLayout(cols []arrow.Array, vals [][]int64, coded []bool) intLayout {
	l := intLayout{set: true, base: make([]int64, len(cols)), width: make([]uint, len(cols)), shift: make([]uint, len(cols))}
	var shift uint
	for i, c := range cols {
		lo, hi, any := int64(0), int64(0), false
		for r, v := range vals[i] {
			if c.IsNull(r) {
				continue
			}
			if !any {
				lo, hi, any = v, v, true
				continue
			}
			lo, hi = min(lo, v), max(hi, v)
		}
		var span uint64
		switch {
		case i < len(coded) && coded[i]:
			if lo < 0 || hi >= maxPlannedCodes {
				return intLayout{set: true}
			}
			l.base[i], span = 0, maxPlannedCodes-1
		case !any:
			l.base[i], span = 0, 1
		case lo >= 0:
			l.base[i], span = 0, uint64(hi)
		default:
			s := uint64(hi - lo)
			if s > 1<<61 {
				return intLayout{set: true}
			}
			l.base[i], span = lo-int64(s/2), s
		}
		l.width[i] = uint(bits.Len64(span)) + 1
		shift += l.width[i]
		if shift > 63 {
			return intLayout{set: true}
		}
	}
	// The bits left over go, one at a time in turn, to the keys counted
	// from 0 that are not codes: a first batch holds the smallest keys of
	// an input in key order (TPC-DS q39's inventory, by date and item: its
	// first batch saw items up to 5 600 of 18 000, and the rows of every
	// later item took the byte-encoded keys).
	for spare := 63 - shift; spare > 0; {
		gave := false
		for i := range cols {
			if spare > 0 && l.base[i] == 0 && !(i < len(coded) && coded[i]) && l.width[i] < maxKeyWidth {
				l.width[i]++
				spare--
				gave = true
			}
		}
		if !gave {
			break
		}
	}
	shift = 0
	for i := range cols {
		l.shift[i] = shift
		shift += l.width[i]
	}
	l.ok = true
	return l
}

// maxKeyWidth is the widest a key grows with the bits left over.
const maxKeyWidth = 40

// pack writes each row's packed key to out (grown to the rows), or
// noShortKey for a row with a value outside the layout. A key's largest
// value in its bits stands for null (TPC-DS q39's warehouse name is null
// for one warehouse of five: those rows took the byte-encoded keys); a
// value that would pack as it is outside, so each key always takes one
// path.
func (l *intLayout) pack(cols []arrow.Array, vals [][]int64, out []uint64) []uint64 {
	n := len(vals[0])
	out = slices.Grow(out[:0], n)[:n]
	clear(out)
	for i, c := range cols {
		base, width, shift := l.base[i], l.width[i], l.shift[i]
		null := uint64(1)<<width - 1
		nulls := c.NullN() > 0
		for r, v := range vals[i] {
			d := uint64(v - base)
			switch {
			case nulls && c.IsNull(r):
				d = null
			case d >= null:
				out[r] = noShortKey
				continue
			}
			if out[r] != noShortKey {
				out[r] |= d << shift
			}
		}
	}
	return out
}

// groupPackedInts assigns group ids for key columns whose values (or
// strings' codes) pack into one int64 (intLayout): a row costs one
// probe of index64, which holds its keys in its slots, instead of
// encoding the keys into bytes and a probe of the byte-keyed table, its
// entries and their keys (TPC-DS q78's aggregates by year, item and
// customer; q75's by year, brand, class, category and manufacturer).
// Rows with a null key or a value outside the layout take byKey, whose
// groups never equal these.
func (o *hashAggOp) groupPackedInts(cols []arrow.Array, vals [][]int64, ids []uint32, byKey func(int) (uint32, error)) ([]uint32, int64, error) {
	var grown int64
	o.packed = o.layout.pack(cols, vals, o.packed)
	for r, k := range o.packed {
		rowkey.TouchAt(o.index64, o.packed, r)
		if k == noShortKey {
			id, err := byKey(r)
			if err != nil {
				return nil, 0, err
			}
			ids = append(ids, id)
			continue
		}
		id, ok := o.index64.GetOrPut(int64(k), int32(o.n))
		if !ok {
			grown += o.addGroup(r, 8*len(cols)+stringKeyBytes(cols, r))
		}
		ids = append(ids, uint32(id))
	}
	return ids, grown, nil
}

// intKeyValues returns the values of group key columns cols as int64s
// (into o's reused buffers), or nil when one is not integer-like (then
// the layout is settled as none: the types are every batch's). A
// string column stands for the codes of its values (strCodes): a
// warehouse's or a store's name beside its surrogate keys (TPC-DS q39's
// inventory statistics by warehouse name, warehouse, item and month)
// then packs with them instead of sending every row to the byte-encoded
// keys.
func (o *hashAggOp) intKeyValues(cols []arrow.Array) [][]int64 {
	if len(o.keyVals) < len(cols) {
		o.keyVals = make([][]int64, len(cols))
	}
	out := make([][]int64, len(cols))
	for i, c := range cols {
		if _, ok := c.(*array.String); ok {
			continue
		}
		v, keep, ok := rowkey.IntValuesBuf(c, o.keyVals[i])
		if !ok {
			o.layout = intLayout{set: true}
			return nil
		}
		o.keyVals[i], out[i] = keep, v
	}
	for i, c := range cols {
		s, ok := c.(*array.String)
		if !ok {
			continue
		}
		if len(o.codes) < len(cols) {
			o.codes = make([]*strCodes, len(cols))
		}
		if o.codes[i] == nil {
			o.codes[i] = &strCodes{}
		}
		limit := maxStrCodes
		if !o.layout.set {
			limit = maxPlannedCodes
		}
		if o.keyVals[i], ok = o.codes[i].code(s, o.keyVals[i], limit); !ok {
			// Too many values to plan a layout on: the byte-encoded
			// keys from now on.
			o.layout, o.codes = intLayout{set: true}, nil
			return nil
		}
		out[i] = o.keyVals[i]
	}
	return out
}

// stringKeyBytes is the bytes of row r's string keys among cols, which
// the group's key columns keep besides its packed key.
func stringKeyBytes(cols []arrow.Array, r int) int {
	n := 0
	for _, c := range cols {
		if s, ok := c.(*array.String); ok {
			n += s.ValueLen(r)
		}
	}
	return n
}

// coded reports, for each group key, whether its values are a string
// key's codes.
func (o *hashAggOp) coded() []bool {
	out := make([]bool, len(o.h.groups))
	for i, c := range o.codes {
		out[i] = c != nil
	}
	return out
}

// codesBytes takes the memory the string codes grew by since the last
// call (reserved with the groups).
func (o *hashAggOp) codesBytes() int64 {
	var n int64
	for _, c := range o.codes {
		if c != nil {
			n += c.grown
			c.grown = 0
		}
	}
	return n
}

// strCodes numbers the distinct values of a string group key in the order
// met, 0, 1, ..., up to maxStrCodes of them of at most maxStrCodeBytes in
// all; a later value gets no code (-1, which no layout holds) and its
// rows take the byte-encoded keys. A value keeps its code while the
// aggregate's table does (reset with it), so a group's packed key is
// always the same.
type strCodes struct {
	codes map[string]int64
	bytes int64
	grown int64 // bytes added since codesBytes took them
}

// maxStrCodes and maxStrCodeBytes bound a string key's codes; a layout
// is planned only over a first batch of at most maxPlannedCodes values
// (see planIntLayout), so that names, categories and brands pack, and ids
// of customers or items leave their aggregate the byte-encoded keys at
// once. (256 turned away TPC-DS q47's and q57's brands, some 700 values,
// 600 of them in a first batch: their six-key partial aggregate took 455
// ns a row byte-encoded, 166 packed.)
const (
	maxStrCodes     = 1 << 12
	maxStrCodeBytes = 64 << 10
	maxPlannedCodes = 1 << 10
)

// strCodeBytes is a code's cost in the map besides its value's bytes.
const strCodeBytes = 48

// code writes the codes of s's values into buf (grown to its rows) and
// returns it; a null row's code is 0 (its key is null: the layout refuses
// it). ok is false, the rest of buf unwritten, once a value would take
// code limit (at most maxStrCodes: later values then get -1).
func (d *strCodes) code(s *array.String, buf []int64, limit int) (_ []int64, ok bool) {
	n := s.Len()
	if cap(buf) < n {
		buf = make([]int64, n)
	}
	buf = buf[:n]
	if d.codes == nil {
		d.codes = map[string]int64{}
	}
	nulls := s.NullN() > 0
	prev, prevCode := "", int64(-2)
	for r := range n {
		if nulls && s.IsNull(r) {
			buf[r] = 0
			continue
		}
		v := s.Value(r)
		if prevCode != -2 && v == prev {
			buf[r] = prevCode
			continue
		}
		c, ok := d.codes[v]
		if !ok {
			if len(d.codes) >= limit && limit < maxStrCodes {
				return buf, false
			}
			c = -1
			if len(d.codes) < maxStrCodes && d.bytes+int64(len(v)) <= maxStrCodeBytes {
				c = int64(len(d.codes))
				d.codes[strings.Clone(v)] = c
				d.bytes += int64(len(v))
				d.grown += int64(len(v)) + strCodeBytes
			}
		}
		buf[r], prev, prevCode = c, v, c
	}
	return buf, true
}
