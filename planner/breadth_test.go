package planner

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/kapot-go/kapot/internal/testkit/oracle"
	"github.com/kapot-go/kapot/tpch"
)

// breadthCase is one query of the SQL-breadth corpus (issue 22).
type breadthCase struct {
	family, sql string
}

// loadBreadth reads testdata/breadth.sql.
func loadBreadth(t *testing.T) []breadthCase {
	t.Helper()
	b, err := os.ReadFile("testdata/breadth.sql")
	if err != nil {
		t.Fatal(err)
	}
	var out []breadthCase
	stmts, err := SplitScript(string(b))
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range stmts {
		fam := "?"
		if len(out) > 0 {
			fam = out[len(out)-1].family
		}
		var sql []string
		for _, line := range strings.Split(st, "\n") {
			if f, ok := strings.CutPrefix(strings.TrimSpace(line), "-- family:"); ok {
				fam = strings.TrimSpace(f)
			}
			if !strings.HasPrefix(strings.TrimSpace(line), "--") {
				sql = append(sql, line)
			}
		}
		out = append(out, breadthCase{family: fam, sql: strings.Join(sql, "\n")})
	}
	return out
}

func TestBreadthAgainstDuckDB(t *testing.T) {
	cat, db := tpchCatalog(t), tpchOracle(t)
	for _, parts := range []int{1, 3} {
		for _, c := range loadBreadth(t) {
			t.Run(c.family, func(t *testing.T) {
				_, got := runSQLWith(t, cat, c.sql, Options{TargetPartitions: parts})
				want, err := db.Rows(c.sql)
				if err != nil {
					t.Fatalf("duckdb: %v\n%s", err, c.sql)
				}
				if !strings.Contains(strings.ToLower(c.sql), "order by") || strings.Contains(strings.ToLower(c.sql), ") union all (") {
					got, want = sortedCopy(got), sortedCopy(want)
				}
				if err := oracle.SameRows(got, want); err != nil {
					t.Fatalf("%d partitions: %v\n%s\nkapot:  %q\nduckdb: %q", parts, err, c.sql, head(got), head(want))
				}
			})
		}
	}
}

func TestSetOperationErrors(t *testing.T) {
	cat := tpchCatalog(t)
	for sql, want := range map[string]string{
		`select n_name from nation union select n_nationkey from nation`:                                                                     "UNION types VARCHAR and BIGINT cannot be matched",
		`select n_name, n_nationkey from nation union select r_name from region`:                                                             "each UNION query must have the same number of columns (2 and 1)",
		`select n_name from nation n where n_nationkey in (select s_nationkey from supplier where s_suppkey = n.n_nationkey union select 1)`: "not supported yet",
	} {
		_, err := PlanQuery(context.Background(), cat, sql, Options{TargetPartitions: 2})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s:\n got %v\nwant %q", sql, err, want)
		}
		if strings.Contains(want, "not supported") && !errors.Is(err, ErrNotSupported) {
			t.Errorf("%s: %v is not ErrNotSupported", sql, err)
		}
	}
}

// TestApproxCountDistinct: the HyperLogLog estimate is exact while a group
// has seen few values (the sparse sketch) and within 2 % of the exact count
// beyond, merged across partitions.
func TestApproxCountDistinct(t *testing.T) {
	cat := tpchCatalog(t)
	for _, parts := range []int{1, 3} {
		for _, col := range []string{"l_orderkey", "l_partkey", "l_suppkey", "l_comment", "l_shipdate", "l_extendedprice"} {
			sql := "select approx_count_distinct(" + col + "), count(distinct " + col + ") from lineitem"
			_, rows := runSQLWith(t, cat, sql, Options{TargetPartitions: parts})
			var est, exact float64
			if _, err := fmt.Sscanf(rows[0], "%g|%g", &est, &exact); err != nil {
				t.Fatalf("%s: %q: %v", sql, rows, err)
			}
			if exact <= 1024 && est != exact {
				t.Errorf("%s (%d partitions): %v, exactly %v expected below 1,024 values", sql, parts, est, exact)
			}
			if math.Abs(est-exact) > 0.02*exact {
				t.Errorf("%s (%d partitions): estimate %v is more than 2 %% from %v", sql, parts, est, exact)
			}
		}
	}
	_, rows := runSQLWith(t, cat, "select n_regionkey, approx_count_distinct(n_name) from nation group by 1 order by 1", Options{TargetPartitions: 3})
	if want := []string{"0|5", "1|5", "2|5", "3|5", "4|5"}; strings.Join(rows, " ") != strings.Join(want, " ") {
		t.Errorf("per group: %q, want %q", rows, want)
	}
}

