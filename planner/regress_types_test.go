package planner

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kapot-go/kapot/catalog"
	"github.com/kapot-go/kapot/internal/testkit/oracle"
	"github.com/kapot-go/kapot/internal/testkit/oracle/duck"
)

// typedTable writes t.parquet: 60 rows, k = 1..60 and, cycling through
// short lists, d date, ts timestamp (µs, no zone: a TIMESTAMP), p
// decimal(10,3) around zero, w decimal(38,2) and x decimal(38,3) up to 35
// integer digits (DuckDB compares them by casting to decimal(38,3)), and s text with white space around numbers.
func typedTable(t *testing.T) string {
	t.Helper()
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "k", Type: arrow.PrimitiveTypes.Int64},
		{Name: "d", Type: arrow.FixedWidthTypes.Date32},
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Microsecond}},
		{Name: "p", Type: &arrow.Decimal128Type{Precision: 10, Scale: 3}},
		{Name: "w", Type: &arrow.Decimal128Type{Precision: 38, Scale: 2}},
		{Name: "x", Type: &arrow.Decimal128Type{Precision: 38, Scale: 3}},
		{Name: "s", Type: arrow.BinaryTypes.String},
	}, nil)
	stamps := []string{"2024-02-07 02:11:59", "2024-02-07 02:11:59.123456", "2024-02-07 00:00:00.5", "1999-12-31 23:59:59.000010", "2024-02-29 12:00:00.120"}
	ps := []string{"-1.500", "-0.500", "-0.001", "0.000", "0.125", "0.999", "1.000", "2.500"}
	ws := []string{"0.00", "1.50", "-1.50", "10000000000000000000000000000000000.00", "-99999999999999999999999999999999999.99", "0.01"}
	xs := []string{"0.000", "1.500", "-1.499", "99999999999999999999999999999999999.999", "0.010", "0.005", "-0.001"}
	strs := []string{"  7 ", "7", "\t-3\n", " 2.5 ", "12"}
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	for i := 0; i < 60; i++ {
		b.Field(0).(*array.Int64Builder).Append(int64(i + 1))
		b.Field(1).(*array.Date32Builder).Append(arrow.Date32FromTime(time.Date(2024, 1, 1+i*7, 0, 0, 0, 0, time.UTC)))
		ts, err := time.Parse("2006-01-02 15:04:05.999999", stamps[i%len(stamps)])
		if err != nil {
			t.Fatal(err)
		}
		b.Field(2).(*array.TimestampBuilder).Append(arrow.Timestamp(ts.UnixMicro() + int64(i)*3_600_000_000))
		for f, v := range map[int]string{3: ps[i%len(ps)], 4: ws[i%len(ws)], 5: xs[i%len(xs)]} {
			dt := schema.Field(f).Type.(*arrow.Decimal128Type)
			n, err := decimal128.FromString(v, dt.Precision, dt.Scale)
			if err != nil {
				t.Fatal(err)
			}
			b.Field(f).(*array.Decimal128Builder).Append(n)
		}
		b.Field(6).(*array.StringBuilder).Append(strs[i%len(strs)])
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	return writeParquet(t, rec)
}

