package agg

import (
	"bytes"
	"context"
	"fmt"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kapot-go/kapot/engine/expr"
	"github.com/kapot-go/kapot/engine/rowkey"
	"github.com/kapot-go/kapot/errs"
)

// Sized is an Accumulator whose state grows with its input, not only with
// its groups (array_agg keeps every value): Bytes is the memory it holds
// now, which the aggregate reserves from the task's pool.
type Sized interface {
	Bytes() int64
}

// listAcc is array_agg (DuckDB's list): every value of each group, NULLs
// included, in the order of the call's ORDER BY keys (encoded so that the
// bytes sort as the keys do) or, without them, in the order they arrive.
// The argument is the value, or in partial/single mode with ORDER BY a
// struct of the value and its keys. The partial state is each group's
// values as a LIST (already in order) and their keys as a LIST of BINARY
// (empty lists without ORDER BY); a group without rows has NULL lists.
type listAcc struct {
	value arrow.DataType
	nkeys int
	order []expr.SortKey
	// mem counts the bytes the value builder holds (Bytes).
	mem      *memory.CheckedAllocator
	vb       array.Builder
	gids     []uint32
	keys     [][]byte // per entry; nil without ORDER BY
	keyBytes int64
	groups   int
}

var _ Sized = (*listAcc)(nil)

// newListAcc builds array_agg's accumulator over in: the value type, or
// (partial/single mode with ORDER BY keys) a struct of the value and the
// keys, or (FINAL mode, opts.FromState) the LIST of values of the state.
func newListAcc(in arrow.DataType, opts Options) (*listAcc, error) {
	a := &listAcc{value: in, nkeys: len(opts.Order), order: opts.Order}
	switch {
	case opts.FromState:
		lt, ok := in.(*arrow.ListType)
		if !ok {
			return nil, fmt.Errorf("array_agg state is %s, not a list: %w", in, errs.ErrInvalidPlan)
		}
		a.value = lt.Elem()
	case a.nkeys > 0:
		st, ok := in.(*arrow.StructType)
		if !ok || st.NumFields() != 1+a.nkeys {
			return nil, fmt.Errorf("array_agg: %d order keys for a %s argument: %w", a.nkeys, in, errs.ErrInvalidPlan)
		}
		a.value = st.Field(0).Type
		for i, f := range st.Fields()[1:] {
			null := array.MakeArrayOfNull(memory.DefaultAllocator, f.Type, 0)
			_, err := rowkey.NewOrderedEncoder(null, opts.Order[i].Descending, opts.Order[i].NullsFirst)
			null.Release()
			if err != nil {
				return nil, fmt.Errorf("array_agg(… ORDER BY a %s value): %w", f.Type, errs.ErrNotSupported)
			}
		}
	}
	if a.value.ID() == arrow.NULL {
		return nil, fmt.Errorf("array_agg of an untyped NULL (cast it): %w", errs.ErrNotSupported)
	}
	if err := appendable(a.value); err != nil {
		return nil, err
	}
	return a, nil
}

// appendable refuses value types rowkey.AppendFrom cannot copy.
func appendable(t arrow.DataType) error {
	switch x := t.(type) {
	case *arrow.ListType:
		return appendable(x.Elem())
	case *arrow.MapType:
		if err := appendable(x.KeyType()); err != nil {
			return err
		}
		return appendable(x.ItemType())
	case *arrow.StructType:
		for _, f := range x.Fields() {
			if err := appendable(f.Type); err != nil {
				return err
			}
		}
		return nil
	}
	switch t.ID() {
	case arrow.BOOL, arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64,
		arrow.FLOAT32, arrow.FLOAT64, arrow.DATE32, arrow.TIMESTAMP, arrow.INTERVAL_MONTH_DAY_NANO, arrow.DECIMAL128,
		arrow.STRING, arrow.LARGE_STRING:
		return nil
	}
	return fmt.Errorf("array_agg of %s values: %w", t, errs.ErrNotSupported)
}

func (a *listAcc) builder() array.Builder {
	if a.vb == nil {
		a.mem = memory.NewCheckedAllocator(memory.NewGoAllocator())
		a.vb = array.NewBuilder(a.mem, a.value)
	}
	return a.vb
}

// Bytes is the memory the collected values, groups and keys hold.
func (a *listAcc) Bytes() int64 {
	n := int64(cap(a.gids))*4 + int64(cap(a.keys))*24 + a.keyBytes
	if a.mem != nil {
		n += int64(a.mem.CurrentAlloc())
	}
	return n
}

func (a *listAcc) Grow(n int) { a.groups = max(a.groups, n) }

