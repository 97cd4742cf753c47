package expr

import (
	"bytes"
	"cmp"
	"math/big"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/scalar"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/metadata"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// RowGroupPruner decides from a row group's column statistics whether the
// group can hold a row for which the scan's predicate is true. It is
// conservative: anything it does not understand keeps the group.
type RowGroupPruner struct {
	pred   Expr
	schema *arrow.Schema // the file's Arrow schema the predicate is bound to
}

// Keep reports whether row group rg of pf may match.
func (p *RowGroupPruner) Keep(pf *file.Reader, rg int) bool {
	return p.mayMatch(p.pred, pf.MetaData().RowGroup(rg)) != verdictNever
}

type verdict int

const (
	verdictMaybe verdict = iota
	verdictNever
)

func (p *RowGroupPruner) mayMatch(e Expr, rg *metadata.RowGroupMetaData) verdict {
	switch x := e.(type) {
	case *funcExpr:
		switch x.name {
		case "and_kleene":
			if p.mayMatch(x.args[0], rg) == verdictNever || p.mayMatch(x.args[1], rg) == verdictNever {
				return verdictNever
			}
			return verdictMaybe
		case "or_kleene":
			if p.mayMatch(x.args[0], rg) == verdictNever && p.mayMatch(x.args[1], rg) == verdictNever {
				return verdictNever
			}
			return verdictMaybe
		case "is_null":
			if c, ok := x.args[0].(*columnExpr); ok {
				if st := p.stats(c, rg); st != nil && st.HasNullCount() && st.NullCount() == 0 {
					return verdictNever
				}
			}
			return verdictMaybe
		case "equal", "less", "less_equal", "greater", "greater_equal":
			return p.compare(x.name, x.args[0], x.args[1], rg)
		}
	case *inListExpr:
		if x.negated {
			return verdictMaybe
		}
		if x.list == nil {
			// A set sent as values: only its bounds are at hand.
			if x.setMin == nil {
				return verdictNever
			}
			if p.compare("greater_equal", x.in, x.setMin, rg) == verdictNever || p.compare("less_equal", x.in, x.setMax, rg) == verdictNever {
				return verdictNever
			}
			return verdictMaybe
		}
		for _, l := range x.list {
			eq := p.compare("equal", x.in, l, rg)
			if eq != verdictNever {
				return verdictMaybe
			}
		}
		return verdictNever
	}
	return verdictMaybe
}

var flipped = map[string]string{"equal": "equal", "less": "greater", "less_equal": "greater_equal", "greater": "less", "greater_equal": "less_equal"}

// compare prunes `col op literal` (or `literal op col`) by the column's
// min/max.
func (p *RowGroupPruner) compare(op string, l, r Expr, rg *metadata.RowGroupMetaData) verdict {
	c, okc := l.(*columnExpr)
	lit, okl := r.(*literalExpr)
	if !okc || !okl {
		c, okc = r.(*columnExpr)
		lit, okl = l.(*literalExpr)
		op = flipped[op]
	}
	if !okc || !okl || !lit.value.IsValid() {
		return verdictMaybe
	}
	st := p.stats(c, rg)
	if st == nil || !st.HasMinMax() {
		return verdictMaybe
	}
	lo, hi, ok := statBounds(st, c.typ)
	if !ok {
		return verdictMaybe
	}
	v, ok := literalBound(lit.value, c.typ)
	if !ok {
		return verdictMaybe
	}
	cmpMin, ok1 := compareBound(lo, v)
	cmpMax, ok2 := compareBound(hi, v)
	if !ok1 || !ok2 {
		return verdictMaybe
	}
	never := false
	switch op {
	case "equal": // v outside [min, max]
		never = cmpMin > 0 || cmpMax < 0
	case "less": // col < v impossible when min >= v
		never = cmpMin >= 0
	case "less_equal":
		never = cmpMin > 0
	case "greater": // col > v impossible when max <= v
		never = cmpMax <= 0
	case "greater_equal":
		never = cmpMax < 0
	}
	if never {
		return verdictNever
	}
	return verdictMaybe
}

func (p *RowGroupPruner) stats(c *columnExpr, rg *metadata.RowGroupMetaData) metadata.TypedStatistics {
	idx := rg.Schema.ColumnIndexByName(c.name)
	if idx < 0 {
		return nil
	}
	cc, err := rg.ColumnChunk(idx)
	if err != nil {
		return nil
	}
	if ok, err := cc.StatsSet(); !ok || err != nil {
		return nil
	}
	st, err := cc.Statistics()
	if err != nil {
		return nil
	}
	return st
}

// decBound is a decimal with its scale, for exact comparison.
type decBound struct {
	v     decimal128.Num
	scale int32
}

// statBounds converts a column chunk's min and max to comparable values for
// a column of Arrow type t: int64, float64, []byte or decBound.
func statBounds(st metadata.TypedStatistics, t arrow.DataType) (lo, hi any, ok bool) {
	if d, isDec := t.(*arrow.Decimal128Type); isDec {
		switch s := st.(type) {
		case *metadata.Int32Statistics:
			return decBound{decimal128.FromI64(int64(s.Min())), d.Scale}, decBound{decimal128.FromI64(int64(s.Max())), d.Scale}, true
		case *metadata.Int64Statistics:
			return decBound{decimal128.FromI64(s.Min()), d.Scale}, decBound{decimal128.FromI64(s.Max()), d.Scale}, true
		case *metadata.FixedLenByteArrayStatistics:
			return decBound{beDecimal(s.Min()), d.Scale}, decBound{beDecimal(s.Max()), d.Scale}, true
		case *metadata.ByteArrayStatistics:
			return decBound{beDecimal(s.Min()), d.Scale}, decBound{beDecimal(s.Max()), d.Scale}, true
		}
		return nil, nil, false
	}
	switch s := st.(type) {
	case *metadata.Int32Statistics:
		return int64(s.Min()), int64(s.Max()), true
	case *metadata.Int64Statistics:
		return s.Min(), s.Max(), true
	case *metadata.Float32Statistics:
		return float64(s.Min()), float64(s.Max()), true
	case *metadata.Float64Statistics:
		return s.Min(), s.Max(), true
	case *metadata.ByteArrayStatistics:
		if t.ID() == arrow.STRING || t.ID() == arrow.LARGE_STRING {
			return []byte(s.Min()), []byte(s.Max()), true
		}
	}
	return nil, nil, false
}

// beDecimal reads a big-endian two's complement integer.
func beDecimal(b []byte) decimal128.Num {
	n := new(big.Int).SetBytes(b)
	if len(b) > 0 && b[0]&0x80 != 0 {
		n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	return decimal128.FromBigInt(n)
}

// literalBound converts a literal to the domain statBounds uses for a
// column of type t.
func literalBound(v scalar.Scalar, t arrow.DataType) (any, bool) {
	switch x := v.(type) {
	case *scalar.Int8:
		return int64(x.Value), isIntLike(t)
	case *scalar.Int16:
		return int64(x.Value), isIntLike(t)
	case *scalar.Int32:
		return int64(x.Value), isIntLike(t)
	case *scalar.Int64:
		if d, ok := t.(*arrow.Decimal128Type); ok {
			return decBound{decimal128.FromI64(x.Value), 0}, ok && d != nil
		}
		return x.Value, isIntLike(t)
	case *scalar.Date32:
		return int64(x.Value), t.ID() == arrow.DATE32
	case *scalar.Float64:
		return x.Value, arrow.IsFloating(t.ID())
	case *scalar.Float32:
		return float64(x.Value), arrow.IsFloating(t.ID())
	case *scalar.String:
		return x.Data(), t.ID() == arrow.STRING || t.ID() == arrow.LARGE_STRING
	case *scalar.Decimal128:
		return decBound{x.Value, x.Type.(*arrow.Decimal128Type).Scale}, t.ID() == arrow.DECIMAL128
	}
	return nil, false
}

func isIntLike(t arrow.DataType) bool {
	return arrow.IsInteger(t.ID()) && t.ID() != arrow.UINT64
}

// compareBound compares a statistics bound with a literal of the same
// domain.
func compareBound(a, b any) (int, bool) {
	switch x := a.(type) {
	case int64:
		y, ok := b.(int64)
		return cmp.Compare(x, y), ok
	case float64:
		y, ok := b.(float64)
		return cmp.Compare(x, y), ok
	case []byte:
		y, ok := b.([]byte)
		return bytes.Compare(x, y), ok
	case decBound:
		y, ok := b.(decBound)
		if !ok {
			return 0, false
		}
		xa, ya := x.v.BigInt(), y.v.BigInt()
		if x.scale < y.scale {
			xa.Mul(xa, pow10[y.scale-x.scale].BigInt())
		} else if y.scale < x.scale {
			ya.Mul(ya, pow10[x.scale-y.scale].BigInt())
		}
		return xa.Cmp(ya), true
	}
	return 0, false
}

// NewRowGroupPruner binds a pruning predicate over the file schema; a nil
// predicate prunes nothing.
func NewRowGroupPruner(pred *kapotv1.PhysicalExprNode, schema *arrow.Schema) (*RowGroupPruner, error) {
	if pred == nil {
		return nil, nil
	}
	e, err := FromProto(pred, schema)
	if err != nil {
		return nil, err
	}
	return &RowGroupPruner{pred: e, schema: schema}, nil
}