// TestTypeRegressions are the wrong answers and refused queries of issue
// 38, each with its exact answer, which DuckDB over the same file must
// give too (duckSQL, where set, is the query DuckDB runs instead).
func TestTypeRegressions(t *testing.T) {
	path := typedTable(t)
	cat := catalog.New()
	tb, err := cat.ParquetTable(context.Background(), "t", []string{path})
	if err != nil {
		t.Fatal(err)
	}
	if err := cat.Register(tb); err != nil {
		t.Fatal(err)
	}
	db := duckOver(t, map[string]string{"t": path})
	for _, tc := range []struct {
		name, sql, duckSQL string
		want               []string
	}{
		// floor/ceil of a decimal strictly between -1 and 1 were 0.
		{name: "floor and ceil of decimals near zero", sql: `select floor(-0.500::decimal(10,3)), ceil(0.125), floor(0.125), ceil(-0.5), floor(-1.000::decimal(10,3)), ceil(-0.999), trunc(-0.5), trunc(0.999)`,
			want: []string{"-1|1|0|0|-1|0|0|0"}},
		{name: "floor, ceil, trunc of a decimal column", sql: `select p, floor(p), ceil(p), trunc(p) from t where k <= 8 order by p`,
			want: []string{"-1.500|-2|-1|-1", "-0.500|-1|0|0", "-0.001|-1|0|0", "0.000|0|0|0", "0.125|0|1|0", "0.999|0|1|0", "1.000|1|1|1", "2.500|2|3|2"}},
		{name: "groups of ceil", sql: `select ceil(p), count(*) from t group by 1 order by 1`,
			want: []string{"-1|8", "0|24", "1|21", "3|7"}},
		// percentile_disc's position came from 0.95 as 0.9500000000000001.
		{name: "percentile_disc at exact fractions", sql: `select percentile_disc(0.95) within group (order by k), percentile_disc(0.35) within group (order by k),
			percentile_disc(0.5) within group (order by k), percentile_disc(0.05) within group (order by k), percentile_disc(1.0) within group (order by k), percentile_disc(0) within group (order by k) from t`,
			want: []string{"57|21|30|3|60|1"}},
		{name: "percentile_disc by group", sql: `select k % 3, percentile_disc(0.95) within group (order by k), percentile_disc(0.35) within group (order by k) from t group by 1 order by 1`,
			want: []string{"0|57|21", "1|55|19", "2|56|20"}},
		// A timestamp as text was 2024-02-07T02:11:59Z.
		{name: "timestamp to text", sql: `select k, cast(ts as varchar), length(cast(ts as varchar)) from t where k <= 5 order by k`,
			want: []string{"1|2024-02-07 02:11:59|19", "2|2024-02-07 03:11:59.123456|26", "3|2024-02-07 02:00:00.5|21", "4|2000-01-01 02:59:59.00001|25", "5|2024-02-29 16:00:00.12|22"}},
		{name: "timestamp || text", sql: `select 'at ' || ts from t where k = 1`,
			want: []string{"at 2024-02-07 02:11:59"}},
		// Identity casts failed "cast date32 to date32: not supported".
		{name: "identity casts", sql: `select cast(d as date), cast(k as bigint), cast(p as decimal(10,3)), cast(w as decimal(38,2)), cast(s as varchar), cast(true as boolean), cast(cast(k as double) as double) from t where k = 2`,
			want: []string{"2024-01-08|2|-0.500|1.50|7|true|2"}},
		{name: "date cast in a range", sql: `select count(*) from t where d between cast('2024-02-01' as date) and cast(cast('2024-03-01' as date) as date)`,
			want: []string{"4"}},
		// DECIMAL(38,2) against DECIMAL(38,3) failed "precision … got 39".
		{name: "decimal(38,2) between decimal(38,3)", sql: `select count(*) from t where w between cast(0 as decimal(38,3)) and x`, want: []string{"17"}},
		{name: "decimal(38,2) compared with decimal(38,3)", sql: `select k, w < x, w <= x, w > x, w >= x, w <> x from t where k <= 7 order by k`,
			want: []string{"1|false|true|false|true|false", "2|false|true|false|true|false", "3|true|true|false|false|true", "4|true|true|false|false|true",
				"5|true|true|false|false|true", "6|false|false|true|true|true", "7|false|false|true|true|true"}},
		{name: "decimal(38,2) = decimal(38,3)", sql: `select count(*) from t where w = x`, want: []string{"6"}},
		// Text with white space around a number failed to cast.
		{name: "padded text to numbers", sql: `select cast('  7 ' as integer), cast(' -3' as bigint), cast(' 2.5 ' as double), cast(' 2024-01-02 ' as date)`,
			want: []string{"7|-3|2.5|2024-01-02"}},
		{name: "padded text column to integer", sql: `select k, cast(s as integer) from t where k in (1, 2, 3, 5) order by k`,
			want: []string{"1|7", "2|7", "3|-3", "5|12"}},
		// GROUPING SETS with a parenthesized set was refused "this expression".
		{name: "grouping sets with nulls last", sql: `select k % 2 as a, k % 3 as b, k % 5 as c, count(*) from t where k <= 10
			group by grouping sets ((k % 2, k % 3), (k % 5), ()) order by a nulls last, b nulls last, c nulls last`,
			want: []string{"0|0|NULL|1", "0|1|NULL|2", "0|2|NULL|2", "1|0|NULL|2", "1|1|NULL|2", "1|2|NULL|1",
				"NULL|NULL|0|2", "NULL|NULL|1|2", "NULL|NULL|2|2", "NULL|NULL|3|2", "NULL|NULL|4|2", "NULL|NULL|NULL|10"}},
		{name: "rollup of a parenthesized pair", sql: `select k % 2 as a, k % 3 as b, count(*) from t where k <= 6 group by rollup ((k % 2, k % 3)) order by 1 nulls last, 2 nulls last`,
			want: []string{"0|0|1", "0|1|1", "0|2|1", "1|0|1", "1|1|1", "1|2|1", "NULL|NULL|6"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := runRecycled(t, cat, tc.sql)
			q := tc.sql
			if tc.duckSQL != "" {
				q = tc.duckSQL
			}
			want, err := duck.QueryRows(db, q)
			if err != nil {
				t.Fatal(err)
			}
			if err := oracle.SameRows(tc.want, want); err != nil {
				t.Errorf("DuckDB disagrees with the test: %v\nduckdb: %q", err, want)
			}
			if err := oracle.SameRows(got, tc.want); err != nil {
				t.Errorf("%v\nkapot: %q\nwant:  %q", err, got, tc.want)
			}
		})
	}
}

