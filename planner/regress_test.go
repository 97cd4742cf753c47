package planner

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/kapot-go/kapot/internal/testkit/oracle"
)

// TestWrongAnswerRegressions are the wrong answers of issue 18, each
// checked against DuckDB on the same files (in process, with freed
// buffers poisoned: see runSQLWith).
func TestWrongAnswerRegressions(t *testing.T) {
	cat, db := tpchCatalog(t), tpchOracle(t)
	for _, tc := range []struct {
		name, sql string
		want      []string // when set, the exact rows (DuckDB's must agree)
		cols      int
	}{
		{name: "aggregate FILTER", sql: `select count(*) filter (where n_regionkey = 0), count(*) from nation`, want: []string{"5|25"}, cols: 2},
		{name: "FILTER on sum and count(x)", sql: `select n_regionkey, sum(n_nationkey) filter (where n_name like 'A%'), count(n_name) filter (where n_nationkey > 10),
			min(n_name) filter (where n_nationkey < 0) from nation group by n_regionkey order by 1`, cols: 4},
		{name: "min/max of a string column of a large table", sql: `select min(l_comment), max(l_comment) from lineitem`, cols: 2},
		{name: "grouped min/max of strings", sql: `select l_shipmode, min(l_comment), max(l_comment), min(l_shipinstruct) from lineitem group by l_shipmode order by 1`, cols: 4},
		{name: "date - date is days", sql: `select o_orderkey, o_orderdate - date '1995-01-01', date '1998-12-01' - o_orderdate from orders where o_orderkey < 40 order by 1`, cols: 3},
		{name: "date - date compares and averages", sql: `select count(*), avg(l_receiptdate - l_shipdate), max(l_receiptdate - l_shipdate) from lineitem where l_receiptdate - l_shipdate > 20`, cols: 3},
		{name: "DISTINCT over GROUP BY", sql: `select distinct n_nationkey * 0 - 21 from nation group by n_nationkey`, want: []string{"-21"}, cols: 1},
		{name: "DISTINCT over GROUP BY with an aggregate", sql: `select distinct count(*) from nation group by n_regionkey`, want: []string{"5"}, cols: 1},
		{name: "DISTINCT with ORDER BY", sql: `select distinct n_regionkey from nation order by n_regionkey desc`, cols: 1},
		{name: "a column selected twice", sql: `select distinct n_regionkey as r, n_regionkey as r from nation order by 1`, cols: 2},
		{name: "avg of decimals is exact until the division", sql: `select distinct avg(s_acctbal * 0 + 0.05) from supplier group by s_nationkey`, want: []string{"0.05"}, cols: 1},
		{name: "IN list of mixed numbers", sql: `select n_nationkey from nation where n_nationkey in (1.5, 2, 3.0) order by 1`, want: []string{"2", "3"}, cols: 1},
		{name: "IN list of decimals of several precisions", sql: `select count(*) from supplier where s_acctbal * 0 + 0.05 in (1000.00, 0.05, -2.25)`, cols: 1},
		{name: "IN subquery over another numeric type", sql: `select count(*) from nation where n_nationkey + 0.00 in (select s_nationkey from supplier)`, cols: 1},
		{name: "COALESCE with an untyped NULL first", sql: `select n_nationkey, coalesce(null, n_nationkey, 2.5), coalesce(null, n_name), coalesce(null, null, n_regionkey) from nation order by 1`, cols: 4},
		{name: "count(*) twice", sql: `select count(*), count(*) from nation`, want: []string{"25|25"}, cols: 2},
		{name: "* over comma and CROSS JOIN in FROM order", sql: `select * from region, nation as n cross join region as r2, supplier as s
			where n.n_nationkey = s.s_nationkey and region.r_regionkey = 1 and r2.r_regionkey = n.n_regionkey and s.s_suppkey < 4 order by s.s_suppkey`, cols: 17},
		{name: "qualified * keeps FROM order", sql: `select s.*, n.* from supplier s, nation n where s_nationkey = n_nationkey and s_suppkey < 3 order by s_suppkey`, cols: 11},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cols, got := runSQL(t, cat, tc.sql)
			if len(cols) != tc.cols {
				t.Errorf("%d output columns %q, want %d", len(cols), cols, tc.cols)
			}
			want, err := db.Rows(tc.sql)
			if err != nil {
				t.Fatal(err)
			}
			if tc.want != nil {
				if err := oracle.SameRows(tc.want, want); err != nil {
					t.Fatalf("DuckDB disagrees with the test: %v (%q)", err, want)
				}
			}
			if !strings.Contains(strings.ToLower(tc.sql), "order by") {
				got, want = sortedCopy(got), sortedCopy(want)
			}
			if err := oracle.SameRows(got, want); err != nil {
				t.Fatalf("%v\nkapot:  %q\nduckdb: %q", err, head(got), head(want))
			}
		})
	}
}

