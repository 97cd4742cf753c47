package wire

import (
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// The SQL time types, as Arrow types: TIMESTAMP (without time zone) is
// microseconds of no zone, TIMESTAMP_NS nanoseconds of no zone and
// TIMESTAMPTZ (arrow.FixedWidthTypes.Timestamp_us) microseconds in UTC.
var (
	Timestamp      = &arrow.TimestampType{Unit: arrow.Microsecond}
	TimestampNanos = &arrow.TimestampType{Unit: arrow.Nanosecond}
	TimestampTZ    = arrow.FixedWidthTypes.Timestamp_us
)

// TableType is the type a column of type t read from a file has in SQL:
// timestamps of seconds and milliseconds are TIMESTAMP (microseconds),
// nanoseconds without a zone TIMESTAMP_NS, and any timestamp with a zone
// (an instant: Parquet's isAdjustedToUTC) TIMESTAMPTZ, as DuckDB reads
// them. Other types are returned as they are.
func TableType(t arrow.DataType) arrow.DataType {
	ts, ok := t.(*arrow.TimestampType)
	switch {
	case !ok:
		return t
	case ts.TimeZone != "":
		return TimestampTZ
	case ts.Unit == arrow.Nanosecond:
		return TimestampNanos
	}
	return Timestamp
}

// TypeFromProto converts a wire data type to an Arrow type.
func TypeFromProto(t *kapotv1.DataType) (arrow.DataType, error) {
	if t == nil {
		return nil, fmt.Errorf("data type missing: %w", ErrInvalidPlan)
	}
	switch t.GetId() {
	case kapotv1.TypeId_TYPE_ID_NULL:
		return arrow.Null, nil
	case kapotv1.TypeId_TYPE_ID_BOOL:
		return arrow.FixedWidthTypes.Boolean, nil
	case kapotv1.TypeId_TYPE_ID_INT8:
		return arrow.PrimitiveTypes.Int8, nil
	case kapotv1.TypeId_TYPE_ID_INT16:
		return arrow.PrimitiveTypes.Int16, nil
	case kapotv1.TypeId_TYPE_ID_INT32:
		return arrow.PrimitiveTypes.Int32, nil
	case kapotv1.TypeId_TYPE_ID_INT64:
		return arrow.PrimitiveTypes.Int64, nil
	case kapotv1.TypeId_TYPE_ID_UINT8:
		return arrow.PrimitiveTypes.Uint8, nil
	case kapotv1.TypeId_TYPE_ID_UINT16:
		return arrow.PrimitiveTypes.Uint16, nil
	case kapotv1.TypeId_TYPE_ID_UINT32:
		return arrow.PrimitiveTypes.Uint32, nil
	case kapotv1.TypeId_TYPE_ID_UINT64:
		return arrow.PrimitiveTypes.Uint64, nil
	case kapotv1.TypeId_TYPE_ID_FLOAT32:
		return arrow.PrimitiveTypes.Float32, nil
	case kapotv1.TypeId_TYPE_ID_FLOAT64:
		return arrow.PrimitiveTypes.Float64, nil
	case kapotv1.TypeId_TYPE_ID_UTF8:
		return arrow.BinaryTypes.String, nil
	case kapotv1.TypeId_TYPE_ID_LARGE_UTF8:
		return arrow.BinaryTypes.LargeString, nil
	case kapotv1.TypeId_TYPE_ID_DATE32:
		return arrow.FixedWidthTypes.Date32, nil
	case kapotv1.TypeId_TYPE_ID_TIMESTAMP_MICROS:
		return arrow.FixedWidthTypes.Timestamp_us, nil
	case kapotv1.TypeId_TYPE_ID_TIMESTAMP_LOCAL_MICROS:
		return Timestamp, nil
	case kapotv1.TypeId_TYPE_ID_TIMESTAMP_LOCAL_NANOS:
		return TimestampNanos, nil
	case kapotv1.TypeId_TYPE_ID_INTERVAL_MONTH_DAY_NANO:
		return arrow.FixedWidthTypes.MonthDayNanoInterval, nil
	case kapotv1.TypeId_TYPE_ID_BINARY:
		return arrow.BinaryTypes.Binary, nil
	case kapotv1.TypeId_TYPE_ID_DECIMAL128:
		if t.GetPrecision() < 1 || t.GetPrecision() > 38 || t.GetScale() < 0 || t.GetScale() > t.GetPrecision() {
			return nil, fmt.Errorf("decimal128(%d,%d): precision must be 1..38 and scale 0..precision: %w", t.GetPrecision(), t.GetScale(), ErrInvalidPlan)
		}
		return &arrow.Decimal128Type{Precision: t.GetPrecision(), Scale: t.GetScale()}, nil
	case kapotv1.TypeId_TYPE_ID_LIST, kapotv1.TypeId_TYPE_ID_STRUCT, kapotv1.TypeId_TYPE_ID_MAP:
		return nestedFromProto(t)
	default:
		return nil, fmt.Errorf("data type %v: %w", t.GetId(), ErrNotSupported)
	}
}

// TypeToProto converts an Arrow type to its wire form.
func TypeToProto(t arrow.DataType) (*kapotv1.DataType, error) {
	id := func(i kapotv1.TypeId) (*kapotv1.DataType, error) { return &kapotv1.DataType{Id: i}, nil }
	switch t.ID() {
	case arrow.NULL:
		return id(kapotv1.TypeId_TYPE_ID_NULL)
	case arrow.BOOL:
		return id(kapotv1.TypeId_TYPE_ID_BOOL)
	case arrow.INT8:
		return id(kapotv1.TypeId_TYPE_ID_INT8)
	case arrow.INT16:
		return id(kapotv1.TypeId_TYPE_ID_INT16)
	case arrow.INT32:
		return id(kapotv1.TypeId_TYPE_ID_INT32)
	case arrow.INT64:
		return id(kapotv1.TypeId_TYPE_ID_INT64)
	case arrow.UINT8:
		return id(kapotv1.TypeId_TYPE_ID_UINT8)
	case arrow.UINT16:
		return id(kapotv1.TypeId_TYPE_ID_UINT16)
	case arrow.UINT32:
		return id(kapotv1.TypeId_TYPE_ID_UINT32)
	case arrow.UINT64:
		return id(kapotv1.TypeId_TYPE_ID_UINT64)
	case arrow.FLOAT32:
		return id(kapotv1.TypeId_TYPE_ID_FLOAT32)
	case arrow.FLOAT64:
		return id(kapotv1.TypeId_TYPE_ID_FLOAT64)
	case arrow.STRING:
		return id(kapotv1.TypeId_TYPE_ID_UTF8)
	case arrow.LARGE_STRING:
		return id(kapotv1.TypeId_TYPE_ID_LARGE_UTF8)
	case arrow.DATE32:
		return id(kapotv1.TypeId_TYPE_ID_DATE32)
	case arrow.TIMESTAMP:
		ts := t.(*arrow.TimestampType)
		switch {
		case ts.Unit == arrow.Microsecond && ts.TimeZone == "UTC":
			return id(kapotv1.TypeId_TYPE_ID_TIMESTAMP_MICROS)
		case ts.Unit == arrow.Microsecond && ts.TimeZone == "":
			return id(kapotv1.TypeId_TYPE_ID_TIMESTAMP_LOCAL_MICROS)
		case ts.Unit == arrow.Nanosecond && ts.TimeZone == "":
			return id(kapotv1.TypeId_TYPE_ID_TIMESTAMP_LOCAL_NANOS)
		}
	case arrow.INTERVAL_MONTH_DAY_NANO:
		return id(kapotv1.TypeId_TYPE_ID_INTERVAL_MONTH_DAY_NANO)
	case arrow.BINARY:
		return id(kapotv1.TypeId_TYPE_ID_BINARY)
	case arrow.DECIMAL128:
		d := t.(*arrow.Decimal128Type)
		return &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_DECIMAL128, Precision: d.Precision, Scale: d.Scale}, nil
	case arrow.LIST, arrow.STRUCT, arrow.MAP:
		return nestedToProto(t)
	}
	return nil, fmt.Errorf("data type %s: %w", t, ErrNotSupported)
}

