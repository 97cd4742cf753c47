package pgwire

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	pg "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/kapot-go/kapot/planner"
)

// maxParams bounds the parameters of one statement (the protocol's own
// limit is 65535).
const maxParams = 65535

// paramCount is the number of parameters ($1 … $n) sql takes.
func paramCount(sql string) (int, error) {
	n := 0
	err := planner.Placeholders(sql, func(_, _, k int) { n = max(n, k) })
	if err != nil {
		return 0, err
	}
	if n > maxParams {
		return 0, fmt.Errorf("%w: %d parameters, more than %d", errInvalidParam, n, maxParams)
	}
	return n, nil
}

// columnTypes gives the columns of a table by name (ok false: no such
// table).
type columnTypes func(table string) (map[string]arrow.DataType, []arrow.DataType, bool)

// paramTypes are the types of sql's parameters: those the client gave
// in Parse (0: unspecified), else the type a cast in the statement gives
// the parameter ($1::int8, CAST($2 AS date)), else the type of the
// column it is compared with (col = $1, col IN ($1, $2), col BETWEEN $1
// AND $2) or inserted into (INSERT INTO t VALUES ($1, …)), else unknown
// (a quoted literal, as PostgreSQL's "unknown").
func paramTypes(sql string, tree *pg.ParseResult, given []uint32, cols columnTypes) ([]uint32, error) {
	n, err := paramCount(sql)
	if err != nil {
		return nil, err
	}
	n = max(n, len(given))
	out := make([]uint32, n)
	copy(out, given)
	if tree != nil {
		walk(tree.ProtoReflect(), func(m protoreflect.Message) {
			tc, ok := m.Interface().(*pg.TypeCast)
			if !ok || tc.GetArg().GetParamRef() == nil || tc.GetTypeName() == nil || len(tc.GetTypeName().GetArrayBounds()) > 0 {
				return
			}
			k := int(tc.GetArg().GetParamRef().GetNumber()) - 1
			names := tc.GetTypeName().GetNames()
			if k < 0 || k >= n || out[k] != 0 || len(names) == 0 {
				return
			}
			out[k] = oidOfName(names[len(names)-1].GetString_().GetSval())
		})
		if cols != nil {
			inferFromColumns(tree, out, cols)
		}
	}
	for i, o := range out {
		if o == 0 {
			out[i] = oidUnknown
		}
	}
	return out, nil
}

// inferFromColumns gives the parameters still untyped in out the type
// of the column they meet.
func inferFromColumns(tree *pg.ParseResult, out []uint32, cols columnTypes) {
	byName := map[string]arrow.DataType{}
	ambiguous := map[string]bool{}
	walk(tree.ProtoReflect(), func(m protoreflect.Message) {
		rv, ok := m.Interface().(*pg.RangeVar)
		if !ok || isCatalogRelation(rv) {
			return
		}
		named, _, ok := cols(rv.GetRelname())
		if !ok {
			return
		}
		for n, t := range named {
			if old, seen := byName[n]; seen && !arrow.TypeEqual(old, t) {
				ambiguous[n] = true
			}
			byName[n] = t
		}
	})
	set := func(param *pg.Node, t arrow.DataType) {
		p := param.GetParamRef()
		if p == nil || t == nil {
			return
		}
		if k := int(p.GetNumber()) - 1; k >= 0 && k < len(out) && out[k] == 0 {
			out[k] = typeOf(t).oid
		}
	}
	colType := func(n *pg.Node) arrow.DataType {
		cr := n.GetColumnRef()
		if cr == nil {
			return nil
		}
		f := cr.GetFields()
		name := strings.ToLower(f[len(f)-1].GetString_().GetSval())
		if ambiguous[name] {
			return nil
		}
		return byName[name]
	}
	walk(tree.ProtoReflect(), func(m protoreflect.Message) {
		switch e := m.Interface().(type) {
		case *pg.A_Expr:
			l, r := e.GetLexpr(), e.GetRexpr()
			switch {
			case e.GetKind() == pg.A_Expr_Kind_AEXPR_IN || e.GetKind() == pg.A_Expr_Kind_AEXPR_BETWEEN:
				for _, item := range r.GetList().GetItems() {
					set(item, colType(l))
				}
			default:
				set(r, colType(l))
				set(l, colType(r))
			}
		case *pg.InsertStmt:
			_, ordered, ok := cols(e.GetRelation().GetRelname())
			named, _, _ := cols(e.GetRelation().GetRelname())
			sel := e.GetSelectStmt().GetSelectStmt()
			if !ok || sel == nil {
				return
			}
			for _, row := range sel.GetValuesLists() {
				for i, v := range row.GetList().GetItems() {
					switch {
					case len(e.GetCols()) > i:
						set(v, named[strings.ToLower(e.GetCols()[i].GetResTarget().GetName())])
					case len(e.GetCols()) == 0 && i < len(ordered):
						set(v, ordered[i])
					}
				}
			}
		}
	})
}

