package planner

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kapot-go/kapot/engine"
	"github.com/kapot-go/kapot/engine/alloc"
	"github.com/kapot-go/kapot/errs"
	"github.com/kapot-go/kapot/internal/testkit/oracle"
	"github.com/kapot-go/kapot/internal/testkit/oracle/duck"
)

// Uncorrelated scalar subqueries of any shape (GROUP BY, DISTINCT, LIMIT,
// UNION) give their one row's value, NULL over no rows, and fail with
// SQLSTATE 21000 over several rows, as PostgreSQL and DuckDB do; in the
// select list, in WHERE (x op (SELECT …) and inside expressions) and in
// HAVING. Before, a comparison with one that returned several rows kept
// every outer row matching any of them (an IN), and the other shapes
// were refused.
func TestScalarSubqueryShapes(t *testing.T) {
	cat := tpchCatalog(t)
	for _, c := range []struct{ sql, want string }{
		{`select n_name from nation where n_regionkey = (select distinct r_regionkey from region where r_name = 'ASIA') order by 1`,
			"CHINA INDIA INDONESIA JAPAN VIETNAM"},
		{`select n_name from nation where n_nationkey between (select distinct n_nationkey + 1 from nation where n_name = 'CHINA')
			and (select distinct n_nationkey + 3 from nation where n_name = 'CHINA') order by 1`, "ROMANIA SAUDI ARABIA VIETNAM"},
		{`select (select r_name from region where r_regionkey = 2), (select r_name from region order by r_regionkey limit 1),
			(select count(*) from nation group by n_regionkey having n_regionkey = 4)`, "ASIA|AFRICA|5"},
		{`select (select r_regionkey from region where r_regionkey = 7)`, "NULL"},
		{`select (select n_name from nation where n_nationkey = 1 union select n_name from nation where n_nationkey = 1)`, "ARGENTINA"},
		{`select n_regionkey, count(*) from nation group by n_regionkey
			having count(*) >= (select count(*) from nation group by n_regionkey having n_regionkey = 0) order by 1`, "0|5 1|5 2|5 3|5 4|5"},
		{`select n_name from nation where n_regionkey > (select r_regionkey from region where r_name like 'E%' limit 1) order by 1`,
			"EGYPT IRAN IRAQ JORDAN SAUDI ARABIA"},
	} {
		_, rows := runSQL(t, cat, c.sql)
		if got := strings.Join(rows, " "); got != c.want {
			t.Errorf("%s\n got %q\nwant %q", c.sql, got, c.want)
		}
	}
	for _, sql := range []string{
		`select (select r_name from region)`,
		`select (select r_name from region where r_regionkey < 2 group by r_name)`,
		`select n_name from nation where n_regionkey = (select r_regionkey from region)`,
		`select n_name from nation where n_regionkey = (select r_regionkey from region where r_regionkey = 3 union all select 3)`,
	} {
		p, err := PlanQuery(context.Background(), cat, sql, Options{TargetPartitions: 3})
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		tc := &engine.TaskContext{JobID: "q", WorkDir: t.TempDir(), Mem: alloc.NewPoisoningAllocator(mem), Properties: map[string]string{}}
		bs, err := RunInProcess(context.Background(), p, tc, nil)
		for _, b := range bs {
			b.Release()
		}
		if !errors.Is(err, errs.ErrCardinality) || errs.SQLState(err) != "21000" ||
			!strings.Contains(err.Error(), "more than one row returned by a subquery used as an expression") {
			t.Errorf("%s: %v (%s), want a cardinality violation", sql, err, errs.SQLState(err))
		}
		mem.AssertSize(t, 0)
	}
}

// TPC-DS q44 (a scalar subquery with GROUP BY in HAVING) and q54
// (SELECT DISTINCT subqueries as the bounds of BETWEEN) give DuckDB's
// answers. Both answer no rows at SF 0.1 as written; q44 for store 1
// answers ten.
func TestTPCDSScalarSubqueries(t *testing.T) {
	dir := tpcdsDir(t)
	for _, c := range []struct {
		q, from, to string
		rows        int
		tables      []string
	}{
		{"q44", "", "", 0, []string{"store_sales", "item"}},
		{"q44", "ss_store_sk = 4", "ss_store_sk = 1", 10, []string{"store_sales", "item"}},
		{"q54", "", "", 0, []string{"catalog_sales", "web_sales", "item", "date_dim", "customer", "store_sales", "customer_address", "store"}},
	} {
		text, err := os.ReadFile(filepath.Join(dir, "..", "queries", c.q+".sql"))
		if err != nil {
			t.Skipf("no TPC-DS queries: %v", err)
		}
		sql := string(text)
		if c.from != "" {
			sql = strings.ReplaceAll(sql, c.from, c.to)
		}
		cat, files := tpcdsCatalog(t, dir, c.tables...)
		_, got := runSQL(t, cat, sql)
		want, err := duck.QueryRows(duckOver(t, files), sql)
		if err != nil {
			t.Fatal(err)
		}
		if err := oracle.SameRows(got, want); err != nil || len(got) != c.rows {
			t.Fatalf("%s %s: %d rows, %v\nkapot:  %q\nduckdb: %q", c.q, c.to, len(got), err, head(got), head(want))
		}
	}
}
