package expr

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/compute/exec"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/scalar"

	"github.com/kapot-go/kapot/engine/kernel"
	"github.com/kapot-go/kapot/errs"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/wire"
)

// Expr is a scalar expression bound to an input schema.
type Expr interface {
	// DataType is the type of the values Eval returns.
	DataType() arrow.DataType
	// Eval computes one value per row of batch. The caller releases the result.
	Eval(ctx context.Context, mem memory.Allocator, batch arrow.RecordBatch) (arrow.Array, error)
	String() string
	evalDatum(ctx context.Context, batch arrow.RecordBatch) (compute.Datum, error)
}

// FromProto binds a wire expression to schema.
func FromProto(e *kapotv1.PhysicalExprNode, schema *arrow.Schema) (Expr, error) {
	if e == nil {
		return nil, fmt.Errorf("expression missing: %w", errs.ErrInvalidPlan)
	}
	switch x := e.GetExpr().(type) {
	case *kapotv1.PhysicalExprNode_Column:
		return newColumnExpr(x.Column, schema)
	case *kapotv1.PhysicalExprNode_Literal:
		s, err := ScalarFromProto(x.Literal)
		if err != nil {
			return nil, err
		}
		return &literalExpr{value: s}, nil
	case *kapotv1.PhysicalExprNode_Binary:
		l, err := FromProto(x.Binary.GetLeft(), schema)
		if err != nil {
			return nil, err
		}
		r, err := FromProto(x.Binary.GetRight(), schema)
		if err != nil {
			return nil, err
		}
		return newBinaryExpr(l, x.Binary.GetOp(), r)
	case *kapotv1.PhysicalExprNode_Not:
		in, err := FromProto(x.Not.GetExpr(), schema)
		if err != nil {
			return nil, err
		}
		if in.DataType().ID() != arrow.BOOL {
			return nil, fmt.Errorf("NOT of %s: operand must be boolean: %w", in.DataType(), errs.ErrInvalidPlan)
		}
		return &funcExpr{name: "not", args: []Expr{in}, typ: arrow.FixedWidthTypes.Boolean, display: "NOT"}, nil
	case *kapotv1.PhysicalExprNode_IsNull:
		in, err := FromProto(x.IsNull.GetExpr(), schema)
		if err != nil {
			return nil, err
		}
		name, display := "is_null", "IS NULL"
		if x.IsNull.GetNegated() {
			name, display = "is_valid", "IS NOT NULL"
		}
		return &funcExpr{name: name, args: []Expr{in}, typ: arrow.FixedWidthTypes.Boolean, display: display}, nil
	case *kapotv1.PhysicalExprNode_Cast:
		in, err := FromProto(x.Cast.GetExpr(), schema)
		if err != nil {
			return nil, err
		}
		t, err := wire.TypeFromProto(x.Cast.GetType())
		if err != nil {
			return nil, err
		}
		if arrow.TypeEqual(in.DataType(), t) {
			// A cast of a type to itself is a no-op (Arrow has no
			// date32 → date32 kernel; TPC-DS q21 and q40 cast dates).
			return in, nil
		}
		// To text, kapot's own cast (castToText) takes every number and
		// date type.
		nullToNested := in.DataType().ID() == arrow.NULL && IsNestedType(t)
		if (IsNestedType(in.DataType()) || IsNestedType(t)) && t.ID() != arrow.STRING && !nullToNested {
			return nil, fmt.Errorf("cast %s to %s (casts of nested values but to text): %w", in.DataType(), t, errs.ErrNotSupported)
		}
		toText := t.ID() == arrow.STRING && (arrow.IsDecimal(in.DataType().ID()) || in.DataType().ID() == arrow.INTERVAL_MONTH_DAY_NANO ||
			IsNestedType(in.DataType()) || compute.CanCast(in.DataType(), t))
		textToDecimal := t.ID() == arrow.DECIMAL128 && isString(in.DataType())
		if !toText && !textToDecimal && !nullToNested && !isTimeCast(in.DataType(), t) && !compute.CanCast(in.DataType(), t) {
			return nil, fmt.Errorf("cast %s to %s: %w", in.DataType(), t, errs.ErrNotSupported)
		}
		return &castExpr{in: in, to: t, safe: x.Cast.GetSafe()}, nil
	case *kapotv1.PhysicalExprNode_Negative:
		in, err := FromProto(x.Negative.GetExpr(), schema)
		if err != nil {
			return nil, err
		}
		return newNegativeExpr(in)
	case *kapotv1.PhysicalExprNode_CaseWhen:
		return caseFromProto(x.CaseWhen, schema)
	case *kapotv1.PhysicalExprNode_InList:
		in, err := FromProto(x.InList.GetExpr(), schema)
		if err != nil {
			return nil, err
		}
		if ints, strs := x.InList.GetIntSet(), x.InList.GetStringSet(); ints != nil || strs != nil {
			if len(x.InList.GetList()) > 0 || ints != nil && strs != nil {
				return nil, fmt.Errorf("IN has both a list and a set: %w", errs.ErrInvalidPlan)
			}
			return newInSetExpr(in, ints, strs, x.InList.GetNegated())
		}
		list, err := exprsFromProto(x.InList.GetList(), schema)
		if err != nil {
			return nil, err
		}
		return newInListExpr(in, list, x.InList.GetNegated())
	case *kapotv1.PhysicalExprNode_Between:
		args, err := exprsFromProto([]*kapotv1.PhysicalExprNode{x.Between.GetExpr(), x.Between.GetLow(), x.Between.GetHigh()}, schema)
		if err != nil {
			return nil, err
		}
		return newBetweenExpr(args[0], args[1], args[2], x.Between.GetNegated())
	case *kapotv1.PhysicalExprNode_Like:
		args, err := exprsFromProto([]*kapotv1.PhysicalExprNode{x.Like.GetExpr(), x.Like.GetPattern()}, schema)
		if err != nil {
			return nil, err
		}
		return newLikeExpr(args[0], x.Like, args[1])
	case *kapotv1.PhysicalExprNode_Function:
		args, err := exprsFromProto(x.Function.GetArgs(), schema)
		if err != nil {
			return nil, err
		}
		return bindFunction(x.Function.GetName(), args)
	default:
		return nil, fmt.Errorf("expression %T: %w", x, errs.ErrNotSupported)
	}
}