func (a *listAcc) Update(_ context.Context, groups []uint32, arg arrow.Array) error {
	if arg == nil {
		return fmt.Errorf("array_agg needs an argument: %w", errs.ErrInvalidPlan)
	}
	v := arg
	var encs []rowkey.OrderedEncoder
	if a.nkeys > 0 {
		st, ok := arg.(*array.Struct)
		if !ok || st.NumField() != 1+a.nkeys {
			return fmt.Errorf("array_agg argument is %s: %w", arg.DataType(), errs.ErrInvalidPlan)
		}
		v = st.Field(0)
		for k := 1; k < st.NumField(); k++ {
			e, err := rowkey.NewOrderedEncoder(st.Field(k), a.order[k-1].Descending, a.order[k-1].NullsFirst)
			if err != nil {
				return err
			}
			encs = append(encs, e)
		}
	}
	b := a.builder()
	for i, g := range groups {
		if err := rowkey.AppendFrom(b, v, i); err != nil {
			return err
		}
		a.gids = append(a.gids, g)
		if encs != nil {
			var key []byte
			for _, e := range encs {
				key = e(key, i)
			}
			a.keys = append(a.keys, key)
			a.keyBytes += int64(cap(key))
		}
	}
	return nil
}

func (a *listAcc) Merge(_ context.Context, groups []uint32, states []arrow.Array) error {
	if len(states) != 2 {
		return fmt.Errorf("array_agg state has %d columns, not 2: %w", len(states), errs.ErrInvalidPlan)
	}
	vl, ok1 := states[0].(*array.List)
	kl, ok2 := states[1].(*array.List)
	if !ok1 || !ok2 {
		return fmt.Errorf("array_agg state is %s, %s: %w", states[0].DataType(), states[1].DataType(), errs.ErrInvalidPlan)
	}
	kv, ok := kl.ListValues().(*array.Binary)
	if !ok {
		return fmt.Errorf("array_agg keys are %s: %w", kl.ListValues().DataType(), errs.ErrInvalidPlan)
	}
	b := a.builder()
	for i, g := range groups {
		if vl.IsNull(i) {
			continue
		}
		lo, hi := vl.ValueOffsets(i)
		klo, khi := kl.ValueOffsets(i)
		if a.nkeys > 0 && (kl.IsNull(i) || khi-klo != hi-lo) {
			return fmt.Errorf("array_agg state: %d values but %d keys: %w", hi-lo, khi-klo, errs.ErrInvalidPlan)
		}
		for j := lo; j < hi; j++ {
			if err := rowkey.AppendFrom(b, vl.ListValues(), int(j)); err != nil {
				return err
			}
			a.gids = append(a.gids, g)
			if a.nkeys > 0 {
				key := slices.Clone(kv.Value(int(klo + j - lo)))
				a.keys = append(a.keys, key)
				a.keyBytes += int64(cap(key))
			}
		}
	}
	return nil
}

func (a *listAcc) StateTypes() []arrow.DataType {
	return []arrow.DataType{arrow.ListOf(a.value), arrow.ListOf(arrow.BinaryTypes.Binary)}
}

// sorted returns the collected values and each group's entries in order.
func (a *listAcc) sorted() (arrow.Array, [][]int) {
	vals := a.builder().NewArray()
	// The builder is empty now; keep the values in it for later calls.
	for i := 0; i < vals.Len(); i++ {
		// The same types the builder took before: it cannot fail.
		_ = rowkey.AppendFrom(a.vb, vals, i)
	}
	rows := make([][]int, a.groups)
	for i, g := range a.gids {
		rows[g] = append(rows[g], i)
	}
	if a.nkeys > 0 {
		for _, rs := range rows {
			slices.SortStableFunc(rs, func(i, j int) int { return bytes.Compare(a.keys[i], a.keys[j]) })
		}
	}
	return vals, rows
}

// lists builds each group's values as a LIST (NULL without rows) and,
// with keys, their keys as a LIST of BINARY.
func (a *listAcc) lists(mem memory.Allocator, keys bool) []arrow.Array {
	vals, rows := a.sorted()
	defer vals.Release()
	lb := array.NewListBuilder(mem, a.value)
	defer lb.Release()
	kb := array.NewListBuilder(mem, arrow.BinaryTypes.Binary)
	defer kb.Release()
	kvb := kb.ValueBuilder().(*array.BinaryBuilder)
	for _, rs := range rows {
		if len(rs) == 0 {
			lb.AppendNull()
			kb.AppendNull()
			continue
		}
		lb.Append(true)
		kb.Append(true)
		for _, r := range rs {
			_ = rowkey.AppendFrom(lb.ValueBuilder(), vals, r) // types as Update took them
			if a.nkeys > 0 {
				kvb.Append(a.keys[r])
			}
		}
	}
	out := []arrow.Array{lb.NewArray()}
	if keys {
		out = append(out, kb.NewArray())
	}
	return out
}

func (a *listAcc) State(mem memory.Allocator) []arrow.Array { return a.lists(mem, true) }

func (a *listAcc) ResultType() arrow.DataType { return arrow.ListOf(a.value) }

func (a *listAcc) Result(mem memory.Allocator) arrow.Array { return a.lists(mem, false)[0] }