// SchemaFromProto converts a wire schema to an Arrow schema.
func SchemaFromProto(s *kapotv1.Schema) (*arrow.Schema, error) {
	if s == nil {
		return nil, fmt.Errorf("schema missing: %w", ErrInvalidPlan)
	}
	fields := make([]arrow.Field, len(s.GetFields()))
	for i, f := range s.GetFields() {
		t, err := TypeFromProto(f.GetType())
		if err != nil {
			return nil, fmt.Errorf("field %q: %w", f.GetName(), err)
		}
		fields[i] = arrow.Field{Name: f.GetName(), Type: t, Nullable: f.GetNullable()}
	}
	return arrow.NewSchema(fields, nil), nil
}

// SchemaToProto converts an Arrow schema to its wire form.
func SchemaToProto(s *arrow.Schema) (*kapotv1.Schema, error) {
	out := &kapotv1.Schema{Fields: make([]*kapotv1.Field, s.NumFields())}
	for i, f := range s.Fields() {
		t, err := TypeToProto(f.Type)
		if err != nil {
			return nil, fmt.Errorf("field %q: %w", f.Name, err)
		}
		out.Fields[i] = &kapotv1.Field{Name: f.Name, Type: t, Nullable: f.Nullable}
	}
	return out, nil
}

// ScalarValueAt converts row i of arr to a wire literal (the inverse of
// ScalarFromProto), for the types literals can have.
func ScalarValueAt(arr arrow.Array, i int) (*kapotv1.ScalarValue, error) {
	t, err := TypeToProto(arr.DataType())
	if err != nil {
		return nil, err
	}
	v := &kapotv1.ScalarValue{Type: t}
	if arr.IsNull(i) {
		return v, nil
	}
	switch a := arr.(type) {
	case *array.Boolean:
		v.Value = &kapotv1.ScalarValue_BoolValue{BoolValue: a.Value(i)}
	case *array.Int8:
		v.Value = &kapotv1.ScalarValue_IntValue{IntValue: int64(a.Value(i))}
	case *array.Int16:
		v.Value = &kapotv1.ScalarValue_IntValue{IntValue: int64(a.Value(i))}
	case *array.Int32:
		v.Value = &kapotv1.ScalarValue_IntValue{IntValue: int64(a.Value(i))}
	case *array.Int64:
		v.Value = &kapotv1.ScalarValue_IntValue{IntValue: a.Value(i)}
	case *array.Float32:
		v.Value = &kapotv1.ScalarValue_FloatValue{FloatValue: float64(a.Value(i))}
	case *array.Float64:
		v.Value = &kapotv1.ScalarValue_FloatValue{FloatValue: a.Value(i)}
	case *array.String:
		v.Value = &kapotv1.ScalarValue_StringValue{StringValue: strings.Clone(a.Value(i))}
	case *array.Date32:
		v.Value = &kapotv1.ScalarValue_IntValue{IntValue: int64(a.Value(i))}
	case *array.Timestamp:
		v.Value = &kapotv1.ScalarValue_IntValue{IntValue: int64(a.Value(i))}
	case *array.Decimal128:
		v.Value = &kapotv1.ScalarValue_DecimalUnscaled{DecimalUnscaled: a.Value(i).BigInt().String()}
	case *array.MonthDayNanoInterval:
		iv := a.Value(i)
		v.Value = &kapotv1.ScalarValue_IntervalValue{IntervalValue: &kapotv1.IntervalValue{Months: iv.Months, Days: iv.Days, Nanos: iv.Nanoseconds}}
	default:
		return nil, fmt.Errorf("literal of type %s: %w", arr.DataType(), ErrNotSupported)
	}
	return v, nil
}