// TestExtendedSuite: the queries of `kapot tpch bench --suite extended`
// give DuckDB's answers (SF 0.01, one and three partitions).
func TestExtendedSuite(t *testing.T) {
	cat, db := tpchCatalog(t), tpchOracle(t)
	for n := 1; n <= tpch.ExtendedQueries; n++ {
		sql, err := tpch.ExtendedQuery(n)
		if err != nil {
			t.Fatal(err)
		}
		want, err := db.Rows(sql)
		if err != nil {
			t.Fatalf("E%d: duckdb: %v", n, err)
		}
		if len(want) == 0 {
			t.Fatalf("E%d: DuckDB returns no rows: the query tests nothing", n)
		}
		for _, parts := range []int{1, 3} {
			_, got := runSQLWith(t, cat, sql, Options{TargetPartitions: parts})
			if err := oracle.SameRows(got, want); err != nil {
				t.Errorf("E%d, %d partitions: %v\nkapot:  %q\nduckdb: %q", n, parts, err, head(got), head(want))
			}
		}
	}
}

// TestUnionGroupsOnce: a UNION over UNION and UNION ALL queries groups
// their rows once, the same rows as DuckDB's, with each column at the
// type the nested unions give it; a UNION ALL over a UNION keeps the
// inner grouping, and a branch with its own LIMIT is grouped by itself.
func TestUnionGroupsOnce(t *testing.T) {
	cat, db := tpchCatalog(t), tpchOracle(t)
	for sql, aggs := range map[string]int{
		`select n_regionkey from nation union select r_regionkey from region union select s_nationkey % 7 from supplier`:              1,
		`select n_name from nation union all select n_name from nation union select r_name from region`:                               1,
		`select 1 as x union (select 2 union all select 2) union select 3`:                                                            1,
		`select n_nationkey from nation union select 1.5 union select cast(null as int) union select n_regionkey from nation`:         1,
		`select 1 as x union select 1 union all select 1`:                                                                             1,
		`select n_name from nation union (select r_name from region union select n_name from nation order by 1 limit 2)`:              2,
		`select n_regionkey, n_name from nation union select r_regionkey, r_name from region union select 0, 'ALGERIA' order by 1, 2`: 1,
	} {
		for _, parts := range []int{1, 3} {
			_, got := runSQLWith(t, cat, sql, Options{TargetPartitions: parts})
			want, err := db.Rows(sql)
			if err != nil {
				t.Fatalf("duckdb: %v\n%s", err, sql)
			}
			if !strings.Contains(sql, "order by 1, 2") {
				got, want = sortedCopy(got), sortedCopy(want)
			}
			if err := oracle.SameRows(got, want); err != nil {
				t.Fatalf("%d partitions: %v\n%s\nkapot:  %q\nduckdb: %q", parts, err, sql, head(got), head(want))
			}
		}
		p, err := PlanQuery(context.Background(), cat, sql, Options{TargetPartitions: 1})
		if err != nil {
			t.Fatal(err)
		}
		text, err := Explain(p)
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(text, "HashAggregate(mode=SINGLE") + strings.Count(text, "HashAggregate(mode=FINAL"); n != aggs {
			t.Errorf("%s: %d groupings, want %d:\n%s", sql, n, aggs, text)
		}
	}
}
