package engine

import (
	"context"
	"slices"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kapot-go/kapot/engine/expr"
	"github.com/kapot-go/kapot/engine/operator"
)

// prefilter is a conjunct of the filter right above a Parquet scan that
// tests one column (=, <>, <, IN, LIKE, their ORs...): the scan drops the
// rows it rejects before it expands strings or converts the other
// columns, and the filter above, which still evaluates every conjunct on
// the rows left, then mostly keeps whole batches without gathering them.
//
// On a string column it runs only when a batch arrives dictionary
// encoded, once per dictionary value: TPC-H Q19's l_shipmode IN (…) and
// l_shipinstruct = … keep 1 row in 14, and the other 13 are never
// materialised; a batch read without a dictionary (plain pages) is not
// prefiltered. On a date or number column it runs over the column's
// values (late materialisation): a date is read as integers and retyped
// without a copy, a decimal converted once (the scan keeps the converted
// column), and the other columns are gathered as read, narrower than
// converted (decimals are 8 bytes before and 16 after, dictionary strings
// 4-byte indexes before expansion), and converted for the rows kept only.
// TPC-H Q3's l_shipdate > … keeps half of lineitem; Q6's conjuncts
// together 2 %.
type prefilter struct {
	col  int       // in the scan's output
	pred expr.Expr // bound to the scan's output schema
	// values: evaluated over the column's values (a date or number
	// column); else over a dictionary's (a string column).
	values bool
}

// pushPrefilters hands the Parquet scan under f (if any) the conjuncts of
// f that qualify as prefilters.
func pushPrefilters(f *Filter) {
	in := f.input
	if m, ok := in.(*operator.Metered); ok {
		in = m.ExecutionPlan
	}
	s, ok := in.(*fileScan)
	if !ok {
		return
	}
	pf, ok := s.format.(parquetFormat)
	if !ok {
		return
	}
	pf.pre, pf.out = nil, s.schema
	add := func(e expr.Expr) bool {
		col, ok := prefilterColumn(e, s.schema)
		if ok {
			pf.pre = append(pf.pre, prefilter{col: col, pred: e, values: s.schema.Field(col).Type.ID() != arrow.STRING})
		}
		return ok
	}
	for _, c := range f.conjuncts {
		for _, e := range expr.AndTerms(c) {
			if add(e) {
				continue
			}
			// An OR over several columns: what it implies of each
			// column alone drops rows early too (the filter still
			// evaluates e on the rows left).
			for _, imp := range expr.ImpliedColumnTerms(e) {
				add(imp)
			}
		}
	}
	s.format = pf
}

// prefilterColumn returns the one column e tests, a string, date or
// number column, when e only compares it with constants and cannot fail
// (see cannotFail, the filter's own test for conjuncts it may evaluate
// early).
func prefilterColumn(e expr.Expr, schema *arrow.Schema) (int, bool) {
	if !expr.CannotFail(e) {
		return 0, false
	}
	col, ok := expr.OnlyColumn(e)
	if !ok || col >= schema.NumFields() {
		return 0, false
	}
	switch schema.Field(col).Type.ID() {
	case arrow.STRING, arrow.DATE32, arrow.DECIMAL128, arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64,
		arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64, arrow.FLOAT32, arrow.FLOAT64:
		return col, true
	}
	return 0, false
}

// valueMask evaluates p over col, the column's values in the scan's
// output type: nil when p could not be evaluated (the filter above will
// report why). The caller releases the mask.
func (p prefilter) valueMask(schema *arrow.Schema, col arrow.Array, mem memory.Allocator) (mask *array.Boolean) {
	defer func() {
		if recover() != nil {
			mask = nil
		}
	}()
	if p.col >= schema.NumFields() || !arrow.TypeEqual(col.DataType(), schema.Field(p.col).Type) {
		return nil
	}
	return p.eval(schema, col, mem)
}

