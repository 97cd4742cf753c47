package pgwire

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/kapot-go/kapot/engine/expr"
)

// PostgreSQL's type OIDs of the types kapot answers with.
const (
	oidBool        = pgtype.BoolOID
	oidBytea       = pgtype.ByteaOID
	oidInt8        = pgtype.Int8OID
	oidInt2        = pgtype.Int2OID
	oidInt4        = pgtype.Int4OID
	oidText        = pgtype.TextOID
	oidFloat4      = pgtype.Float4OID
	oidFloat8      = pgtype.Float8OID
	oidVarchar     = pgtype.VarcharOID
	oidBpchar      = pgtype.BPCharOID
	oidName        = pgtype.NameOID
	oidDate        = pgtype.DateOID
	oidTimestamp   = pgtype.TimestampOID
	oidTimestamptz = pgtype.TimestamptzOID
	oidInterval    = pgtype.IntervalOID
	oidNumeric     = pgtype.NumericOID
	oidUnknown     = pgtype.UnknownOID
	oidOid         = pgtype.OIDOID
	oidChar        = pgtype.QCharOID
)

// pgEpoch is 2000-01-01, where PostgreSQL's binary dates and timestamps
// count from: in days from the Unix epoch, and in microseconds.
const (
	pgEpochDays   = 10957
	pgEpochMicros = int64(pgEpochDays) * 86400 * 1_000_000
)

// pgType is how a column of an Arrow type is described and encoded.
type pgType struct {
	oid    uint32
	size   int16
	typmod int32
}

// typeOf is the PostgreSQL type that carries Arrow type t: every type a
// kapot result has.
func typeOf(t arrow.DataType) pgType {
	switch t.ID() {
	case arrow.BOOL:
		return pgType{oidBool, 1, -1}
	case arrow.INT8, arrow.INT16, arrow.UINT8:
		return pgType{oidInt2, 2, -1}
	case arrow.INT32, arrow.UINT16:
		return pgType{oidInt4, 4, -1}
	case arrow.INT64, arrow.UINT32:
		return pgType{oidInt8, 8, -1}
	case arrow.UINT64:
		return pgType{oidNumeric, -1, -1}
	case arrow.FLOAT32:
		return pgType{oidFloat4, 4, -1}
	case arrow.FLOAT64:
		return pgType{oidFloat8, 8, -1}
	case arrow.DECIMAL128:
		d := t.(*arrow.Decimal128Type)
		return pgType{oidNumeric, -1, (d.Precision<<16 | d.Scale) + 4}
	case arrow.BINARY, arrow.LARGE_BINARY:
		return pgType{oidBytea, -1, -1}
	case arrow.DATE32:
		return pgType{oidDate, 4, -1}
	case arrow.TIMESTAMP:
		if t.(*arrow.TimestampType).TimeZone != "" {
			return pgType{oidTimestamptz, 8, -1}
		}
		return pgType{oidTimestamp, 8, -1}
	case arrow.INTERVAL_MONTH_DAY_NANO:
		return pgType{oidInterval, 16, -1}
	}
	// VARCHAR, and LIST, STRUCT and MAP in DuckDB's text form ([1, 2],
	// {'a': 1}, {k=1}): text, not PostgreSQL's arrays or records, whose
	// text forms differ.
	return pgType{oidText, -1, -1}
}

// column is one column of a result: its description and how its values
// are encoded in the format the client asked for.
type column struct {
	name   string
	typ    pgType
	binary bool
}

// fields is the RowDescription of cols.
func fields(cols []column) []pgproto3.FieldDescription {
	out := make([]pgproto3.FieldDescription, len(cols))
	for i, c := range cols {
		f := int16(pgproto3.TextFormat)
		if c.binary {
			f = pgproto3.BinaryFormat
		}
		out[i] = pgproto3.FieldDescription{Name: []byte(c.name), DataTypeOID: c.typ.oid, DataTypeSize: c.typ.size, TypeModifier: c.typ.typmod, Format: f}
	}
	return out
}