// walk calls f on m and every message under it.
func walk(m protoreflect.Message, f func(protoreflect.Message)) {
	f(m)
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Message() != nil:
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				walk(l.Get(i).Message(), f)
			}
		case fd.IsMap():
		case fd.Message() != nil:
			walk(v.Message(), f)
		}
		return true
	})
}

// oidOfName is the OID of a type by its internal name (the parser's:
// bigint is int8), 0 for a type kapot does not take as a parameter.
func oidOfName(name string) uint32 {
	switch strings.ToLower(name) {
	case "bool":
		return oidBool
	case "int2":
		return oidInt2
	case "int4":
		return oidInt4
	case "int8":
		return oidInt8
	case "float4":
		return oidFloat4
	case "float8":
		return oidFloat8
	case "numeric", "decimal":
		return oidNumeric
	case "text":
		return oidText
	case "varchar":
		return oidVarchar
	case "bpchar":
		return oidBpchar
	case "date":
		return oidDate
	case "timestamp":
		return oidTimestamp
	case "timestamptz":
		return oidTimestamptz
	case "interval":
		return oidInterval
	case "bytea":
		return oidBytea
	}
	return 0
}

// bindSQL substitutes the literals lits for sql's parameters.
func bindSQL(sql string, lits []string) (string, error) {
	want, err := paramCount(sql)
	if err != nil {
		return "", err
	}
	if want != len(lits) {
		return "", fmt.Errorf("%w: the statement takes %d parameter(s), %d bound", errInvalidParam, want, len(lits))
	}
	if want == 0 {
		return sql, nil
	}
	var b strings.Builder
	last := 0
	err = planner.Placeholders(sql, func(start, end, n int) {
		b.WriteString(sql[last:start])
		b.WriteString(lits[n-1])
		last = end
	})
	b.WriteString(sql[last:])
	return b.String(), err
}

// quote is s as a SQL string literal.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// literal is a parameter's value v (nil: NULL) of type oid, sent in
// binary or text, as a SQL literal of its type: the statement is planned
// with the value in it, never with the client's text spliced in.
func literal(oid uint32, bin bool, v []byte) (string, error) {
	if v == nil {
		return "NULL", nil
	}
	if bin {
		return binaryLiteral(oid, v)
	}
	s := string(v)
	if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
		return "", fmt.Errorf("%w: not UTF-8 text", errInvalidParam)
	}
	t := strings.TrimSpace(s)
	switch oid {
	case oidInt2, oidInt4, oidInt8:
		n, err := strconv.ParseInt(t, 10, 64)
		if err != nil {
			return "", fmt.Errorf("%w: %q is not an integer", errInvalidParam, s)
		}
		return intLiteral(oid, n), nil
	case oidFloat4, oidFloat8:
		f, err := strconv.ParseFloat(t, 64)
		if err != nil {
			return "", fmt.Errorf("%w: %q is not a number", errInvalidParam, s)
		}
		return floatLiteral(oid, f), nil
	case oidNumeric:
		if _, ok := new(big.Rat).SetString(t); !ok || strings.ContainsAny(t, "/_xXoObBpP") {
			return "", fmt.Errorf("%w: %q is not a number", errInvalidParam, s)
		}
		return "(" + t + ")", nil
	case oidBool:
		switch strings.ToLower(t) {
		case "t", "true", "y", "yes", "on", "1":
			return "TRUE", nil
		case "f", "false", "n", "no", "off", "0":
			return "FALSE", nil
		}
		return "", fmt.Errorf("%w: %q is not a boolean", errInvalidParam, s)
	case oidDate:
		d, err := time.Parse(time.DateOnly, t)
		if err != nil {
			return "", fmt.Errorf("%w: %q is not a date (YYYY-MM-DD)", errInvalidParam, s)
		}
		return "DATE '" + d.Format(time.DateOnly) + "'", nil
	case oidTimestamp:
		return "TIMESTAMP " + quote(t), nil
	case oidTimestamptz:
		return "TIMESTAMPTZ " + quote(t), nil
	case oidInterval:
		return "INTERVAL " + quote(t), nil
	case oidText, oidVarchar, oidBpchar, oidName, oidUnknown, 0:
		return quote(s), nil
	}
	return "", fmt.Errorf("%w: parameters of type OID %d", errNotSupported, oid)
}

func intLiteral(oid uint32, n int64) string {
	t := "BIGINT"
	switch oid {
	case oidInt2:
		t = "SMALLINT"
	case oidInt4:
		t = "INTEGER"
	}
	return "CAST(" + strconv.FormatInt(n, 10) + " AS " + t + ")"
}

func floatLiteral(oid uint32, f float64) string {
	t := "DOUBLE"
	if oid == oidFloat4 {
		t = "REAL"
	}
	var s string
	switch {
	case math.IsNaN(f):
		s = "NaN"
	case math.IsInf(f, 1):
		s = "Infinity"
	case math.IsInf(f, -1):
		s = "-Infinity"
	default:
		s = strconv.FormatFloat(f, 'g', -1, 64)
	}
	return "CAST('" + s + "' AS " + t + ")"
}