// TestRefusalsNameTheirConstruct: an expression or FROM item the binder
// has no rule for is refused with its SQL text and parse-node kind, not
// "this expression".
func TestRefusalsNameTheirConstruct(t *testing.T) {
	cat := catalog.New()
	for sql, want := range map[string]string{
		`select row(1, 2)`:                 "not supported yet: expression ROW(1, 2) (RowExpr)",
		`select * from read_csv('x') g(x)`: "not supported yet: FROM item read_csv('x') g(x) (RangeFunction)",
		`select generate_series(1, 3)`:     "not supported yet: generate_series in the select list",
	} {
		_, err := PlanQuery(context.Background(), cat, sql, Options{TargetPartitions: 2})
		if !errors.Is(err, ErrNotSupported) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", sql, err, want)
		}
	}
}

// TestDecimalMeetsFloat: a decimal compared with (or cast to) a float64
// is the nearest float64, as in DuckDB: 123.45 equals avg(123.45), so no
// row's price exceeds the average of the prices equal to it (Arrow's
// implicit cast multiplied by 10^-scale: 2 038 rows did).
func TestDecimalMeetsFloat(t *testing.T) {
	cat, db := tpchCatalog(t), tpchOracle(t)
	for _, sql := range []string{
		`select count(*) from orders o1 where o_totalprice > (select avg(o_totalprice) from orders o2 where o2.o_totalprice = o1.o_totalprice)`,
		`select count(*) from (select o_totalprice v, avg(o_totalprice) a from orders group by 1) where v > a or a > v`,
		`select count(*) from (select o_totalprice v, avg(o_totalprice) over (partition by o_totalprice) a from orders) where v <> a`,
		`select count(*) from orders where cast(o_totalprice as double) = o_totalprice * 1e0 and o_totalprice / 1e0 = cast(o_totalprice as double)`,
		`select cast(cast(123.45 as decimal(15,2)) as double) = 123.45e0, cast(-0.1 as decimal(5,1)) < -0.1e0, cast(12345678901234567890.12 as decimal(38,2)) > 1.2e19`,
	} {
		_, got := runSQL(t, cat, sql)
		want, err := db.Rows(sql)
		if err != nil {
			t.Fatal(err)
		}
		if err := oracle.SameRows(got, want); err != nil {
			t.Errorf("%s: %v\nkapot:  %q\nduckdb: %q", sql, err, got, want)
		}
	}
}