// columnsOf describes the columns of schema, with the result formats
// formats (Bind's: none means text, one applies to every column).
func columnsOf(schema *arrow.Schema, formats []int16) ([]column, error) {
	cols := make([]column, schema.NumFields())
	for i, f := range schema.Fields() {
		b, err := formatAt(formats, i, len(cols))
		if err != nil {
			return nil, err
		}
		cols[i] = column{name: f.Name, typ: typeOf(f.Type), binary: b}
	}
	return cols, nil
}

// formatAt is whether value i of n is in binary by the format codes of a
// Bind (none: text; one: all; else one each).
func formatAt(formats []int16, i, n int) (bool, error) {
	var f int16
	switch len(formats) {
	case 0:
	case 1:
		f = formats[0]
	default:
		if len(formats) != n {
			return false, fmt.Errorf("%d format codes for %d values", len(formats), n)
		}
		f = formats[i]
	}
	switch f {
	case pgproto3.TextFormat:
		return false, nil
	case pgproto3.BinaryFormat:
		return true, nil
	}
	return false, fmt.Errorf("format code %d: want 0 (text) or 1 (binary)", f)
}

// appendValue appends row i of arr in the column's format to buf. The
// caller handles nulls.
func appendValue(buf []byte, arr arrow.Array, i int, binFormat bool) ([]byte, error) {
	if binFormat {
		return appendBinary(buf, arr, i)
	}
	return appendText(buf, arr, i)
}

// appendText appends row i of arr as PostgreSQL writes it in text.
func appendText(buf []byte, arr arrow.Array, i int) ([]byte, error) {
	switch a := arr.(type) {
	case *array.Boolean:
		if a.Value(i) {
			return append(buf, 't'), nil
		}
		return append(buf, 'f'), nil
	case *array.Int8:
		return strconv.AppendInt(buf, int64(a.Value(i)), 10), nil
	case *array.Int16:
		return strconv.AppendInt(buf, int64(a.Value(i)), 10), nil
	case *array.Int32:
		return strconv.AppendInt(buf, int64(a.Value(i)), 10), nil
	case *array.Int64:
		return strconv.AppendInt(buf, a.Value(i), 10), nil
	case *array.Uint8:
		return strconv.AppendUint(buf, uint64(a.Value(i)), 10), nil
	case *array.Uint16:
		return strconv.AppendUint(buf, uint64(a.Value(i)), 10), nil
	case *array.Uint32:
		return strconv.AppendUint(buf, uint64(a.Value(i)), 10), nil
	case *array.Uint64:
		return strconv.AppendUint(buf, a.Value(i), 10), nil
	case *array.Float32:
		return appendFloat(buf, float64(a.Value(i)), 32), nil
	case *array.Float64:
		return appendFloat(buf, a.Value(i), 64), nil
	case *array.Decimal128:
		v, scale := a.Value(i), a.DataType().(*arrow.Decimal128Type).Scale
		if v.FitsInPrecision(18) {
			return appendSmallDecimal(buf, int64(v.LowBits()), scale), nil
		}
		return append(buf, v.ToString(scale)...), nil
	case *array.String:
		return append(buf, a.Value(i)...), nil
	case *array.LargeString:
		return append(buf, a.Value(i)...), nil
	case *array.Binary:
		buf = append(buf, `\x`...)
		return hex.AppendEncode(buf, a.Value(i)), nil
	case *array.LargeBinary:
		buf = append(buf, `\x`...)
		return hex.AppendEncode(buf, a.Value(i)), nil
	case *array.Date32:
		return time.Unix(int64(a.Value(i))*86400, 0).UTC().AppendFormat(buf, time.DateOnly), nil
	case *array.Timestamp:
		t := a.DataType().(*arrow.TimestampType)
		buf = a.Value(i).ToTime(t.Unit).UTC().AppendFormat(buf, "2006-01-02 15:04:05.999999")
		if t.TimeZone != "" {
			buf = append(buf, "+00"...)
		}
		return buf, nil
	case *array.MonthDayNanoInterval:
		v := a.Value(i)
		return appendInterval(buf, int64(v.Months), int64(v.Days), v.Nanoseconds/1000), nil
	case *array.Null:
		return buf, nil
	case *array.List, *array.LargeList, *array.FixedSizeList, *array.Map, *array.Struct:
		return expr.AppendNestedText(buf, arr, i), nil
	}
	return append(buf, arr.ValueStr(i)...), nil
}

