package planner

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kapot-go/kapot/engine"
	"github.com/kapot-go/kapot/engine/alloc"
	"github.com/kapot-go/kapot/errs"
)

// TestPostgresFormErrors: the PostgreSQL forms of issue 38 (DISTINCT ON,
// string_agg(DISTINCT), row values, LATERAL) give PostgreSQL's errors where
// PostgreSQL refuses them, and name the shape kapot does not plan yet.
func TestPostgresFormErrors(t *testing.T) {
	cat := tpchCatalog(t)
	for _, c := range []struct {
		sql, msg string
		class    error
		sqlstate string
	}{
		{`select distinct on (n_regionkey) n_name from nation order by n_name`,
			"SELECT DISTINCT ON expressions must match initial ORDER BY expressions", errs.ErrInvalidColumnReference, "42P10"},
		{`select distinct on (n_regionkey, n_nationkey) n_name from nation order by n_regionkey, n_name`,
			"SELECT DISTINCT ON expressions must match initial ORDER BY expressions", errs.ErrInvalidColumnReference, "42P10"},
		{`select distinct on (n_regionkey) n_name from nation order by n_name, n_regionkey`,
			"SELECT DISTINCT ON expressions must match initial ORDER BY expressions", errs.ErrInvalidColumnReference, "42P10"},
		{`select distinct on (3) n_name from nation`, "position 3 is not in the select list", errs.ErrInvalidPlan, "42000"},
		{`select string_agg(distinct r_name, ',' order by r_regionkey) from region`,
			"in an aggregate with DISTINCT, ORDER BY expressions must appear in argument list", errs.ErrInvalidColumnReference, "42P10"},
		{`select string_agg(distinct r_name, ',' order by r_name, r_regionkey) from region`,
			"in an aggregate with DISTINCT, ORDER BY expressions must appear in argument list", errs.ErrInvalidColumnReference, "42P10"},
		{`select n_name from nation where (n_regionkey, n_nationkey) = (1, 2, 3)`, "unequal number of entries in row expressions", errs.ErrSyntax, "42601"},
		{`select n_name from nation where (n_regionkey, n_nationkey) in ((1, 2), (1, 2, 3))`, "unequal number of entries in row expressions", errs.ErrSyntax, "42601"},
		{`select n_name from nation where ((n_regionkey, 1), n_nationkey) = ((1, 1), 2)`, "not supported yet: a row value with a field that is a row", ErrNotSupported, "0A000"},
		{`select n_name from nation where (n_regionkey, n_nationkey) in (1, 2)`, "not supported yet: a row value IN a list of items that are not row constructors", ErrNotSupported, "0A000"},
		{`select (n_regionkey, n_nationkey) in (select 1, 2) from nation`, "not supported yet: a row value IN (subquery) as a value", ErrNotSupported, "0A000"},
		{`select n_name from nation where (n_regionkey, n_nationkey) in (select r_regionkey from region)`, "subquery has too few columns", errs.ErrInvalidPlan, "42000"},
		{`select n_name from nation where (n_regionkey, n_nationkey) in (select r_regionkey, 1, 2 from region)`, "subquery has too many columns", errs.ErrInvalidPlan, "42000"},
		{`select (n_regionkey, n_nationkey) from nation`, "not supported yet: expression (n_regionkey, n_nationkey) (RowExpr)", ErrNotSupported, "0A000"},
		{`select r.r_name, s.n_name from region r right join lateral (select n_name from nation n where n.n_regionkey = r.r_regionkey) s on true`,
			"the combining JOIN type must be INNER or LEFT for a LATERAL reference", errs.ErrInvalidColumnReference, "42P10"},
		{`select r.r_name, s.c from region r, nation x, lateral (select count(*) as c from supplier s where s.s_nationkey = x.n_nationkey and s.s_suppkey % 5 = r.r_regionkey) s`,
			"not supported yet: LATERAL reading columns of several FROM items in an aggregate without GROUP BY or in its select list", ErrNotSupported, "0A000"},
		{`select r.r_name, s.c from region r, nation x, lateral (select n_name || r.r_name as c from nation n where n.n_nationkey = x.n_nationkey) s`,
			"not supported yet: LATERAL reading columns of several FROM items in an aggregate without GROUP BY or in its select list", ErrNotSupported, "0A000"},
		{`select r.r_name, s.n_name from region r, lateral (select distinct n_name from nation n where n.n_regionkey = r.r_regionkey) s`,
			"not supported yet: LATERAL with DISTINCT", ErrNotSupported, "0A000"},
		{`select r.r_name, s.n_name from region r, lateral (select n_name from nation n where n.n_regionkey > r.r_regionkey order by n_name limit 2) s`,
			"not supported yet: LATERAL with LIMIT correlated by conditions other than equalities", ErrNotSupported, "0A000"},
		{`select r.r_name, s.c from region r, lateral (select count(*) as c from nation n where n.n_regionkey = r.r_regionkey limit 1) s`,
			"not supported yet: LATERAL with an aggregate and LIMIT or OFFSET", ErrNotSupported, "0A000"},
		{`select r.r_name, s.n_name from region r left join lateral (select n_name from nation n where n.n_regionkey = r.r_regionkey) s on s.n_name like 'A%'`,
			"not supported yet: LEFT JOIN LATERAL … ON a condition other than true", ErrNotSupported, "0A000"},
		{`select r.r_name, s.x from region r left join lateral (select n_name || r.r_name as x from nation n where n.n_regionkey = r.r_regionkey) s on true`,
			"not supported yet: LEFT JOIN LATERAL whose select list reads the outer query's columns", ErrNotSupported, "0A000"},
		{`select r.r_name, s.c from region r, lateral (select n_name, count(*) as c from nation n where n.n_regionkey > r.r_regionkey group by n_name) s`,
			"not supported yet: LATERAL with correlated subquery conditions other than equalities with an aggregate", ErrNotSupported, "0A000"},
		{`select r.r_name, s.rn from region r, lateral (select row_number() over () as rn from nation n where n.n_regionkey = r.r_regionkey) s`,
			"not supported yet: LATERAL with window functions", ErrNotSupported, "0A000"},
		{`select r.r_name, s.n_name from region r, lateral (select n_name from nation n where n.n_regionkey = r.r_regionkey union select 'x') s`,
			"not supported yet: LATERAL over a set operation", ErrNotSupported, "0A000"},
		{`select r.r_name, s.x from region r, lateral (select (select 1) as x from nation n where n.n_regionkey = r.r_regionkey) s`,
			"not supported yet: LATERAL with a subquery in its select list", ErrNotSupported, "0A000"},
		{`select r.r_name, s.c from region r, lateral (select count(*) as c from nation n where n.n_regionkey = r.r_regionkey having count(*) > 0) s`,
			"not supported yet: LATERAL with HAVING and no GROUP BY", ErrNotSupported, "0A000"},
		{`select r.r_name, s.n from region r, lateral (select n_name as n from nation n where n.n_regionkey = r.r_regionkey order by r.r_name limit 2) s`,
			"not supported yet: LATERAL with LIMIT ordered by the outer query's columns", ErrNotSupported, "0A000"},
		{`select r.r_name, s.n from region r, lateral (select n_name as n from nation n where n.n_regionkey = r.r_regionkey order by n_name fetch first 1 rows with ties) s`,
			"not supported yet: FETCH … WITH TIES", ErrNotSupported, "0A000"},
		{`select r.r_name, s.n from region r join lateral (select n_name as n from nation n where n.n_regionkey = r.r_regionkey) s using (n)`,
			"not supported yet: LATERAL with JOIN USING or NATURAL JOIN", ErrNotSupported, "0A000"},
		{`select o.o_orderkey, s.l_linenumber from orders o, lateral (select l_linenumber from lineitem l where l.l_orderkey = o.o_orderkey and exists (select 1 from part where p_partkey = l.l_partkey and p_size > o.o_shippriority + 40)) s`,
			"not supported yet: LATERAL with a query nested in it", ErrNotSupported, "0A000"},
		{`select o.o_orderkey, s.c from orders o, lateral (select count(*) as c from lineitem l where l.l_orderkey = o.o_orderkey and l.l_quantity > (select avg(l2.l_quantity) from lineitem l2 where l2.l_orderkey = o.o_orderkey)) s`,
			"not supported yet: LATERAL with a query nested in it", ErrNotSupported, "0A000"},
		{`select o.o_orderkey, s.c from orders o, lateral (select max(x) as c from (select l_quantity as x from lineitem l where l.l_orderkey = o.o_orderkey) d) s`,
			"not supported yet: LATERAL with a query nested in it", ErrNotSupported, "0A000"},
		{`select o.o_orderkey, s.c from orders o, lateral (select l_quantity as c from lineitem l join part p on p.p_partkey = l.l_partkey and p.p_size > o.o_shippriority + 30 where l.l_orderkey = o.o_orderkey) s`,
			"not supported yet: LATERAL with a query nested in it", ErrNotSupported, "0A000"},
		{`select string_agg(distinct r_name, ',') over () from region`,
			"not supported yet: FILTER, DISTINCT or ORDER BY in a window function call", ErrNotSupported, "0A000"},
	} {
		_, err := PlanQuery(context.Background(), cat, c.sql, Options{TargetPartitions: 2})
		if err == nil || !strings.Contains(err.Error(), c.msg) || !errors.Is(err, c.class) || errs.SQLState(err) != c.sqlstate {
			t.Errorf("%s:\n got %v (%s)\nwant %q (%s)", c.sql, err, errs.SQLState(err), c.msg, c.sqlstate)
		}
	}
	// PostgreSQL accepts the DISTINCT ON keys in any order at the start of
	// the ORDER BY, or the ORDER BY a prefix of them.
	for _, sql := range []string{
		`select distinct on (n_regionkey, n_nationkey) n_name from nation order by n_nationkey, n_regionkey, n_name`,
		`select distinct on (n_regionkey, n_nationkey) n_name from nation order by n_regionkey`,
	} {
		if _, err := PlanQuery(context.Background(), cat, sql, Options{TargetPartitions: 2}); err != nil {
			t.Errorf("%s: %v", sql, err)
		}
	}
}