func exprsFromProto(es []*kapotv1.PhysicalExprNode, schema *arrow.Schema) ([]Expr, error) {
	out := make([]Expr, len(es))
	for i, e := range es {
		var err error
		if out[i], err = FromProto(e, schema); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// caseFromProto binds CASE; with an operand each WHEN becomes operand = when.
func caseFromProto(c *kapotv1.CaseExpr, schema *arrow.Schema) (Expr, error) {
	if len(c.GetWhenThen()) == 0 {
		return nil, fmt.Errorf("CASE without WHEN: %w", errs.ErrInvalidPlan)
	}
	var operand Expr
	if c.GetOperand() != nil {
		var err error
		if operand, err = FromProto(c.GetOperand(), schema); err != nil {
			return nil, err
		}
	}
	out := &caseExpr{}
	var results []Expr
	for _, wt := range c.GetWhenThen() {
		w, err := FromProto(wt.GetWhen(), schema)
		if err != nil {
			return nil, err
		}
		if operand != nil {
			if w, err = newBinaryExpr(operand, kapotv1.BinaryOp_BINARY_OP_EQ, w); err != nil {
				return nil, fmt.Errorf("CASE: %w", err)
			}
		}
		if w.DataType().ID() != arrow.BOOL {
			return nil, fmt.Errorf("CASE WHEN %s is %s, not boolean: %w", w, w.DataType(), errs.ErrInvalidPlan)
		}
		t, err := FromProto(wt.GetThen(), schema)
		if err != nil {
			return nil, err
		}
		out.whens = append(out.whens, w)
		out.thens = append(out.thens, t)
		results = append(results, t)
	}
	if c.GetElseExpr() != nil {
		e, err := FromProto(c.GetElseExpr(), schema)
		if err != nil {
			return nil, err
		}
		out.els = e
		results = append(results, e)
	}
	t, err := commonType(results)
	if err != nil {
		return nil, fmt.Errorf("CASE results: %w", err)
	}
	out.typ = t
	return out, nil
}

func materialize(ctx context.Context, mem memory.Allocator, d compute.Datum, n int) (arrow.Array, error) {
	defer d.Release()
	switch v := d.(type) {
	case *compute.ArrayDatum:
		return v.MakeArray(), nil
	case *compute.ScalarDatum:
		return scalar.MakeArrayFromScalar(v.Value, n, mem)
	default:
		return nil, fmt.Errorf("expression produced %s: %w", d.Kind(), errs.ErrNotSupported)
	}
}

func evalArray(ctx context.Context, e Expr, mem memory.Allocator, batch arrow.RecordBatch) (arrow.Array, error) {
	ctx = exec.WithAllocator(ctx, mem)
	d, err := e.evalDatum(ctx, batch)
	if err != nil {
		return nil, fmt.Errorf("evaluate %s: %w", e, err)
	}
	return materialize(ctx, mem, d, int(batch.NumRows()))
}

// columnExpr reads an input column.
type columnExpr struct {
	index int
	name  string
	typ   arrow.DataType
}

func newColumnExpr(c *kapotv1.ColumnExpr, schema *arrow.Schema) (*columnExpr, error) {
	idx := int(c.GetIndex())
	if c.GetName() != "" {
		idxs := schema.FieldIndices(c.GetName())
		switch len(idxs) {
		case 0:
			return nil, fmt.Errorf("column %q not found in input (%s): %w", c.GetName(), FieldNames(schema), errs.ErrInvalidPlan)
		case 1:
			idx = idxs[0]
		default:
			return nil, fmt.Errorf("column %q is ambiguous in input (%s): %w", c.GetName(), FieldNames(schema), errs.ErrInvalidPlan)
		}
	}
	if idx < 0 || idx >= schema.NumFields() {
		return nil, fmt.Errorf("column index %d out of range for %d input columns: %w", idx, schema.NumFields(), errs.ErrInvalidPlan)
	}
	f := schema.Field(idx)
	return &columnExpr{index: idx, name: f.Name, typ: f.Type}, nil
}

func FieldNames(s *arrow.Schema) string {
	out := ""
	for i, f := range s.Fields() {
		if i > 0 {
			out += ", "
		}
		out += f.Name
	}
	return out
}

func (c *columnExpr) DataType() arrow.DataType { return c.typ }
func (c *columnExpr) String() string           { return fmt.Sprintf("%s@%d", c.name, c.index) }
func (c *columnExpr) Eval(ctx context.Context, mem memory.Allocator, b arrow.RecordBatch) (arrow.Array, error) {
	col := b.Column(c.index)
	col.Retain()
	return col, nil
}
func (c *columnExpr) evalDatum(_ context.Context, b arrow.RecordBatch) (compute.Datum, error) {
	return compute.NewDatum(b.Column(c.index)), nil
}

// funcExpr calls an Arrow compute function on its arguments.
type funcExpr struct {
	name    string
	args    []Expr
	typ     arrow.DataType
	display string
	opts    compute.FunctionOptions
}

func (f *funcExpr) DataType() arrow.DataType { return f.typ }
func (f *funcExpr) String() string {
	switch len(f.args) {
	case 1:
		return fmt.Sprintf("%s(%s)", f.display, f.args[0])
	case 2:
		// A left-deep chain of one operator (a OR b OR c …) is printed
		// in one pass: nesting Sprintf would copy it once per level.
		var rights []Expr
		var left Expr = f
		for {
			l, ok := left.(*funcExpr)
			if !ok || len(l.args) != 2 || l.display != f.display {
				break
			}
			rights = append(rights, l.args[1])
			left = l.args[0]
		}
		p := precedence(f)
		var b strings.Builder
		b.WriteString(operand(left, p, false))
		for i := len(rights) - 1; i >= 0; i-- {
			b.WriteString(" " + f.display + " ")
			b.WriteString(operand(rights[i], p, true))
		}
		return b.String()
	}
	return f.display
}

// precedence is how tightly e's printed form binds, as in SQL: OR, AND,
// comparisons (and LIKE, IN), + -, * / %; anything else is atomic.
func precedence(e Expr) int {
	display := ""
	switch x := e.(type) {
	case *funcExpr:
		if len(x.args) != 2 {
			return precAtom
		}
		display = x.display
	case *kernelExpr:
		if !x.infix {
			return precAtom
		}
		display = x.display
	case *inListExpr:
		return precCompare
	default:
		return precAtom
	}
	switch display {
	case "OR":
		return 1
	case "AND":
		return 2
	case "+", "-":
		return 5
	case "*", "/", "%":
		return 6
	}
	return precCompare
}

const (
	precCompare = 4
	precAtom    = 10
)

// operand prints e as an operand of an operator of precedence p, in
// parentheses where SQL would otherwise read it differently: what is
// printed parses back as the same expression (a * (1 - b), never
// a * 1 - b). Operators associate to the left, comparisons not at all.
func operand(e Expr, p int, right bool) string {
	q := precedence(e)
	if q < p || q == p && (right || p == precCompare) {
		return "(" + e.String() + ")"
	}
	return e.String()
}

func (f *funcExpr) Eval(ctx context.Context, mem memory.Allocator, b arrow.RecordBatch) (arrow.Array, error) {
	return evalArray(ctx, f, mem, b)
}
func (f *funcExpr) evalDatum(ctx context.Context, b arrow.RecordBatch) (compute.Datum, error) {
	if (f.name == "is_null" || f.name == "is_valid") && len(f.args) == 1 {
		// From the validity bitmap, for every type (Arrow's kernels
		// panic on decimals).
		mem := exec.GetAllocator(ctx)
		a, err := evalArg(ctx, f.args[0], mem, b)
		if err != nil {
			return nil, err
		}
		defer a.Release()
		// A Null-typed array (an untyped NULL) has no validity bitmap:
		// every row is null.
		allNull := a.DataType().ID() == arrow.NULL
		isNull := f.name == "is_null"
		return compute.NewDatumWithoutOwning(boolKernel(mem, a.Len(), func(i int) (bool, bool) { return (allNull || a.IsNull(i)) == isNull, true })), nil
	}
	if d, ok, err := f.constCompare(ctx, b); ok || err != nil {
		return d, err
	}
	args := make([]compute.Datum, 0, len(f.args))
	defer func() {
		for _, a := range args {
			a.Release()
		}
	}()
	for _, a := range f.args {
		d, err := a.evalDatum(ctx, b)
		if err != nil {
			return nil, err
		}
		if overflowChecked[f.name] {
			d = zeroNullSlots(ctx, d)
		}
		d, err = unsliced(ctx, d)
		if err != nil {
			return nil, err
		}
		args = append(args, d)
	}
	return kernel.CallFunction(ctx, f.name, f.opts, args...)
}

var binaryFuncs = map[kapotv1.BinaryOp]struct{ fn, display string }{
	kapotv1.BinaryOp_BINARY_OP_EQ:  {"equal", "="},
	kapotv1.BinaryOp_BINARY_OP_NEQ: {"not_equal", "!="},
	kapotv1.BinaryOp_BINARY_OP_LT:  {"less", "<"},
	kapotv1.BinaryOp_BINARY_OP_LTE: {"less_equal", "<="},
	kapotv1.BinaryOp_BINARY_OP_GT:  {"greater", ">"},
	kapotv1.BinaryOp_BINARY_OP_GTE: {"greater_equal", ">="},
	kapotv1.BinaryOp_BINARY_OP_AND: {"and_kleene", "AND"},
	kapotv1.BinaryOp_BINARY_OP_OR:  {"or_kleene", "OR"},
	kapotv1.BinaryOp_BINARY_OP_ADD: {"add", "+"},
	kapotv1.BinaryOp_BINARY_OP_SUB: {"subtract", "-"},
	kapotv1.BinaryOp_BINARY_OP_MUL: {"multiply", "*"},
	kapotv1.BinaryOp_BINARY_OP_DIV: {"divide", "/"},
}

func newBinaryExpr(l Expr, op kapotv1.BinaryOp, r Expr) (Expr, error) {
	if e, err := nestedCompare(l, op, r); e != nil || err != nil {
		return e, err
	}
	if op == kapotv1.BinaryOp_BINARY_OP_MOD {
		return newModExpr(l, r)
	}
	if e, err := timeArith(l, op, r); e != nil || err != nil {
		return e, err
	}
	if e, err := dateArith(l, op, r); e != nil || err != nil {
		return e, err
	}
	if e, err := decimalBinary(l, op, r); e != nil || err != nil {
		return e, err
	}
	if e := intervalCompare(l, op, r); e != nil {
		return e, nil
	}
	if e := decimalCompare(l, op, r); e != nil {
		return e, nil
	}
	if op == kapotv1.BinaryOp_BINARY_OP_DIV && (l.DataType().ID() == arrow.DECIMAL128 || r.DataType().ID() == arrow.DECIMAL128) {
		// Decimal division is done in float64, as DuckDB does.
		l = &castExpr{in: l, to: arrow.PrimitiveTypes.Float64}
		r = &castExpr{in: r, to: arrow.PrimitiveTypes.Float64}
	}
	// A decimal meets a float64 as the nearest float64 (decimalToFloat64),
	// not as Arrow's implicit cast, which multiplies by 10^-scale: 123.45
	// compared greater than avg(123.45).
	if l.DataType().ID() == arrow.DECIMAL128 && r.DataType().ID() == arrow.FLOAT64 {
		l = &castExpr{in: l, to: arrow.PrimitiveTypes.Float64}
	}
	if r.DataType().ID() == arrow.DECIMAL128 && l.DataType().ID() == arrow.FLOAT64 {
		r = &castExpr{in: r, to: arrow.PrimitiveTypes.Float64}
	}
	f, ok := binaryFuncs[op]
	if !ok {
		return nil, fmt.Errorf("binary operator %v: %w", op, errs.ErrNotSupported)
	}
	switch op {
	case kapotv1.BinaryOp_BINARY_OP_AND, kapotv1.BinaryOp_BINARY_OP_OR:
		if l.DataType().ID() != arrow.BOOL || r.DataType().ID() != arrow.BOOL {
			return nil, fmt.Errorf("%s %s %s: operands must be boolean, got %s and %s: %w", l, f.display, r, l.DataType(), r.DataType(), errs.ErrInvalidPlan)
		}
	}
	e, err := bindArrowFunc(f.fn, f.display, []Expr{l, r}, nil)
	if err != nil {
		return nil, fmt.Errorf("%s %s %s (%s, %s): %w", l, f.display, r, l.DataType(), r.DataType(), err)
	}
	return e, nil
}

// decimalText is the text castTextToDecimal takes: a plain or exponent
// number (no infinities, NaN, hexadecimal or underscores).
var decimalText = regexp.MustCompile(`^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$`)

// overflowChecked are the Arrow functions that fail on integer overflow.
// Arrow checks every slot, null ones too, and a null slot holds whatever
// its (recycled, unzeroed) buffer held: their integer arguments get their
// null slots zeroed first, or a NULL would fail a query with "overflow".
var overflowChecked = map[string]bool{"add": true, "subtract": true, "multiply": true, "divide": true, "abs": true, "negate": true}

// zeroNullSlots returns d with the values under its null slots set to
// zero, when it is an integer array with nulls (otherwise d itself).
func zeroNullSlots(ctx context.Context, d compute.Datum) compute.Datum {
	ad, ok := d.(*compute.ArrayDatum)
	if !ok || ad.Value.NullN() == 0 || !arrow.IsInteger(ad.Value.DataType().ID()) {
		return d
	}
	data := ad.Value
	bufs := data.Buffers()
	if len(bufs) < 2 || bufs[0] == nil || bufs[1] == nil {
		return d
	}
	width := data.DataType().(arrow.FixedWidthDataType).BitWidth() / 8
	mem := exec.GetAllocator(ctx)
	vals := memory.NewResizableBuffer(mem)
	vals.Resize(bufs[1].Len())
	copy(vals.Bytes(), bufs[1].Bytes())
	valid := bufs[0].Bytes()
	out := vals.Bytes()
	for i := 0; i < data.Len(); i++ {
		j := data.Offset() + i
		if !bitutil.BitIsSet(valid, j) {
			clear(out[j*width : (j+1)*width])
		}
	}
	nd := array.NewData(data.DataType(), data.Len(), []*memory.Buffer{bufs[0], vals}, nil, data.NullN(), data.Offset())
	vals.Release()
	d.Release()
	res := compute.NewDatum(nd)
	nd.Release()
	return res
}

// unsliced returns d copied to offset 0 when it is a sliced boolean or
// decimal array (a join's output is sliced), and d itself otherwise. Some
// Arrow kernels ignore the offset of such arrays and answer for the rows
// before the slice: not over booleans, is_in over decimals.
func unsliced(ctx context.Context, d compute.Datum) (compute.Datum, error) {
	ad, ok := d.(*compute.ArrayDatum)
	if !ok || ad.Value.Offset() == 0 {
		return d, nil
	}
	if id := ad.Value.DataType().ID(); id != arrow.BOOL && id != arrow.DECIMAL128 {
		return d, nil
	}
	flat, err := copyArray(ctx, ad)
	d.Release()
	if err != nil {
		return nil, err
	}
	out := compute.NewDatum(flat)
	flat.Release()
	return out, nil
}

// copyArray copies an array datum's rows to a new array at offset 0.
func copyArray(ctx context.Context, ad *compute.ArrayDatum) (arrow.Array, error) {
	a := ad.MakeArray()
	defer a.Release()
	return array.Concatenate([]arrow.Array{a}, exec.GetAllocator(ctx))
}
