package expr

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/scalar"

	"github.com/kapot-go/kapot/errs"
)

// Long IN lists. The planner sends `x IN (c1, c2, …)` with thousands or
// millions of constants as a set of plain values (InListExpr.int_set or
// string_set) instead of one literal expression each: a million integers
// are 8 MB of values and one hash set here, where a million literal
// expressions took 1.7 s and 500 MB to bind (one Arrow array per value,
// concatenated).

// inSetSample is how many of a set's values its printed form shows.
const inSetSample = 8

// inSetValues is a set sent as values: its hash set (inListExpr.ints or
// strs) and Arrow array (set) are built at the first evaluation, so a plan
// that is only checked (the scheduler's, a row-group pruner's copy of the
// predicate) builds neither.
type inSetValues struct {
	once sync.Once
	ints []int64
	strs []string
}

// newInSetExpr binds in [NOT] IN (set): ints when in is a signed integer,
// strs when it is a string; the set has no nulls. Values in's type cannot
// hold never match and are left out.
func newInSetExpr(in Expr, ints []int64, strs []string, negated bool) (Expr, error) {
	t := in.DataType()
	e := &inListExpr{in: in, negated: negated, display: "IN"}
	if negated {
		e.display = "NOT IN"
	}
	switch {
	case strs == nil && arrow.IsSignedInteger(t.ID()):
		lo, hi := signedRange(t)
		kept := ints
		for i, v := range ints {
			if v < lo || v > hi {
				// Some do not fit: keep those that do, in a copy.
				kept = slices.Clone(ints[:i])
				for _, v := range ints[i:] {
					if v >= lo && v <= hi {
						kept = append(kept, v)
					}
				}
				break
			}
		}
		e.lazy = &inSetValues{ints: kept}
		e.setLen = len(kept)
		if len(kept) > 0 {
			mn, mx := slices.Min(kept), slices.Max(kept)
			e.setMin, e.setMax = intLiteral(t, mn), intLiteral(t, mx)
		}
		for _, v := range kept[:min(len(kept), inSetSample)] {
			e.sample = append(e.sample, intLiteral(t, v))
		}
	case ints == nil && (t.ID() == arrow.STRING || t.ID() == arrow.LARGE_STRING):
		e.lazy = &inSetValues{strs: strs}
		e.setLen = len(strs)
		str := func(s string) Expr {
			if t.ID() == arrow.LARGE_STRING {
				return &literalExpr{value: scalar.NewLargeStringScalar(strings.Clone(s))}
			}
			return &literalExpr{value: scalar.NewStringScalar(strings.Clone(s))}
		}
		if len(strs) > 0 {
			e.setMin, e.setMax = str(slices.Min(strs)), str(slices.Max(strs))
		}
		for _, v := range strs[:min(len(strs), inSetSample)] {
			e.sample = append(e.sample, str(v))
		}
	default:
		return nil, fmt.Errorf("IN set of %d values does not apply to %s: %w", max(len(ints), len(strs)), t, errs.ErrInvalidPlan)
	}
	return e, nil
}

// buildSet makes the set's hash set and array (see inSetValues).
func (e *inListExpr) buildSet() {
	v := e.lazy
	mem := memory.DefaultAllocator
	b := array.NewBuilder(mem, e.in.DataType())
	defer b.Release()
	if v.strs != nil {
		e.strs = make(map[string]struct{}, len(v.strs))
		for _, s := range v.strs {
			if _, dup := e.strs[s]; dup {
				continue
			}
			s = strings.Clone(s) // the set outlives the plan's message
			e.strs[s] = struct{}{}
			switch bb := b.(type) {
			case *array.StringBuilder:
				bb.Append(s)
			case *array.LargeStringBuilder:
				bb.Append(s)
			}
		}
		e.set = b.NewArray()
		return
	}
	e.ints = newIntSet(v.ints)
	distinct := slices.Clone(v.ints)
	slices.Sort(distinct)
	distinct = slices.Compact(distinct)
	b.Reserve(len(distinct))
	for _, x := range distinct {
		switch bb := b.(type) {
		case *array.Int64Builder:
			bb.UnsafeAppend(x)
		case *array.Int32Builder:
			bb.UnsafeAppend(int32(x))
		case *array.Int16Builder:
			bb.UnsafeAppend(int16(x))
		case *array.Int8Builder:
			bb.UnsafeAppend(int8(x))
		}
	}
	e.set = b.NewArray()
}

// intLiteral is v as a literal of signed integer type t (v fits).
func intLiteral(t arrow.DataType, v int64) Expr {
	var s scalar.Scalar
	switch t.ID() {
	case arrow.INT8:
		s = scalar.NewInt8Scalar(int8(v))
	case arrow.INT16:
		s = scalar.NewInt16Scalar(int16(v))
	case arrow.INT32:
		s = scalar.NewInt32Scalar(int32(v))
	default:
		s = scalar.NewInt64Scalar(v)
	}
	return &literalExpr{value: s}
}

// signedRange is the range of values of a signed integer type.
func signedRange(t arrow.DataType) (int64, int64) {
	switch t.ID() {
	case arrow.INT8:
		return math.MinInt8, math.MaxInt8
	case arrow.INT16:
		return math.MinInt16, math.MaxInt16
	case arrow.INT32:
		return math.MinInt32, math.MaxInt32
	}
	return math.MinInt64, math.MaxInt64
}

// setText prints a set sent as values: its first values and how many
// there are in all.
func (e *inListExpr) setText() string {
	parts := make([]string, len(e.sample))
	for i, l := range e.sample {
		parts[i] = l.String()
	}
	if e.setLen > len(e.sample) {
		parts = append(parts, fmt.Sprintf("… %d values", e.setLen))
	}
	return strings.Join(parts, ", ")
}