// TestRowValuesPostgresNulls: row comparisons, IN lists of rows, NOT IN
// and IS NULL over rows with NULL fields give PostgreSQL's answers
// (written out here: DuckDB, the breadth corpus's oracle, compares rows as
// structs whose NULL fields are values, so those cases are not in it).
func TestRowValuesPostgresNulls(t *testing.T) {
	cat := tpchCatalog(t)
	vals := `(values (1, 2), (1, null), (null, 2), (null, null), (0, null), (2, null), (1, 3), (1, 1), (3, 4), (5, 4)) t(x, y)`
	for _, c := range []struct {
		sql  string
		want []string
	}{
		{`select x, y, (x, y) = (1, 2), (x, y) <> (1, 2), (x, y) < (1, 2), (x, y) <= (1, 2), (x, y) > (1, 2), (x, y) >= (1, 2) from ` + vals +
			` where x is null or x < 3 order by x nulls first, y nulls first`, []string{
			"NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL",
			"NULL|2|NULL|NULL|NULL|NULL|NULL|NULL",
			"0|NULL|false|true|true|true|false|false",
			"1|NULL|NULL|NULL|NULL|NULL|NULL|NULL",
			"1|1|false|true|true|true|false|false",
			"1|2|true|false|false|true|false|true",
			"1|3|false|true|false|false|true|true",
			"2|NULL|false|true|false|false|true|true",
		}},
		{`select (1, 2, 3) < (1, 2, 4), (1, 2, 3) < (1, null, 4), (1, 2) <> (1, null), (2, null) > (1, 5), (1, 2, 3) >= (1, 2, null), (1, 2, 3) >= (1, 1, null)`,
			[]string{"true|NULL|NULL|true|NULL|true"}},
		{`select x, y, (x, y) in ((1, 2), (3, 4)), (x, y) not in ((1, 2), (3, 4)), (x, y) not in ((1, 2), (null, 4)) from ` + vals +
			` where x is null or x in (1, 3, 5) order by x nulls first, y nulls first`, []string{
			"NULL|NULL|NULL|NULL|NULL",
			"NULL|2|NULL|NULL|NULL",
			"1|NULL|NULL|NULL|NULL",
			"1|1|false|true|true",
			"1|2|true|false|false",
			"1|3|false|true|true",
			"3|4|true|false|NULL",
			"5|4|false|true|NULL",
		}},
		{`select x, y, (x, y) is distinct from (1, null), (x, y) is not distinct from (1, null), row(x, y) is null, row(x, y) is not null from ` + vals +
			` where x is null or x = 1 order by x nulls first, y nulls first`, []string{
			"NULL|NULL|true|false|true|false",
			"NULL|2|true|false|false|false",
			"1|NULL|false|true|false|false",
			"1|1|true|false|false|true",
			"1|2|true|false|false|true",
			"1|3|true|false|false|true",
		}},
		// NOT IN (subquery) over rows: kept only where (x, y) <> every row
		// is true.
		{`select x, y from ` + vals + ` where (x, y) not in (select a, b from (values (1, 2), (3, null)) s(a, b)) order by 1, 2`,
			[]string{"0|NULL", "1|1", "1|3", "2|NULL", "5|4"}},
		{`select x, y from ` + vals + ` where (x, y) not in (select a, b from (values (1, 2), (3, null)) s(a, b) where a > 5) order by 1 nulls first, 2 nulls first`,
			[]string{"NULL|NULL", "NULL|2", "0|NULL", "1|NULL", "1|1", "1|2", "1|3", "2|NULL", "3|4", "5|4"}},
		{`select x, y from ` + vals + ` where (x, y) in (select a, b from (values (1, 2), (3, null), (5, 4)) s(a, b)) order by 1, 2`,
			[]string{"1|2", "5|4"}},
		// A long NOT IN list of rows is one condition (not one filter per
		// item, past the plan's depth limit).
		{`select count(*) from nation where (n_nationkey, n_nationkey) not in (` + longRows(300) + `)`, []string{"24"}},
	} {
		for _, parts := range []int{1, 3} {
			_, got := runSQLWith(t, cat, c.sql, Options{TargetPartitions: parts})
			if strings.Join(got, " ") != strings.Join(c.want, " ") {
				t.Errorf("%s (%d partitions):\n got %q\nwant %q", c.sql, parts, got, c.want)
			}
		}
	}
}