// binaryLiteral reads a parameter sent in binary.
func binaryLiteral(oid uint32, v []byte) (string, error) {
	size := func(n int) error {
		if len(v) != n {
			return fmt.Errorf("%w: %d bytes for a binary value of type OID %d, want %d", errInvalidParam, len(v), oid, n)
		}
		return nil
	}
	switch oid {
	case oidInt2:
		if err := size(2); err != nil {
			return "", err
		}
		return intLiteral(oid, int64(int16(binary.BigEndian.Uint16(v)))), nil
	case oidInt4:
		if err := size(4); err != nil {
			return "", err
		}
		return intLiteral(oid, int64(int32(binary.BigEndian.Uint32(v)))), nil
	case oidInt8:
		if err := size(8); err != nil {
			return "", err
		}
		return intLiteral(oid, int64(binary.BigEndian.Uint64(v))), nil
	case oidFloat4:
		if err := size(4); err != nil {
			return "", err
		}
		return floatLiteral(oid, float64(math.Float32frombits(binary.BigEndian.Uint32(v)))), nil
	case oidFloat8:
		if err := size(8); err != nil {
			return "", err
		}
		return floatLiteral(oid, math.Float64frombits(binary.BigEndian.Uint64(v))), nil
	case oidBool:
		if err := size(1); err != nil {
			return "", err
		}
		if v[0] != 0 {
			return "TRUE", nil
		}
		return "FALSE", nil
	case oidDate:
		if err := size(4); err != nil {
			return "", err
		}
		days := int64(int32(binary.BigEndian.Uint32(v))) + pgEpochDays
		return "DATE '" + time.Unix(days*86400, 0).UTC().Format(time.DateOnly) + "'", nil
	case oidTimestamp, oidTimestamptz:
		if err := size(8); err != nil {
			return "", err
		}
		us := int64(binary.BigEndian.Uint64(v))
		if us > math.MaxInt64-pgEpochMicros || us < math.MinInt64+pgEpochMicros {
			return "", fmt.Errorf("%w: timestamp out of range", errInvalidParam)
		}
		ts := time.UnixMicro(us + pgEpochMicros).UTC().Format("2006-01-02 15:04:05.999999")
		if oid == oidTimestamptz {
			return "TIMESTAMPTZ '" + ts + "+00'", nil
		}
		return "TIMESTAMP '" + ts + "'", nil
	case oidInterval:
		if err := size(16); err != nil {
			return "", err
		}
		us, days, months := int64(binary.BigEndian.Uint64(v)), int32(binary.BigEndian.Uint32(v[8:])), int32(binary.BigEndian.Uint32(v[12:]))
		return fmt.Sprintf("(INTERVAL '%d months' + INTERVAL '%d days' + INTERVAL '%d microseconds')", months, days, us), nil
	case oidNumeric:
		return numericLiteral(v)
	case oidText, oidVarchar, oidBpchar, oidName, oidUnknown:
		return literal(oidText, false, v)
	}
	return "", fmt.Errorf("%w: binary parameters of type OID %d", errNotSupported, oid)
}

// numericLiteral reads a binary numeric: ndigits, weight, sign, dscale,
// then base-10000 digits.
func numericLiteral(v []byte) (string, error) {
	if len(v) < 8 {
		return "", fmt.Errorf("%w: short binary numeric", errInvalidParam)
	}
	ndigits, weight, sign, dscale := int(binary.BigEndian.Uint16(v)), int(int16(binary.BigEndian.Uint16(v[2:]))), binary.BigEndian.Uint16(v[4:]), int(binary.BigEndian.Uint16(v[6:]))
	if len(v) != 8+2*ndigits || dscale > 1000 {
		return "", fmt.Errorf("%w: malformed binary numeric", errInvalidParam)
	}
	switch sign {
	case 0x0000, 0x4000:
	case 0xC000:
		return "CAST('NaN' AS DOUBLE)", nil
	default:
		return "", fmt.Errorf("%w: binary numeric sign %#x", errNotSupported, sign)
	}
	n := new(big.Int)
	base := big.NewInt(10000)
	for i := 0; i < ndigits; i++ {
		d := binary.BigEndian.Uint16(v[8+2*i:])
		if d >= 10000 {
			return "", fmt.Errorf("%w: malformed binary numeric", errInvalidParam)
		}
		n.Mul(n, base).Add(n, big.NewInt(int64(d)))
	}
	// n × 10000^(weight-ndigits+1), written at dscale digits.
	exp := 4 * (weight - ndigits + 1)
	if exp > 4000 || exp < -4000 {
		return "", fmt.Errorf("%w: binary numeric out of range", errInvalidParam)
	}
	r := new(big.Rat).SetInt(n)
	p := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(abs(exp))), nil)
	if exp >= 0 {
		r.Mul(r, new(big.Rat).SetInt(p))
	} else {
		r.Quo(r, new(big.Rat).SetInt(p))
	}
	s := r.FloatString(dscale)
	if sign == 0x4000 {
		s = "-" + s
	}
	return "(" + s + ")", nil
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
