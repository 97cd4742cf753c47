package engine

import (
	"math/bits"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/kapot-go/kapot/engine/rowkey"
)

// intLayout packs the values of three or more integer-like group keys
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
// days). Values that do not fit the layout take the byte-encoded keys.
func planIntLayout(cols []arrow.Array, vals [][]int64) intLayout {
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
		l.shift[i] = shift
		shift += l.width[i]
		if shift > 63 {
			return intLayout{set: true}
		}
	}
	l.ok = true
	return l
}

// pack writes each row's packed key to out (grown to the rows), or
// noShortKey for a row with a null key or a value outside the layout.
func (l *intLayout) pack(cols []arrow.Array, vals [][]int64, out []uint64) []uint64 {
	n := len(vals[0])
	out = slices.Grow(out[:0], n)[:n]
	clear(out)
	for i, c := range cols {
		base, width, shift := l.base[i], l.width[i], l.shift[i]
		nulls := c.NullN() > 0
		for r, v := range vals[i] {
			d := uint64(v - base)
			if d>>width != 0 || nulls && c.IsNull(r) {
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

// groupPackedInts assigns group ids for three or more integer-like key
// columns whose values pack into one int64 (intLayout): a row costs one
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
			grown += o.addGroup(r, 8*len(cols))
		}
		ids = append(ids, uint32(id))
	}
	return ids, grown, nil
}

// intKeyValues returns the values of group key columns cols as int64s
// (into o's reused buffers), or nil when one is not integer-like.
func (o *hashAggOp) intKeyValues(cols []arrow.Array) [][]int64 {
	if len(o.keyVals) < len(cols) {
		o.keyVals = make([][]int64, len(cols))
	}
	out := make([][]int64, len(cols))
	for i, c := range cols {
		v, keep, ok := rowkey.IntValuesBuf(c, o.keyVals[i])
		if !ok {
			return nil
		}
		o.keyVals[i], out[i] = keep, v
	}
	return out
}
