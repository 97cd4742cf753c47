package planner

import (
	"context"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/kapot-go/kapot/catalog"
)

// FuzzSQL feeds arbitrary SQL to the splitter, the statement classifier and
// the planner over a catalog of two tables: errors are fine, panics are not.
func FuzzSQL(f *testing.F) {
	cat := catalog.New()
	for _, t := range []*catalog.Table{
		{Name: "t", Format: "parquet", Files: []string{"/nonexistent/t.parquet"}, Rows: 1000, Schema: arrow.NewSchema([]arrow.Field{
			{Name: "k", Type: arrow.PrimitiveTypes.Int64}, {Name: "s", Type: arrow.BinaryTypes.String},
			{Name: "d", Type: arrow.FixedWidthTypes.Date32}, {Name: "x", Type: &arrow.Decimal128Type{Precision: 15, Scale: 2}}}, nil)},
		{Name: "u", Format: "csv", Files: []string{"/nonexistent/u.csv"}, Schema: arrow.NewSchema([]arrow.Field{
			{Name: "k", Type: arrow.PrimitiveTypes.Int64}, {Name: "f", Type: arrow.PrimitiveTypes.Float64}}, nil)},
	} {
		if err := cat.Register(t); err != nil {
			f.Fatal(err)
		}
	}
	for _, q := range []string{
		"SELECT k, count(*) FROM t GROUP BY k ORDER BY 2 DESC LIMIT 5",
		"SELECT s, sum(x) FROM t JOIN u ON t.k = u.k WHERE d < DATE '1995-01-01' + INTERVAL '3' MONTH GROUP BY s",
		"SELECT * FROM t WHERE k IN (SELECT k FROM u WHERE f > 1.5) AND s LIKE '%a_b%'",
		"WITH w AS (SELECT k, avg(f) a FROM u GROUP BY k) SELECT CASE WHEN a > 1 THEN 'x' ELSE NULL END FROM w",
		"SELECT EXTRACT(year FROM d), substring(s from 1 for 3) FROM t WHERE EXISTS (SELECT 1 FROM u WHERE u.k = t.k)",
		"EXPLAIN SELECT 1",
		"select count(distinct s) from t; show tables; describe t",
	} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		stmts, err := SplitScript(sql)
		if err != nil {
			return
		}
		for _, stmt := range stmts {
			st, err := Classify(stmt)
			if err != nil || st.Kind != StmtQuery {
				continue
			}
			p, err := PlanQuery(context.Background(), cat, st.SQL, Options{TargetPartitions: 2})
			if err == nil {
				Explain(p)
			}
		}
	})
}