// eval evaluates p over col as its column (the others null): nil when it
// could not be evaluated or gave no boolean per row. The caller releases
// the result.
func (p prefilter) eval(schema *arrow.Schema, col arrow.Array, mem memory.Allocator) *array.Boolean {
	n := col.Len()
	fields := make([]arrow.Field, schema.NumFields())
	cols := make([]arrow.Array, schema.NumFields())
	for i := range fields {
		if i == p.col {
			fields[i], cols[i] = schema.Field(i), col
			continue
		}
		fields[i] = arrow.Field{Name: schema.Field(i).Name, Type: arrow.Null, Nullable: true}
		cols[i] = array.NewNull(n)
		defer cols[i].Release()
	}
	b := array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, int64(n))
	defer b.Release()
	res, err := p.pred.Eval(context.Background(), mem, b)
	if err != nil {
		return nil
	}
	m, ok := res.(*array.Boolean)
	if !ok || m.Len() != n {
		res.Release()
		return nil
	}
	return m
}

// dictMask evaluates p over the values of dict, and a null after them:
// mask[k] says whether rows with index k pass, mask[len(dict)] whether
// null rows do. ok is false when p could not be evaluated (the filter
// above will report why).
func (p prefilter) dictMask(schema *arrow.Schema, dict arrow.Array, mem memory.Allocator) (mask []bool, ok bool) {
	defer func() {
		if recover() != nil {
			mask, ok = nil, false
		}
	}()
	d, isStr := dict.(*array.String)
	if !isStr {
		return nil, false
	}
	n := d.Len() + 1
	vb := array.NewStringBuilder(mem)
	for k := 0; k < d.Len(); k++ {
		if d.IsNull(k) {
			vb.AppendNull()
		} else {
			vb.Append(d.Value(k))
		}
	}
	vb.AppendNull()
	vals := vb.NewArray()
	vb.Release()
	defer vals.Release()
	r := p.eval(schema, vals, mem)
	if r == nil {
		return nil, false
	}
	defer r.Release()
	mask = make([]bool, n)
	for k := range mask {
		mask[k] = r.IsValid(k) && r.Value(k)
	}
	return mask, true
}

// selectDict keeps in sel the rows of d whose index passes mask: all rows
// when first, else those already in sel.
func selectDict(d *array.Dictionary, mask []bool, sel []int32, first bool) []int32 {
	null := len(mask) - 1
	pass := func(i int) bool {
		if d.IsNull(i) {
			return mask[null]
		}
		// An index out of range (a corrupt file) passes, for the
		// expansion to report.
		k := d.GetValueIndex(i)
		return k < 0 || k >= null || mask[k]
	}
	if ix, ok := d.Indices().(*array.Int32); ok && d.NullN() == 0 {
		return selectIndices(ix.Int32Values(), mask[:null], sel, first)
	}
	if first {
		sel = sel[:0]
		for i := 0; i < d.Len(); i++ {
			if pass(i) {
				sel = append(sel, int32(i))
			}
		}
		return sel
	}
	keep := 0
	for _, i := range sel {
		if pass(int(i)) {
			sel[keep] = i
			keep++
		}
	}
	return sel[:keep]
}

// selectIndices is selectDict over indices without nulls (an index out
// of range passes): one pass without a branch a row, the row written
// always and kept by counting it.
func selectIndices(idx []int32, mask []bool, sel []int32, first bool) []int32 {
	// A bool is one byte, 0 or 1: added, not branched on (a branch a row
	// mispredicts as often as the mask is mixed).
	m := unsafe.Slice((*uint8)(unsafe.Pointer(unsafe.SliceData(mask))), len(mask))
	pass := func(k int32) int {
		if uint(k) >= uint(len(m)) {
			return 1
		}
		return int(m[k])
	}
	if first {
		sel = slices.Grow(sel[:0], len(idx))[:len(idx)]
		n := 0
		for i, k := range idx {
			sel[n] = int32(i)
			n += pass(k)
		}
		return sel[:n]
	}
	n := 0
	for _, i := range sel {
		sel[n] = i
		n += pass(idx[i])
	}
	return sel[:n]
}

// keepWhere keeps, in place, the rows sel[i] for which m[i] is true (not
// null): m was evaluated over the rows of sel gathered.
func keepWhere(m *array.Boolean, sel []int32) []int32 {
	k := 0
	for i, r := range sel {
		if m.IsValid(i) && m.Value(i) {
			sel[k] = r
			k++
		}
	}
	return sel[:k]
}