// TestRefusedNotIgnored: SQL the binder does not handle is refused with
// "not supported yet: <what>", never silently dropped; and an invalid
// expression inside FILTER is an error.
func TestRefusedNotIgnored(t *testing.T) {
	cat := tpchCatalog(t)
	for sql, feature := range map[string]string{
		`select sum(n_nationkey order by n_name) from nation`:                  "ORDER BY inside an aggregate call",
		`select upper(n_name order by n_name) from nation`:                     "ORDER BY inside an aggregate call",
		`select upper(n_name) within group (order by n_nationkey) from nation`: "WITHIN GROUP",
		// The padded side of an outer join is nullable whatever its table
		// says: the NULL-free NOT IN gave the padded rows (found by the
		// differential fuzzer).
		`select count(*) from orders o right join customer on o_custkey = c_custkey where o_totalprice not in (select s_acctbal from supplier where s_nationkey = o.o_custkey)`: "a correlated NOT IN over values that may be NULL",
		`select upper(n_name) over () from nation`: "window function upper",
		`select sum(n_nationkey) over (order by n_name rows between 1 preceding and current row exclude current row) from nation`: "EXCLUDE in a window frame",
		`select count(*) over (order by o_orderdate range between 3 preceding and current row) from orders`:                       "RANGE frames with offsets over DATE order keys",
		`select stddev(n_nationkey) over (order by n_name) from nation`:                                                           "stddev over a window with ORDER BY",
		`select stddev(n_nationkey) over (rows between 1 preceding and current row) from nation`:                                  "stddev over a window with ORDER BY or a frame",
	} {
		_, err := PlanQuery(context.Background(), cat, sql, Options{TargetPartitions: 2})
		if !errors.Is(err, ErrNotSupported) || !strings.Contains(err.Error(), feature) {
			t.Errorf("%s: got %v, want not supported yet: %s", sql, err, feature)
		}
	}
	if _, err := PlanQuery(context.Background(), cat, `select count(*) filter (where no_such_column = 0) from nation`, Options{TargetPartitions: 2}); err == nil || !strings.Contains(err.Error(), "no_such_column") {
		t.Errorf("an unknown column inside FILTER: got %v", err)
	}
	if _, err := PlanQuery(context.Background(), cat, `select distinct n_name from nation order by n_regionkey`, Options{TargetPartitions: 2}); err == nil || !strings.Contains(err.Error(), "select list") {
		t.Errorf("DISTINCT ordered by a column it drops: got %v", err)
	}
}

var colIndex = regexp.MustCompile(`@\d+`)

// TestExpressionsPrintAsTheyRun: EXPLAIN prints each expression so that
// it parses back to the same expression (print, parse, bind, print again
// gives the same text), with the parentheses the tree needs.
func TestExpressionsPrintAsTheyRun(t *testing.T) {
	cat := tpchCatalog(t)
	printed := func(expr string) string {
		t.Helper()
		p, err := PlanQuery(context.Background(), cat, "select "+expr+" as v from lineitem", Options{TargetPartitions: 1})
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		text, err := Explain(p)
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`Projection\((.*) AS v\)`).FindStringSubmatch(text)
		if m == nil {
			t.Fatalf("%s: no projection in\n%s", expr, text)
		}
		return colIndex.ReplaceAllString(m[1], "")
	}
	for expr, want := range map[string]string{
		`l_extendedprice * (1 - l_discount)`:                       `l_extendedprice * (1 - l_discount)`,
		`l_extendedprice * (1 - l_discount) * (1 + l_tax)`:         `l_extendedprice * (1 - l_discount) * (1 + l_tax)`,
		`(l_quantity - l_linenumber) - l_partkey`:                  `l_quantity - l_linenumber - l_partkey`,
		`l_quantity - (l_linenumber - l_partkey)`:                  `l_quantity - (l_linenumber - l_partkey)`,
		`l_partkey / (l_suppkey * 2)`:                              `l_partkey / (l_suppkey * 2)`,
		`l_partkey % (l_suppkey + 1)`:                              `l_partkey % (l_suppkey + 1)`,
		`(l_quantity > 1 or l_tax > 0) and l_discount < 0.05`:      `(l_quantity > 1 OR l_tax > 0) AND l_discount < 0.05`,
		`l_quantity > 1 or l_tax > 0 and l_discount < 0.05`:        `l_quantity > 1 OR l_tax > 0 AND l_discount < 0.05`,
		`l_shipmode = 'AIR' or l_comment like '%it''s%'`:           `l_shipmode = 'AIR' OR l_comment LIKE '%it''s%'`,
		`l_shipdate - 5 < date '1995-01-01'`:                       `l_shipdate - 5 < DATE '1995-01-01'`,
		`(l_orderkey + 1) in (1, 2, 3)`:                            `l_orderkey + 1 IN (1, 2, 3)`,
		`not (l_quantity = 1 and l_tax = 0)`:                       `NOT(l_quantity = 1 AND l_tax = 0)`,
		`case when l_quantity > 10 then l_orderkey - 1 else 0 end`: `CASE WHEN l_quantity > 10 THEN l_orderkey - 1 ELSE 0 END`,
	} {
		got := printed(expr)
		if got != want {
			t.Errorf("%s printed as %s, want %s", expr, got, want)
			continue
		}
		if again := printed(got); again != got {
			t.Errorf("%s printed as %s, which prints back as %s", expr, got, again)
		}
	}
}

