package agg

import (
	"bytes"
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kapot-go/kapot/engine/rowkey"
	"github.com/kapot-go/kapot/errs"
)

// nestedMinMaxAcc is min or max of nested values (LIST, STRUCT, MAP) in
// DuckDB's order (rowkey's nested keys: lexicographic, a NULL inside after
// every value); NULL rows are skipped. Each group keeps its best value's
// key, and the value itself in a builder of candidates (a value is added
// when it beats its group's best). The partial state is the best value.
type nestedMinMaxAcc struct {
	typ   arrow.DataType
	isMax bool
	mem   *memory.CheckedAllocator
	vals  array.Builder
	n     int      // values in vals
	best  []int    // per group: its value in vals, -1 for none
	keys  [][]byte // per group: its value's key
	kb    int64    // bytes of keys
}

var _ Sized = (*nestedMinMaxAcc)(nil)

func newNestedMinMax(t arrow.DataType, isMax bool) (Accumulator, error) {
	probe := array.MakeArrayOfNull(memory.DefaultAllocator, t, 0)
	defer probe.Release()
	if _, err := rowkey.NewOrderedEncoder(probe, false, false); err != nil {
		return nil, fmt.Errorf("min/max over %s: %w", t, errs.ErrNotSupported)
	}
	if err := appendable(t); err != nil {
		return nil, err
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	return &nestedMinMaxAcc{typ: t, isMax: isMax, mem: mem, vals: array.NewBuilder(mem, t)}, nil
}

// Bytes is the memory the candidates and keys hold.
func (a *nestedMinMaxAcc) Bytes() int64 {
	return int64(a.mem.CurrentAlloc()) + a.kb + int64(cap(a.best))*8 + int64(cap(a.keys))*24
}

func (a *nestedMinMaxAcc) Grow(n int) {
	for len(a.best) < n {
		a.best = append(a.best, -1)
		a.keys = append(a.keys, nil)
	}
}

func (a *nestedMinMaxAcc) Update(_ context.Context, groups []uint32, arg arrow.Array) error {
	if arg == nil || !rowkey.SameOrderClass(arg.DataType(), a.typ) {
		return fmt.Errorf("min/max over %s: argument is %v: %w", a.typ, arg, errs.ErrInvalidPlan)
	}
	enc, err := rowkey.NewOrderedEncoder(arg, false, false)
	if err != nil {
		return err
	}
	var k []byte
	for i, g := range groups {
		if arg.IsNull(i) {
			continue
		}
		k = enc(k[:0], i)
		if a.best[g] >= 0 {
			c := bytes.Compare(k, a.keys[g])
			if a.isMax && c <= 0 || !a.isMax && c >= 0 {
				continue
			}
		}
		if err := rowkey.AppendFrom(a.vals, arg, i); err != nil {
			return err
		}
		a.kb += int64(len(k)) - int64(len(a.keys[g]))
		a.best[g], a.keys[g] = a.n, append([]byte(nil), k...)
		a.n++
	}
	return nil
}

func (a *nestedMinMaxAcc) Merge(ctx context.Context, groups []uint32, states []arrow.Array) error {
	if len(states) != 1 {
		return fmt.Errorf("min/max state has %d columns, not 1: %w", len(states), errs.ErrInvalidPlan)
	}
	return a.Update(ctx, groups, states[0])
}

func (a *nestedMinMaxAcc) StateTypes() []arrow.DataType { return []arrow.DataType{a.typ} }

func (a *nestedMinMaxAcc) State(mem memory.Allocator) []arrow.Array {
	return []arrow.Array{a.Result(mem)}
}

func (a *nestedMinMaxAcc) ResultType() arrow.DataType { return a.typ }

func (a *nestedMinMaxAcc) Result(mem memory.Allocator) arrow.Array {
	vals := a.vals.NewArray()
	defer vals.Release()
	// The builder is empty now; keep the candidates in it for later calls.
	for i := 0; i < vals.Len(); i++ {
		_ = rowkey.AppendFrom(a.vals, vals, i) // types as Update took them
	}
	rb := array.NewBuilder(mem, a.typ)
	defer rb.Release()
	for _, b := range a.best {
		if b < 0 {
			rb.AppendNull()
			continue
		}
		_ = rowkey.AppendFrom(rb, vals, b)
	}
	return rb.NewArray()
}