// appendSmallDecimal writes unscaled/10^scale (at most 18 digits) at
// its scale, as PostgreSQL writes a numeric.
func appendSmallDecimal(buf []byte, unscaled int64, scale int32) []byte {
	if unscaled < 0 {
		buf = append(buf, '-')
	}
	u := uint64(unscaled)
	if unscaled < 0 {
		u = -u
	}
	var d [24]byte
	digits := strconv.AppendUint(d[:0], u, 10)
	if scale <= 0 {
		return append(buf, digits...)
	}
	s := int(scale)
	if len(digits) <= s {
		buf = append(buf, '0', '.')
		for range s - len(digits) {
			buf = append(buf, '0')
		}
		return append(buf, digits...)
	}
	buf = append(buf, digits[:len(digits)-s]...)
	buf = append(buf, '.')
	return append(buf, digits[len(digits)-s:]...)
}

// appendFloat writes a float as PostgreSQL does (shortest round trip;
// exponent notation below 1e-4 and from 1e15; Infinity, NaN).
func appendFloat(buf []byte, v float64, bits int) []byte {
	switch {
	case math.IsNaN(v):
		return append(buf, "NaN"...)
	case math.IsInf(v, 1):
		return append(buf, "Infinity"...)
	case math.IsInf(v, -1):
		return append(buf, "-Infinity"...)
	case v == 0:
		if math.Signbit(v) {
			return append(buf, "-0"...)
		}
		return append(buf, '0')
	}
	exp := int(math.Floor(math.Log10(math.Abs(v))))
	if exp < -4 || exp >= 15 {
		return strconv.AppendFloat(buf, v, 'e', -1, bits)
	}
	return strconv.AppendFloat(buf, v, 'f', -1, bits)
}

// appendInterval writes an interval in PostgreSQL's default style
// ("1 year 2 mons 3 days 04:05:06.5").
func appendInterval(buf []byte, months, days, micros int64) []byte {
	start := len(buf)
	part := func(n int64, unit string) {
		if n == 0 {
			return
		}
		if len(buf) > start {
			buf = append(buf, ' ')
		}
		buf = strconv.AppendInt(buf, n, 10)
		buf = append(buf, ' ')
		buf = append(buf, unit...)
		if n != 1 {
			buf = append(buf, 's')
		}
	}
	part(months/12, "year")
	part(months%12, "mon")
	part(days, "day")
	if micros != 0 || len(buf) == start {
		if len(buf) > start {
			buf = append(buf, ' ')
		}
		if micros < 0 {
			buf = append(buf, '-')
			micros = -micros
		}
		h, m, s, us := micros/3_600_000_000, micros/60_000_000%60, micros/1_000_000%60, micros%1_000_000
		buf = fmt.Appendf(buf, "%02d:%02d:%02d", h, m, s)
		if us != 0 {
			buf = append(buf, strings.TrimRight(fmt.Sprintf(".%06d", us), "0")...)
		}
	}
	return buf
}