// longRows is the list (0, 0), (1, 7), … of n rows (i, 7i mod 25).
func longRows(n int) string {
	rows := make([]string, n)
	for i := range rows {
		rows[i] = fmt.Sprintf("(%d, %d)", i, i*7%25)
	}
	return strings.Join(rows, ", ")
}

// TestCorrelatedRowIn: a correlated (a, b) [NOT] IN (SELECT x, y …), which
// DuckDB does not run, gives DuckDB's answer to the EXISTS it means.
func TestCorrelatedRowIn(t *testing.T) {
	cat, db := tpchCatalog(t), tpchOracle(t)
	for in, exists := range map[string]string{
		`select count(*) from customer c where (c_nationkey, c_mktsegment) in (select s_nationkey, 'BUILDING' from supplier s where s.s_acctbal > c.c_acctbal)`:                         `select count(*) from customer c where exists (select 1 from supplier s where s.s_acctbal > c.c_acctbal and s_nationkey = c_nationkey and c_mktsegment = 'BUILDING')`,
		`select count(*) from customer c where (c_nationkey, c_custkey % 3) not in (select s_nationkey, s_suppkey % 3 from supplier s where s.s_suppkey = c.c_custkey)`:                 `select count(*) from customer c where not exists (select 1 from supplier s where s.s_suppkey = c.c_custkey and s_nationkey = c_nationkey and s_suppkey % 3 = c_custkey % 3)`,
		`select count(*) from customer c where (c_nationkey, c_custkey) in (select n_nationkey, max(o_custkey) from orders, nation where o_custkey = c.c_custkey group by n_nationkey)`: `select count(*) from customer c where exists (select 1 from orders where o_custkey = c.c_custkey) and c_nationkey < 25`,
	} {
		want, err := db.Rows(exists)
		if err != nil {
			t.Fatal(err)
		}
		for _, parts := range []int{1, 3} {
			if _, got := runSQLWith(t, cat, in, Options{TargetPartitions: parts}); strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("%s (%d partitions): %q, DuckDB's EXISTS %q", in, parts, got, want)
			}
		}
	}
}