func sortedCopy(rows []string) []string {
	out := append([]string(nil), rows...)
	slices.Sort(out)
	return out
}

// TestWindowDefinitionErrors: frames and named windows that SQL rejects
// get PostgreSQL's error, not a guess.
func TestWindowDefinitionErrors(t *testing.T) {
	cat := tpchCatalog(t)
	for sql, want := range map[string]string{
		`select rank() over w from nation`: `window "w" does not exist`,
		`select rank() over (w partition by n_name) from nation window w as (order by n_name)`:                       `cannot override PARTITION BY clause of window "w"`,
		`select rank() over (w order by n_name) from nation window w as (order by n_name)`:                           `cannot override ORDER BY clause of window "w"`,
		`select sum(n_nationkey) over (w) from nation window w as (order by n_name rows 2 preceding)`:                `cannot copy window "w" because it has a frame clause`,
		`select count(*) over (groups between 1 preceding and current row) from nation`:                              "GROUPS mode requires an ORDER BY clause",
		`select count(*) over (order by n_name, n_nationkey range between 1 preceding and current row) from nation`:  "RANGE with offset PRECEDING/FOLLOWING requires exactly one ORDER BY column",
		`select count(*) over (order by n_nationkey rows between n_regionkey preceding and current row) from nation`: "ROWS frame offsets must be non-negative integer constants",
		`select count(*) over (order by n_nationkey rows between 1 following and current row) from nation`:           "frame starting from following row cannot have preceding rows",
		`select nth_value(n_name, 0) over (order by n_nationkey) from nation`:                                        "positive for nth_value",
	} {
		_, err := PlanQuery(context.Background(), cat, sql, Options{TargetPartitions: 2})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s:\n got %v\nwant %q", sql, err, want)
		}
	}
}

// TestOrderedAggregateErrors: misuse of the ordered and two-argument
// aggregates is an error naming the call.
func TestOrderedAggregateErrors(t *testing.T) {
	cat := tpchCatalog(t)
	for sql, want := range map[string]string{
		`select percentile_cont(0.5) from nation`:                                             "percentile_cont needs WITHIN GROUP (ORDER BY one key)",
		`select percentile_disc(0.5) within group (order by n_name, n_nationkey) from nation`: "percentile_disc needs WITHIN GROUP (ORDER BY one key)",
		`select percentile_cont(1.5) within group (order by n_nationkey) from nation`:         "the fraction must be between 0 and 1",
		`select quantile_cont(n_nationkey, n_regionkey) from nation`:                          "the fraction must be a constant",
		`select percentile_cont(0.5) within group (order by n_name) from nation`:              "percentile_cont / median over utf8",
		`select string_agg(n_name, n_comment) from nation`:                                    "the separator must be a constant",
		`select corr(n_name, n_nationkey) from nation`:                                        "corr takes numbers, not VARCHAR",
		`select covar_pop(n_nationkey) from nation`:                                           "covar_pop takes 2 argument(s)",
		`select sum(n_nationkey order by n_name) from nation`:                                 "ORDER BY inside an aggregate call",
		`select string_agg(n_name, ',') over () from nation`:                                  "window function string_agg",
	} {
		_, err := PlanQuery(context.Background(), cat, sql, Options{TargetPartitions: 2})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s:\n got %v\nwant %q", sql, err, want)
		}
	}
}
