package window

import (
	"fmt"
	"math"
	"sort"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/scalar"

	"github.com/kapot-go/kapot/engine/expr"
	"github.com/kapot-go/kapot/errs"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// Window frames: for each row, the rows [lo, hi) of its window partition a
// function reads. ROWS counts rows, GROUPS counts peer groups, RANGE
// compares the (single, numeric) order key's values; UNBOUNDED and CURRENT
// ROW mean the same in all three except that CURRENT ROW is the row itself
// for ROWS and its peer group for RANGE and GROUPS.

// windowFrame is a decoded WindowFrame.
type windowFrame struct {
	units      kapotv1.WindowFrameUnits
	start, end frameBound
}

type frameBound struct {
	kind kapotv1.WindowFrameBoundKind
	n    int64   // ROWS / GROUPS offset; RANGE offset of integer and decimal keys (unscaled)
	f    float64 // RANGE offset of floating-point keys
}

const (
	boundUnboundedPreceding = kapotv1.WindowFrameBoundKind_WINDOW_FRAME_BOUND_KIND_UNBOUNDED_PRECEDING
	boundPreceding          = kapotv1.WindowFrameBoundKind_WINDOW_FRAME_BOUND_KIND_PRECEDING
	boundCurrentRow         = kapotv1.WindowFrameBoundKind_WINDOW_FRAME_BOUND_KIND_CURRENT_ROW
	boundFollowing          = kapotv1.WindowFrameBoundKind_WINDOW_FRAME_BOUND_KIND_FOLLOWING
	boundUnboundedFollowing = kapotv1.WindowFrameBoundKind_WINDOW_FRAME_BOUND_KIND_UNBOUNDED_FOLLOWING
)

// newWindowFrame decodes and checks a frame; orderKeys are the window's
// order-key types (RANGE offsets need exactly one, numeric).
func newWindowFrame(p *kapotv1.WindowFrame, orderKeys []arrow.DataType) (*windowFrame, error) {
	if p == nil {
		return nil, nil
	}
	fr := &windowFrame{units: p.GetUnits()}
	switch fr.units {
	case kapotv1.WindowFrameUnits_WINDOW_FRAME_UNITS_ROWS, kapotv1.WindowFrameUnits_WINDOW_FRAME_UNITS_RANGE, kapotv1.WindowFrameUnits_WINDOW_FRAME_UNITS_GROUPS:
	default:
		return nil, fmt.Errorf("window frame units %v: %w", fr.units, errs.ErrInvalidPlan)
	}
	var err error
	if fr.start, err = fr.bound(p.GetStart(), orderKeys); err != nil {
		return nil, fmt.Errorf("frame start: %w", err)
	}
	if fr.end, err = fr.bound(p.GetEnd(), orderKeys); err != nil {
		return nil, fmt.Errorf("frame end: %w", err)
	}
	if fr.start.kind == boundUnboundedFollowing || fr.end.kind == boundUnboundedPreceding {
		return nil, fmt.Errorf("frame from %v to %v: %w", fr.start.kind, fr.end.kind, errs.ErrInvalidPlan)
	}
	if rank(fr.start.kind) > rank(fr.end.kind) {
		return nil, fmt.Errorf("frame starting %v cannot end %v: %w", fr.start.kind, fr.end.kind, errs.ErrInvalidPlan)
	}
	return fr, nil
}

// rank orders bound kinds: a frame cannot start after its end kind.
func rank(k kapotv1.WindowFrameBoundKind) int { return int(k) }

func (fr *windowFrame) bound(p *kapotv1.WindowFrameBound, orderKeys []arrow.DataType) (frameBound, error) {
	b := frameBound{kind: p.GetKind()}
	switch b.kind {
	case boundUnboundedPreceding, boundCurrentRow, boundUnboundedFollowing:
		return b, nil
	case boundPreceding, boundFollowing:
	default:
		return b, fmt.Errorf("bound kind %v: %w", b.kind, errs.ErrInvalidPlan)
	}
	s, err := expr.ScalarFromProto(p.GetOffset())
	if err != nil {
		return b, err
	}
	if !s.IsValid() {
		return b, fmt.Errorf("frame offset must not be NULL: %w", errs.ErrInvalidPlan)
	}
	if fr.units != kapotv1.WindowFrameUnits_WINDOW_FRAME_UNITS_RANGE {
		v, ok := s.(*scalar.Int64)
		if !ok || v.Value < 0 {
			return b, fmt.Errorf("ROWS and GROUPS offsets are non-negative integers, not %s: %w", s, errs.ErrInvalidPlan)
		}
		b.n = v.Value
		return b, nil
	}
	if len(orderKeys) != 1 {
		return b, fmt.Errorf("RANGE with an offset needs exactly one ORDER BY key, not %d: %w", len(orderKeys), errs.ErrInvalidPlan)
	}
	key := orderKeys[0]
	switch {
	case arrow.IsInteger(key.ID()):
		f, ok := scalarNumber(s)
		if !ok || f != math.Trunc(f) || math.Abs(f) > 1<<62 {
			return b, fmt.Errorf("RANGE offset %s over %s must be an integer: %w", s, key, errs.ErrInvalidPlan)
		}
		b.n = int64(f)
	case arrow.IsFloating(key.ID()):
		f, ok := scalarNumber(s)
		if !ok {
			return b, fmt.Errorf("RANGE offset %s over %s is not a number: %w", s, key, errs.ErrInvalidPlan)
		}
		b.f = f
		b.n = int64(b.f)
		if b.f < 0 {
			b.n = -1
		}
	case key.ID() == arrow.DECIMAL128:
		scale := key.(*arrow.Decimal128Type).Scale
		var d decimal128.Num
		if v, ok := s.(*scalar.Decimal128); ok {
			r, err := v.Value.Rescale(v.Type.(*arrow.Decimal128Type).Scale, scale)
			if err != nil {
				return b, fmt.Errorf("RANGE offset %s over %s: %v: %w", s, key, err, errs.ErrInvalidPlan)
			}
			d = r
		} else {
			c, err := s.CastTo(arrow.PrimitiveTypes.Float64)
			if err != nil {
				return b, fmt.Errorf("RANGE offset %s over %s: %v: %w", s, key, err, errs.ErrInvalidPlan)
			}
			if d, err = decimal128.FromFloat64(c.(*scalar.Float64).Value, 38, scale); err != nil {
				return b, fmt.Errorf("RANGE offset %s over %s: %v: %w", s, key, err, errs.ErrInvalidPlan)
			}
		}
		if !d.FitsInPrecision(18) {
			return b, fmt.Errorf("RANGE offset %s too large: %w", s, errs.ErrInvalidPlan)
		}
		b.n = int64(d.LowBits())
		if d.Sign() < 0 {
			b.n = -1
		}
	default:
		return b, fmt.Errorf("RANGE with an offset over an order key of type %s: %w", key, errs.ErrNotSupported)
	}
	if b.n < 0 {
		return b, fmt.Errorf("frame offset %s is negative: %w", s, errs.ErrInvalidPlan)
	}
	return b, nil
}

// scalarNumber is a numeric scalar's value as a float64.
func scalarNumber(s scalar.Scalar) (float64, bool) {
	switch x := s.(type) {
	case *scalar.Decimal128:
		return x.Value.ToFloat64(x.Type.(*arrow.Decimal128Type).Scale), true
	case *scalar.Int64:
		return float64(x.Value), true
	case *scalar.Float64:
		return x.Value, true
	}
	if c, err := s.CastTo(arrow.PrimitiveTypes.Float64); err == nil {
		return c.(*scalar.Float64).Value, true
	}
	return 0, false
}

// whole reports whether the frame is always the whole partition.
func (fr *windowFrame) whole() bool {
	return fr == nil || (fr.start.kind == boundUnboundedPreceding && fr.end.kind == boundUnboundedFollowing)
}

// groupIndex numbers the peer groups of the input (global, increasing);
// starts[g] is group g's first row.
func groupIndex(f *frameInfo) (idx []int, starts []int) {
	idx = make([]int, f.n)
	g := -1
	for r := 0; r < f.n; r++ {
		if f.peerStart[r] == r {
			g++
			starts = append(starts, r)
		}
		idx[r] = g
	}
	return idx, starts
}

// bounds computes each row's frame [lo, hi) (clamped to its partition; an
// empty frame has lo == hi). order is the single order key's column for
// RANGE offsets, nil otherwise.
func (fr *windowFrame) bounds(f *frameInfo, order arrow.Array, desc bool) (lo, hi []int, err error) {
	lo, hi = make([]int, f.n), make([]int, f.n)
	if fr == nil {
		for r := 0; r < f.n; r++ {
			lo[r], hi[r] = f.part[r], f.frameEnd[r]
		}
		return lo, hi, nil
	}
	var gIdx, gStarts []int
	if fr.units == kapotv1.WindowFrameUnits_WINDOW_FRAME_UNITS_GROUPS {
		gIdx, gStarts = groupIndex(f)
	}
	groupEnd := func(g int) int {
		if g+1 < len(gStarts) {
			return gStarts[g+1]
		}
		return f.n
	}
	var rng *rangeKey
	if fr.units == kapotv1.WindowFrameUnits_WINDOW_FRAME_UNITS_RANGE && (fr.start.offset() || fr.end.offset()) {
		if rng, err = newRangeKey(order, desc); err != nil {
			return nil, nil, err
		}
	}
	for r := 0; r < f.n; r++ {
		p, pe, peerEnd := f.part[r], f.partEnd[r], f.frameEnd[r]
		at := func(b frameBound, isEnd bool) int {
			switch b.kind {
			case boundUnboundedPreceding:
				return p
			case boundUnboundedFollowing:
				return pe
			}
			switch fr.units {
			case kapotv1.WindowFrameUnits_WINDOW_FRAME_UNITS_ROWS:
				off := b.signed()
				x := int64(r) + off
				if isEnd {
					x++
				}
				return int(max(int64(p), min(int64(pe), x)))
			case kapotv1.WindowFrameUnits_WINDOW_FRAME_UNITS_GROUPS:
				g, first, last := gIdx[r], gIdx[p], gIdx[pe-1]
				off := b.signed()
				t := int64(g) + off
				if isEnd {
					if t < int64(first) {
						return p
					}
					return groupEnd(int(min(t, int64(last))))
				}
				if t > int64(last) {
					return pe
				}
				return gStarts[max(t, int64(first))]
			}
			// RANGE
			if b.kind == boundCurrentRow || order.IsNull(r) {
				if isEnd {
					return peerEnd
				}
				return f.peerStart[r]
			}
			return rng.search(r, p, pe, b, isEnd)
		}
		lo[r], hi[r] = at(fr.start, false), at(fr.end, true)
		if hi[r] < lo[r] {
			hi[r] = lo[r]
		}
	}
	return lo, hi, nil
}

// signed is the bound's offset in rows or groups: negative PRECEDING,
// positive FOLLOWING, 0 for CURRENT ROW.
func (b frameBound) signed() int64 {
	switch b.kind {
	case boundPreceding:
		return -b.n
	case boundFollowing:
		return b.n
	}
	return 0
}

func (b frameBound) offset() bool { return b.kind == boundPreceding || b.kind == boundFollowing }

// rangeKey finds RANGE offset bounds by binary search over a partition's
// non-null order-key values (sorted; NULLs gather at one end).
type rangeKey struct {
	arr  arrow.Array
	desc bool
	// The non-null rows [a, z) of the partition starting at p.
	p, a, z int
	ival    func(i int) int64
	fval    func(i int) float64
}

func newRangeKey(arr arrow.Array, desc bool) (*rangeKey, error) {
	k := &rangeKey{arr: arr, desc: desc, p: -1}
	switch a := arr.(type) {
	case *array.Int64:
		k.ival = func(i int) int64 { return a.Value(i) }
	case *array.Int32:
		k.ival = func(i int) int64 { return int64(a.Value(i)) }
	case *array.Int16:
		k.ival = func(i int) int64 { return int64(a.Value(i)) }
	case *array.Int8:
		k.ival = func(i int) int64 { return int64(a.Value(i)) }
	case *array.Decimal128:
		k.ival = func(i int) int64 { return int64(a.Value(i).LowBits()) }
		for i := 0; i < a.Len(); i++ {
			if a.IsValid(i) && !a.Value(i).FitsInPrecision(18) {
				return nil, fmt.Errorf("RANGE over decimal values beyond 18 digits: %w", errs.ErrNotSupported)
			}
		}
	case *array.Float64:
		k.fval = func(i int) float64 { return a.Value(i) }
	case *array.Float32:
		k.fval = func(i int) float64 { return float64(a.Value(i)) }
	default:
		return nil, fmt.Errorf("RANGE with an offset over %s: %w", arr.DataType(), errs.ErrNotSupported)
	}
	return k, nil
}

// search returns the frame bound of row r (non-null key) in partition
// [p, pe): a start is the first row at or after the target value in sort
// order, an end the first row strictly after it.
func (k *rangeKey) search(r, p, pe int, b frameBound, isEnd bool) int {
	if k.p != p {
		k.p, k.a, k.z = p, p, pe
		for k.a < k.z && k.arr.IsNull(k.a) {
			k.a++
		}
		for k.z > k.a && k.arr.IsNull(k.z-1) {
			k.z--
		}
	}
	a, z := k.a, k.z
	// Moving toward PRECEDING is moving against the sort order.
	up := b.kind == boundFollowing
	if k.desc {
		up = !up
	}
	// after(i) reports whether row i lies after the target in sort order
	// (strictly for an end, at or after for a start).
	var after func(i int) bool
	if k.fval != nil {
		v := k.fval(r)
		t := v - b.f
		if up {
			t = v + b.f
		}
		after = func(i int) bool {
			x := k.fval(i)
			if k.desc {
				return x < t || (!isEnd && x == t)
			}
			return x > t || (!isEnd && x == t)
		}
	} else {
		v := k.ival(r)
		t := satAdd(v, -b.n)
		if up {
			t = satAdd(v, b.n)
		}
		after = func(i int) bool {
			x := k.ival(i)
			if k.desc {
				return x < t || (!isEnd && x == t)
			}
			return x > t || (!isEnd && x == t)
		}
	}
	return a + sort.Search(z-a, func(j int) bool { return after(a + j) })
}

func satAdd(a, b int64) int64 {
	s := a + b
	if b > 0 && s < a {
		return math.MaxInt64
	}
	if b < 0 && s > a {
		return math.MinInt64
	}
	return s
}