// TestRowComparedWithSubquery: (a, b) op (SELECT x, y …), which DuckDB
// does not run, gives DuckDB's answer to the comparison with one scalar
// subquery per column that PostgreSQL's row comparison means.
func TestRowComparedWithSubquery(t *testing.T) {
	cat, db := tpchCatalog(t), tpchOracle(t)
	for row, split := range map[string]string{
		`select n_name from nation where (n_regionkey, n_nationkey) = (select r_regionkey, r_regionkey + 1 from region where r_name = 'AMERICA') order by 1`: `select n_name from nation where n_regionkey = (select r_regionkey from region where r_name = 'AMERICA') and n_nationkey = (select r_regionkey + 1 from region where r_name = 'AMERICA') order by 1`,
		`select n_name from nation where (n_regionkey, n_nationkey) < (select min(r_regionkey) + 1, max(3) from region) order by 1`:                          `select n_name from nation where n_regionkey < 1 or (n_regionkey = 1 and n_nationkey < 3) order by 1`,
		`select n_name, (n_regionkey, n_nationkey) = (select max(r_regionkey), min(24) from region) from nation where n_nationkey > 20 order by 1`:           `select n_name, n_regionkey = 4 and n_nationkey = 24 from nation where n_nationkey > 20 order by 1`,
		`select n_name from nation where (select r_regionkey, r_regionkey + 2 from region where r_name = 'AMERICA') = (n_regionkey, n_nationkey) order by 1`: `select n_name from nation where n_regionkey = 1 and n_nationkey = 3 order by 1`,
		// No row: a row of NULLs, the comparison NULL.
		`select count(*), count((n_regionkey, n_nationkey) <> (select r_regionkey, 1 from region where r_name = 'NOWHERE')) from nation`:                                                `select 25, 0`,
		`select n_name from nation n where (n_regionkey, n_nationkey) = (select max(s_nationkey) % 5, max(s_nationkey) from supplier s where s.s_nationkey = n.n_nationkey) order by 1`: `select n_name from nation n where n_regionkey = n_nationkey % 5 order by 1`,
		`select n_name from nation where (n_regionkey, n_nationkey) is distinct from (select r_regionkey, 1 from region where r_regionkey = 1) and n_nationkey < 5 order by 1`:          `select n_name from nation where n_nationkey < 5 and n_nationkey <> 1 order by 1`,
	} {
		want, err := db.Rows(split)
		if err != nil {
			t.Fatal(err)
		}
		for _, parts := range []int{1, 3} {
			if _, got := runSQLWith(t, cat, row, Options{TargetPartitions: parts}); strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("%s (%d partitions): %q, DuckDB %q", row, parts, got, want)
			}
		}
	}
	// Several rows: an error, as a scalar subquery's.
	p, err := PlanQuery(context.Background(), cat, `select n_name from nation where (n_regionkey, n_nationkey) = (select r_regionkey, 1 from region)`, Options{TargetPartitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	tc := &engine.TaskContext{JobID: "q", WorkDir: t.TempDir(), Mem: alloc.NewPoisoningAllocator(mem), Properties: map[string]string{}}
	bs, err := RunInProcess(context.Background(), p, tc, nil)
	for _, b := range bs {
		b.Release()
	}
	if !errors.Is(err, errs.ErrCardinality) || errs.SQLState(err) != "21000" {
		t.Errorf("a row compared with a subquery of several rows: %v (%s), want a cardinality violation", err, errs.SQLState(err))
	}
	mem.AssertSize(t, 0)
	for sql, want := range map[string]string{
		`select n_name from nation where (n_regionkey, n_nationkey) = (select distinct r_regionkey, 1 from region)`:                              "not supported yet: a row value compared with (SELECT …) over DISTINCT",
		`select n_name from nation where (n_regionkey, n_nationkey) = (select r_regionkey, 1 from region where r_regionkey = 1 order by 1)`:      "not supported yet: a row value compared with (SELECT …) over ORDER BY a position",
		`select n_name from nation where (n_regionkey, n_nationkey) = (select r_regionkey as k, 1 from region where r_regionkey = 1 order by k)`: "not supported yet: a row value compared with (SELECT …) over ORDER BY an output name",
		`select n_name from nation where (n_regionkey, n_nationkey) = (select min(r_regionkey), 1 from region)`:                                  "not supported yet: a row value compared with (SELECT …) over an aggregate without GROUP BY and columns that do not aggregate",
		`select n_name from nation where (n_regionkey, n_nationkey) = (select r_regionkey, 1 from region order by r_name limit 1)`:               "not supported yet: a row value compared with (SELECT …) over LIMIT or OFFSET",
		`select n_name from nation where (n_regionkey, n_nationkey) = (select * from region)`:                                                    "not supported yet: a row value compared with (SELECT …) over *",
		`select n_name from nation where (n_regionkey, n_nationkey) = (select r_regionkey from region where r_regionkey = 1)`:                    "subquery has too few columns",
		`select n_name from nation where (n_regionkey, n_nationkey) in ((select r_regionkey, 1 from region limit 1), (1, 2))`:                    "not supported yet: a row value IN a list of items that are not row constructors",
		`select n_name from nation where (n_regionkey, n_nationkey) = (select r_regionkey, 1 from region union select 1, 2 from region)`:         "not supported yet: a row value compared with (SELECT …) over a set operation",
	} {
		if _, err := PlanQuery(context.Background(), cat, sql, Options{TargetPartitions: 2}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s:\n got %v\nwant %q", sql, err, want)
		}
	}
}
