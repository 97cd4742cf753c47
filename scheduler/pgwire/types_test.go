package pgwire

import (
	"bytes"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/rs/zerolog"

	"github.com/kapot-go/kapot/catalog"
	"github.com/kapot-go/kapot/session"
)

// TestValues: each kapot type in text as PostgreSQL writes it, and in
// binary as pgx's decoders read it back.
func TestValues(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	day := time.Date(2021, 3, 4, 0, 0, 0, 0, time.UTC)
	stamp := time.Date(2021, 3, 4, 5, 6, 7, 890000000, time.UTC)
	build := func(typ arrow.DataType, add func(array.Builder)) arrow.Array {
		b := array.NewBuilder(mem, typ)
		defer b.Release()
		add(b)
		return b.NewArray()
	}
	dec := &arrow.Decimal128Type{Precision: 15, Scale: 2}
	cases := []struct {
		arr  arrow.Array
		oid  uint32
		text string
		want string // the binary as pgx decodes it and writes it in text
	}{
		{build(arrow.PrimitiveTypes.Int16, func(b array.Builder) { b.(*array.Int16Builder).Append(-3) }), oidInt2, "-3", "-3"},
		{build(arrow.PrimitiveTypes.Int32, func(b array.Builder) { b.(*array.Int32Builder).Append(70000) }), oidInt4, "70000", "70000"},
		{build(arrow.PrimitiveTypes.Int64, func(b array.Builder) { b.(*array.Int64Builder).Append(1 << 40) }), oidInt8, "1099511627776", "1099511627776"},
		{build(arrow.PrimitiveTypes.Float32, func(b array.Builder) { b.(*array.Float32Builder).Append(1.5) }), oidFloat4, "1.5", "1.5"},
		{build(arrow.PrimitiveTypes.Float64, func(b array.Builder) { b.(*array.Float64Builder).Append(1e20) }), oidFloat8, "1e+20", "100000000000000000000"},
		{build(dec, func(b array.Builder) { b.(*array.Decimal128Builder).Append(decimal128.FromI64(-12345)) }), oidNumeric, "-123.45", "-123.45"},
		{build(arrow.BinaryTypes.String, func(b array.Builder) { b.(*array.StringBuilder).Append("héllo") }), oidText, "héllo", "héllo"},
		{build(arrow.FixedWidthTypes.Boolean, func(b array.Builder) { b.(*array.BooleanBuilder).Append(true) }), oidBool, "t", "t"},
		{build(arrow.FixedWidthTypes.Date32, func(b array.Builder) { b.(*array.Date32Builder).Append(arrow.Date32FromTime(day)) }), oidDate, "2021-03-04", "2021-03-04"},
		{build(&arrow.TimestampType{Unit: arrow.Microsecond}, func(b array.Builder) {
			b.(*array.TimestampBuilder).Append(arrow.Timestamp(stamp.UnixMicro()))
		}), oidTimestamp, "2021-03-04 05:06:07.89", "2021-03-04 05:06:07.89"},
		{build(arrow.FixedWidthTypes.Timestamp_us, func(b array.Builder) {
			b.(*array.TimestampBuilder).Append(arrow.Timestamp(stamp.UnixMicro()))
		}), oidTimestamptz, "2021-03-04 05:06:07.89+00", "2021-03-04 05:06:07.89Z"},
		{build(arrow.FixedWidthTypes.MonthDayNanoInterval, func(b array.Builder) {
			b.(*array.MonthDayNanoIntervalBuilder).Append(arrow.MonthDayNanoInterval{Months: 14, Days: 3, Nanoseconds: 3723_500_000_000})
		}), oidInterval, "1 year 2 mons 3 days 01:02:03.5", "14 mon 3 day 01:02:03.500000"},
		{build(arrow.BinaryTypes.Binary, func(b array.Builder) { b.(*array.BinaryBuilder).Append([]byte{0xde, 0xad}) }), oidBytea, `\xdead`, `\xdead`},
		// Nested values: text, as DuckDB casts them to VARCHAR.
		{build(arrow.ListOf(arrow.PrimitiveTypes.Int32), func(b array.Builder) {
			lb := b.(*array.ListBuilder)
			lb.Append(true)
			vb := lb.ValueBuilder().(*array.Int32Builder)
			vb.Append(1)
			vb.AppendNull()
			vb.Append(3)
		}), oidText, "[1, NULL, 3]", "[1, NULL, 3]"},
		{build(arrow.StructOf(arrow.Field{Name: "a", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
			arrow.Field{Name: "b", Type: arrow.BinaryTypes.String, Nullable: true}), func(b array.Builder) {
			sb := b.(*array.StructBuilder)
			sb.Append(true)
			sb.FieldBuilder(0).(*array.Float64Builder).Append(2)
			sb.FieldBuilder(1).(*array.StringBuilder).Append("x,y")
		}), oidText, "{'a': 2.0, 'b': 'x,y'}", "{'a': 2.0, 'b': 'x,y'}"},
		{build(arrow.MapOf(arrow.BinaryTypes.String, arrow.PrimitiveTypes.Int64), func(b array.Builder) {
			mb := b.(*array.MapBuilder)
			mb.Append(true)
			mb.KeyBuilder().(*array.StringBuilder).Append("k")
			mb.ItemBuilder().(*array.Int64Builder).Append(7)
		}), oidText, "{k=7}", "{k=7}"},
	}
	m := pgtype.NewMap()
	for _, c := range cases {
		defer c.arr.Release()
		if got := typeOf(c.arr.DataType()).oid; got != c.oid {
			t.Errorf("%s: OID %d, want %d", c.arr.DataType(), got, c.oid)
		}
		txt, err := appendText(nil, c.arr, 0)
		if err != nil || string(txt) != c.text {
			t.Errorf("%s text: %q %v, want %q", c.arr.DataType(), txt, err, c.text)
		}
		bin, err := appendBinary(nil, c.arr, 0)
		if err != nil {
			t.Fatalf("%s binary: %v", c.arr.DataType(), err)
		}
		// Decoded from binary and encoded again in text by pgx.
		typ, _ := m.TypeForOID(c.oid)
		v, err := typ.Codec.DecodeValue(m, c.oid, pgtype.BinaryFormatCode, bin)
		if err != nil {
			t.Errorf("%s: pgx decodes the binary: %v", c.arr.DataType(), err)
			continue
		}
		back, err := m.Encode(c.oid, pgtype.TextFormatCode, v, nil)
		if err != nil || string(back) != c.want {
			t.Errorf("%s: binary reads back as %q %v, want %q", c.arr.DataType(), back, err, c.want)
		}
	}
	// Small numerics take the fast path; pgx reads each back.
	for _, c := range []struct {
		v     int64
		scale int32
		want  string
	}{{0, 0, "0"}, {1, 2, "0.01"}, {-12345, 2, "-123.45"}, {123456789, 1, "12345678.9"}, {10000, 0, "10000"},
		{-999999999999999999, 4, "-99999999999999.9999"}, {5, 0, "5"}, {100000000, 8, "1.00000000"}, {-7, 5, "-0.00007"}} {
		b := appendSmallNumeric(nil, uint64(c.v), c.v < 0, c.scale)
		typ, _ := m.TypeForOID(oidNumeric)
		v, err := typ.Codec.DecodeValue(m, oidNumeric, pgtype.BinaryFormatCode, b)
		if err != nil {
			t.Errorf("%d scale %d: %v", c.v, c.scale, err)
			continue
		}
		got, _ := m.Encode(oidNumeric, pgtype.TextFormatCode, v, nil)
		if string(got) != c.want {
			t.Errorf("%d scale %d reads back as %s, want %s", c.v, c.scale, got, c.want)
		}
		if txt := appendSmallDecimal(nil, c.v, c.scale); string(txt) != c.want {
			t.Errorf("%d scale %d in text: %s, want %s", c.v, c.scale, txt, c.want)
		}
		lit, err := numericLiteral(b)
		if err != nil || lit != "("+c.want+")" {
			t.Errorf("%d scale %d as a parameter: %s %v", c.v, c.scale, lit, err)
		}
	}
	if got := typeOf(dec); got.typmod != (15<<16|2)+4 {
		t.Errorf("numeric(15,2) typmod %d", got.typmod)
	}
}

// TestLiterals: parameters become literals of their type; what does not
// read as its type is refused, never spliced in.
func TestLiterals(t *testing.T) {
	for _, c := range []struct {
		oid  uint32
		bin  bool
		in   []byte
		want string
	}{
		{oidInt8, false, []byte("42"), "CAST(42 AS BIGINT)"},
		{oidInt4, true, []byte{0, 0, 1, 0}, "CAST(256 AS INTEGER)"},
		{oidText, false, []byte("it's"), "'it''s'"},
		{oidUnknown, false, []byte("x'); DROP TABLE t; --"), "'x''); DROP TABLE t; --'"},
		{oidDate, false, []byte("2020-02-29"), "DATE '2020-02-29'"},
		{oidDate, true, []byte{0, 0, 0, 1}, "DATE '2000-01-02'"},
		{oidBool, false, []byte("yes"), "TRUE"},
		{oidNumeric, false, []byte("-1.50"), "(-1.50)"},
		{oidNumeric, true, []byte{0, 2, 0, 0, 0x40, 0, 0, 2, 0, 1, 0x13, 0x88}, "(-1.50)"},
		{oidFloat8, false, []byte("2.5"), "CAST('2.5' AS DOUBLE)"},
		{oidTimestamp, false, []byte("2020-01-01 00:00:00'"), "TIMESTAMP '2020-01-01 00:00:00'''"},
		{oidInt8, false, nil, "NULL"},
	} {
		got, err := literal(c.oid, c.bin, c.in)
		if err != nil || got != c.want {
			t.Errorf("literal(%d, %v, %q) = %q %v, want %q", c.oid, c.bin, c.in, got, err, c.want)
		}
	}
	for _, c := range []struct {
		oid uint32
		bin bool
		in  []byte
	}{
		{oidInt8, false, []byte("1 OR 1=1")},
		{oidNumeric, false, []byte("1) OR (1")},
		{oidDate, false, []byte("2020-01-01' OR '")},
		{oidInt4, true, []byte{1, 2}},
		{oidNumeric, true, []byte{0, 9}},
		{oidText, false, []byte{0xff, 0xfe}},
	} {
		if got, err := literal(c.oid, c.bin, c.in); err == nil {
			t.Errorf("literal(%d, %v, %q) = %q, want refused", c.oid, c.bin, c.in, got)
		}
	}
	sql, err := bindSQL("SELECT $1, x-$2 FROM t WHERE s = '$1'", []string{"'a'", "(-5)"})
	if err != nil || sql != "SELECT 'a', x-(-5) FROM t WHERE s = '$1'" {
		t.Fatalf("bindSQL: %q %v", sql, err)
	}
}

// FuzzConn feeds a connection arbitrary bytes after nothing, or after a
// startup: the server answers or closes, and never panics or hangs. The
// seeds are in testdata/fuzz/FuzzConn.
func FuzzConn(f *testing.F) {
	startup := []byte{0, 0, 0, 37, 0, 3, 0, 0}
	startup = append(startup, []byte("user\x00kapot\x00database\x00kapot\x00\x00")...)
	f.Add(startup)
	f.Add(append(bytes.Clone(startup), 'Q', 0, 0, 0, 9, 'S', 'H', 'O', 'W', 0))
	f.Add(append(bytes.Clone(startup), 'P', 0, 0, 0, 8, 0, 'x', 0, 0, 0, 'S', 0, 0, 0, 4))
	f.Add([]byte{0x40, 0, 0, 0, 0, 3, 0, 0})
	s, err := NewServer(Config{Backend: &session.Local{Cat: catalog.New()}, Jobs: noJobs{}, Log: zerolog.Nop(),
		Limits: Limits{MaxConns: 4, MaxMessageBytes: 1 << 16, StartupTimeout: time.Second, WriteTimeout: time.Second, MaxStatements: 8}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		client, server := net.Pipe()
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.serveConn(t.Context(), server)
		}()
		go func() {
			client.SetWriteDeadline(time.Now().Add(time.Second))
			client.Write(in)
		}()
		// Drain what the server says until it closes or falls silent.
		buf := make([]byte, 4096)
		for {
			client.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
			if _, err := client.Read(buf); err != nil {
				break
			}
		}
		client.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("the connection did not end after its client closed (input %q)", strings.ToValidUTF8(string(in), "?"))
		}
	})
}
