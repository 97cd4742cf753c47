package planner

import (
	"context"
	"regexp"
	"testing"

	"github.com/kapot-go/kapot/internal/testkit/oracle"
)

// TestOuterJoinKeyTests: a WHERE test of a LEFT (RIGHT) join's preserved
// key, a comparison with constants, filters the other side's key before
// the join (rows that fail it match no row kept); the answers stay
// DuckDB's, the unmatched rows' NULLs included.
func TestOuterJoinKeyTests(t *testing.T) {
	cat, db := tpchCatalog(t), tpchOracle(t)
	for _, c := range []struct {
		sql     string
		derived string // a filter the plan must hold, or ""
	}{
		{`select n_name, r_name from nation left join region on n_regionkey = r_regionkey where n_regionkey = 1 order by 1`, `r_regionkey@\d+ = 1\b`},
		{`select n_name, r.r_name from nation left join (select * from region where r_regionkey <> 1) r on n_regionkey = r.r_regionkey where n_regionkey in (1, 2) order by 1`, `r_regionkey@\d+ IN \(1, 2\)`},
		{`select n_name, r_name from region right join nation on r_regionkey = n_regionkey where n_regionkey between 3 and 4 order by 1`, `r_regionkey@\d+ (BETWEEN 3 AND 4|>= 3)`},
		{`select n1.n_name, n2.n_nationkey from nation n1 left join nation n2 on n1.n_name = n2.n_name and n2.n_nationkey > 5 where n1.n_name >= 'P' order by 1`, `n_name@\d+ >= 'P'.*\n(.*\n)*.*n_name@\d+ >= 'P'`},
		{`select n_name, r_name from nation left join region on n_regionkey = r_regionkey where n_regionkey = n_nationkey order by 1`, ""},
		{`select s_suppkey, c_custkey from supplier left join customer on s_acctbal = c_acctbal where s_acctbal > 9990 order by 1, 2`, ""},
		{`select count(*), count(r_name) from nation left join region on n_regionkey = r_regionkey where n_regionkey > 10`, `r_regionkey@\d+ > 10`},
	} {
		t.Run(c.sql, func(t *testing.T) {
			_, got := runSQL(t, cat, c.sql)
			want, err := db.Rows(c.sql)
			if err != nil {
				t.Fatal(err)
			}
			if err := oracle.SameRows(got, want); err != nil {
				t.Fatalf("%v\nkapot:  %q\nduckdb: %q", err, got, want)
			}
			if c.derived == "" {
				return
			}
			p, err := PlanQuery(context.Background(), cat, c.sql, Options{})
			if err != nil {
				t.Fatal(err)
			}
			text, err := Explain(p)
			if err != nil {
				t.Fatal(err)
			}
			if !regexp.MustCompile(c.derived).MatchString(text) {
				t.Errorf("the plan lacks %s:\n%s", c.derived, text)
			}
		})
	}
}