// appendBinary appends row i of arr in PostgreSQL's binary format.
func appendBinary(buf []byte, arr arrow.Array, i int) ([]byte, error) {
	switch a := arr.(type) {
	case *array.Boolean:
		if a.Value(i) {
			return append(buf, 1), nil
		}
		return append(buf, 0), nil
	case *array.Int8:
		return binary.BigEndian.AppendUint16(buf, uint16(int16(a.Value(i)))), nil
	case *array.Int16:
		return binary.BigEndian.AppendUint16(buf, uint16(a.Value(i))), nil
	case *array.Uint8:
		return binary.BigEndian.AppendUint16(buf, uint16(a.Value(i))), nil
	case *array.Int32:
		return binary.BigEndian.AppendUint32(buf, uint32(a.Value(i))), nil
	case *array.Uint16:
		return binary.BigEndian.AppendUint32(buf, uint32(a.Value(i))), nil
	case *array.Int64:
		return binary.BigEndian.AppendUint64(buf, uint64(a.Value(i))), nil
	case *array.Uint32:
		return binary.BigEndian.AppendUint64(buf, uint64(a.Value(i))), nil
	case *array.Uint64:
		return appendNumeric(buf, new(big.Int).SetUint64(a.Value(i)), 0)
	case *array.Float32:
		return binary.BigEndian.AppendUint32(buf, math.Float32bits(a.Value(i))), nil
	case *array.Float64:
		return binary.BigEndian.AppendUint64(buf, math.Float64bits(a.Value(i))), nil
	case *array.Decimal128:
		v, scale := a.Value(i), a.DataType().(*arrow.Decimal128Type).Scale
		if v.FitsInPrecision(18) {
			return appendSmallNumeric(buf, v.LowBits(), v.Sign() < 0, scale), nil
		}
		return appendNumeric(buf, v.BigInt(), scale)
	case *array.String:
		return append(buf, a.Value(i)...), nil
	case *array.LargeString:
		return append(buf, a.Value(i)...), nil
	case *array.Binary:
		return append(buf, a.Value(i)...), nil
	case *array.LargeBinary:
		return append(buf, a.Value(i)...), nil
	case *array.Date32:
		return binary.BigEndian.AppendUint32(buf, uint32(int32(a.Value(i))-pgEpochDays)), nil
	case *array.Timestamp:
		us := a.Value(i).ToTime(a.DataType().(*arrow.TimestampType).Unit).UnixMicro()
		return binary.BigEndian.AppendUint64(buf, uint64(us-pgEpochMicros)), nil
	case *array.MonthDayNanoInterval:
		v := a.Value(i)
		buf = binary.BigEndian.AppendUint64(buf, uint64(v.Nanoseconds/1000))
		buf = binary.BigEndian.AppendUint32(buf, uint32(v.Days))
		return binary.BigEndian.AppendUint32(buf, uint32(v.Months)), nil
	case *array.List, *array.LargeList, *array.FixedSizeList, *array.Map, *array.Struct:
		// text (25): a text's binary form is its bytes.
		return expr.AppendNestedText(buf, arr, i), nil
	}
	return nil, fmt.Errorf("%w: binary format of %s", errNotSupported, arr.DataType())
}

// appendSmallNumeric appends a numeric of at most 18 digits (unscaled,
// in two's complement when negative, at scale) without big.Int: a
// numeric's binary form is base-10000 digits aligned on the decimal
// point, with the weight of the first, the sign and the display scale.
func appendSmallNumeric(buf []byte, unscaled uint64, negative bool, scale int32) []byte {
	v := unscaled
	if negative {
		v = -v
	}
	pad := (4 - scale%4) % 4
	for range pad {
		v *= 10 // at most 18 + 3 digits: fits in a uint64
	}
	var groups [6]uint16 // least significant first
	n := 0
	for ; v > 0; v /= 10000 {
		groups[n] = uint16(v % 10000)
		n++
	}
	fracGroups := int((scale + pad) / 4)
	weight := n - fracGroups - 1
	lo := 0 // trailing zero groups are left out
	for lo < n && groups[lo] == 0 {
		lo++
	}
	sign := uint16(0)
	if negative && n > 0 {
		sign = 0x4000
	}
	if n == 0 {
		weight = 0
	}
	buf = binary.BigEndian.AppendUint16(buf, uint16(n-lo))
	buf = binary.BigEndian.AppendUint16(buf, uint16(int16(weight)))
	buf = binary.BigEndian.AppendUint16(buf, sign)
	buf = binary.BigEndian.AppendUint16(buf, uint16(scale))
	for k := n - 1; k >= lo; k-- {
		buf = binary.BigEndian.AppendUint16(buf, groups[k])
	}
	return buf
}

// appendNumeric appends unscaled/10^scale as a binary numeric.
func appendNumeric(buf []byte, unscaled *big.Int, scale int32) ([]byte, error) {
	plan := pgtype.NumericCodec{}.PlanEncode(nil, oidNumeric, pgtype.BinaryFormatCode, pgtype.Numeric{})
	if plan == nil {
		return nil, fmt.Errorf("no binary numeric encoder")
	}
	return plan.Encode(pgtype.Numeric{Int: unscaled, Exp: -scale, Valid: true}, buf)
}
