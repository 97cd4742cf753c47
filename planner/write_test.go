package planner

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kapot-go/kapot/catalog"
	"github.com/kapot-go/kapot/engine"
)

func TestParseWrites(t *testing.T) {
	cases := []struct {
		sql   string
		kind  StatementKind
		check func(*WriteStmt) bool
	}{
		{"CREATE TABLE t (a INT NOT NULL, b varchar(10), c DECIMAL(10,2), d date, e double precision, f boolean)", StmtCreateTable, func(w *WriteStmt) bool {
			return w.Name == "t" && len(w.Columns) == 6 && w.Columns[0].NotNull && !w.Columns[1].NotNull &&
				w.Columns[0].Type.ID() == arrow.INT32 && w.Columns[2].Type.(*arrow.Decimal128Type).Scale == 2 && w.Columns[5].Type.ID() == arrow.BOOL
		}},
		{"create table if not exists T (x bigint)", StmtCreateTable, func(w *WriteStmt) bool { return w.Name == "t" && w.IfNotExists }},
		{`CREATE TABLE "Mixed" AS SELECT 1 AS x`, StmtCreateTableAs, func(w *WriteStmt) bool { return w.Name == "Mixed" && w.query != nil }},
		{"CREATE OR REPLACE TABLE t AS SELECT 1", StmtCreateTableAs, func(w *WriteStmt) bool { return w.OrReplace }},
		{"INSERT INTO t (b, a) VALUES ('x', 1), ('y', 2)", StmtInsert, func(w *WriteStmt) bool { return slices.Equal(w.InsertCols, []string{"b", "a"}) }},
		{"insert into t select * from u", StmtInsert, func(w *WriteStmt) bool { return w.Name == "t" && w.InsertCols == nil }},
		{"DROP TABLE IF EXISTS t", StmtDropTable, func(w *WriteStmt) bool { return w.IfExists && w.Name == "t" }},
		{"DROP VIEW v", StmtDropView, func(w *WriteStmt) bool { return !w.IfExists && w.Name == "v" }},
		{"CREATE OR REPLACE VIEW v AS SELECT a, count(*) FROM t GROUP BY a", StmtCreateView, func(w *WriteStmt) bool {
			return w.OrReplace && strings.HasPrefix(w.ViewSQL, "SELECT a, count(*) FROM t GROUP BY a")
		}},
		{"COPY (SELECT * FROM t) TO '/x/out' (FORMAT parquet, PARTITION_BY (a, b), COMPRESSION zstd)", StmtCopy, func(w *WriteStmt) bool {
			c := w.Copy
			return c.Location == "/x/out" && c.Format == "parquet" && slices.Equal(c.PartitionBy, []string{"a", "b"}) && c.Compression == "zstd" && !c.SingleFile
		}},
		{"COPY t TO 's3://b/t.csv' (HEADER)", StmtCopy, func(w *WriteStmt) bool { return w.Copy.Format == "csv" && w.Copy.Header && w.Copy.SingleFile }},
		{"COPY (SELECT 1) TO '/x/one.parquet'", StmtCopy, func(w *WriteStmt) bool { return w.Copy.SingleFile && w.Copy.Format == "parquet" }},
		{"COPY (SELECT 1) TO '/x/dir/' (FORMAT csv, OVERWRITE true)", StmtCopy, func(w *WriteStmt) bool { return !w.Copy.SingleFile && w.Copy.Overwrite }},
	}
	for _, c := range cases {
		st, err := ParseStatement(c.sql)
		if err != nil {
			t.Errorf("%s: %v", c.sql, err)
			continue
		}
		if st.Kind != c.kind || st.Write == nil || !c.check(st.Write) {
			t.Errorf("%s: kind %d, %+v", c.sql, st.Kind, st.Write)
		}
	}
}

func TestParseWritesRefused(t *testing.T) {
	for _, sql := range []string{
		"CREATE TABLE t (a INT PRIMARY KEY)",
		"CREATE TABLE t (a INT DEFAULT 1)",
		"CREATE TABLE t (a INT, PRIMARY KEY (a))",
		"CREATE TEMP TABLE t (a INT)",
		"CREATE TABLE s.t (a INT)",
		"CREATE TABLE t (a INT[])",
		"CREATE TABLE t (a TIMESTAMP(3))",
		"CREATE MATERIALIZED VIEW v AS SELECT 1",
		"DROP TABLE t CASCADE",
		"DROP TABLE a, b",
		"DROP INDEX i",
		"COPY t FROM '/x.csv'",
		"COPY t TO STDOUT",
		"COPY (SELECT 1) TO '/x' (FORMAT orc)",
		"COPY (SELECT 1) TO '/x' (ROW_GROUP_SIZE 5)",
		"INSERT INTO t VALUES (1) ON CONFLICT DO NOTHING",
		"INSERT INTO t VALUES (1) RETURNING *",
		"INSERT INTO t DEFAULT VALUES",
		"CREATE EXTERNAL TABLE h STORED AS CSV PARTITIONED BY (a) LOCATION '/x'",
	} {
		_, err := ParseStatement(sql)
		if !errors.Is(err, ErrNotSupported) || !strings.Contains(err.Error(), "not supported yet") {
			t.Errorf("%s: %v, want not supported yet", sql, err)
		}
	}
	for _, sql := range []string{"CREATE TABLE t (a INT, A INT)", "CREATE TABLE t ()", "CREATE TABLE t (a DECIMAL(50, 2))"} {
		if _, err := ParseStatement(sql); err == nil || errors.Is(err, ErrNotSupported) {
			t.Errorf("%s: %v, want an error", sql, err)
		}
	}
}

func TestPlanInsertCoerces(t *testing.T) {
	cat := catalog.New()
	schema := SchemaOf([]ColumnDef{{Name: "id", Type: arrow.PrimitiveTypes.Int32, NotNull: true}, {Name: "price", Type: &arrow.Decimal128Type{Precision: 10, Scale: 2}}, {Name: "note", Type: arrow.BinaryTypes.String}})
	table := &catalog.Table{Name: "t", Format: "parquet", Schema: schema, Managed: true}
	if err := cat.Register(table); err != nil {
		t.Fatal(err)
	}
	plan := func(sql string) (*WritePlan, error) {
		st, err := ParseStatement(sql)
		if err != nil {
			return nil, err
		}
		return PlanWrite(context.Background(), cat, st, table, Options{})
	}
	wp, err := plan("INSERT INTO t (note, id) VALUES ('x', 1)")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(wp.Names, []string{"id", "price", "note"}) || !slices.Equal(wp.NotNull, []uint32{0}) {
		t.Fatalf("names %q, not null %v", wp.Names, wp.NotNull)
	}
	proj := wp.Query.Root.GetProjection()
	if proj == nil || proj.GetExprs()[0].GetCast() == nil || proj.GetExprs()[1].GetLiteral() == nil {
		t.Fatalf("want id cast to INTEGER and a NULL price: %v", proj)
	}
	if !arrow.TypeEqual(wp.Query.Schema.Field(1).Type, schema.Field(1).Type) {
		t.Fatalf("schema %v", wp.Query.Schema)
	}
	n := wp.Node("/stage")
	if w := n.GetWriter(); w == nil || w.GetLocation() != "/stage" || w.GetFormat() != "parquet" {
		t.Fatalf("node %v", n)
	}
	for sql, want := range map[string]string{
		"INSERT INTO t VALUES (1, 2)":              "the table has 3 columns",
		"INSERT INTO t (note) VALUES ('x')":        `NOT NULL column "id" needs a value`,
		"INSERT INTO t (id, id) VALUES (1, 2)":     "named twice",
		"INSERT INTO t (nope) VALUES (1)":          `no column "nope"`,
		"INSERT INTO t (id) VALUES (1), (2, 3)":    "",
		"INSERT INTO t (id) SELECT 1, 2":           "1 columns named, the query gives 2",
		"INSERT INTO t SELECT * FROM missing_tbl":  "does not exist",
		"INSERT INTO t (id) SELECT x FROM t WHERE": "syntax error",
	} {
		_, err := plan(sql)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", sql, err, want)
		}
	}
}

func TestPlanCopyAndCTAS(t *testing.T) {
	cat := catalog.New()
	st, err := ParseStatement("COPY (SELECT 1 AS a, 'x' AS b) TO '/out' (PARTITION_BY (b))")
	if err != nil {
		t.Fatal(err)
	}
	wp, err := PlanWrite(context.Background(), cat, st, nil, Options{})
	if err != nil || !slices.Equal(wp.PartitionBy, []uint32{1}) {
		t.Fatalf("%+v, %v", wp, err)
	}
	st, _ = ParseStatement("COPY (SELECT 1 AS a) TO '/out' (PARTITION_BY (zz))")
	if _, err := PlanWrite(context.Background(), cat, st, nil, Options{}); err == nil || !strings.Contains(err.Error(), "zz") {
		t.Fatalf("unknown PARTITION_BY column: %v", err)
	}
	st, _ = ParseStatement("COPY (SELECT 1 AS a) TO '/out/one.parquet'")
	wp, err = PlanWrite(context.Background(), cat, st, nil, Options{})
	if err != nil || !wp.EmptyFile || wp.Query.Root.GetExchange() == nil {
		t.Fatalf("one file: %+v, %v", wp, err)
	}
	for sql, want := range map[string]string{
		"CREATE TABLE t AS SELECT NULL AS x":      "has no type",
		"CREATE TABLE t AS SELECT 1 AS a, 2 AS a": "appears twice",
	} {
		st, _ := ParseStatement(sql)
		if _, err := PlanWrite(context.Background(), cat, st, nil, Options{}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v", sql, err)
		}
	}
}

// TestHivePartitionedTable writes Hive directories with the engine's
// writer, reads them back as a PARTITIONED BY table (an integer and a text
// partition column, a NULL partition), and checks answers and pruning.
func TestHivePartitionedTable(t *testing.T) {
	dir := t.TempDir()
	cat := catalog.New()
	src := "SELECT * FROM (VALUES (1, 'a', 10), (2, 'a', 20), (3, 'b', 10), (4, NULL, 30), (5, 'b', 30)) AS v(k, s, n)"
	st, err := ParseStatement("COPY (" + src + ") TO '" + dir + "' (PARTITION_BY (s, n))")
	if err != nil {
		t.Fatal(err)
	}
	wp, err := PlanWrite(context.Background(), cat, st, nil, Options{TargetPartitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	tc := &engine.TaskContext{JobID: "t", WorkDir: t.TempDir(), Mem: memory.NewGoAllocator(), Properties: map[string]string{}}
	if _, err := RunInProcess(context.Background(), &Plan{Root: wp.Node(dir)}, tc, nil); err != nil {
		t.Fatal(err)
	}
	def := "CREATE EXTERNAL TABLE h STORED AS PARQUET PARTITIONED BY (s, n) LOCATION '" + dir + "'"
	st, err = ClassifyIn(cat, def)
	if err != nil {
		t.Fatal(err)
	}
	if st.Def.SQL() != `CREATE EXTERNAL TABLE h STORED AS PARQUET PARTITIONED BY (s, n) LOCATION '`+dir+`'` {
		t.Fatalf("canonical SQL %s", st.Def.SQL())
	}
	if err := cat.Register(st.Table); err != nil {
		t.Fatal(err)
	}
	if f := st.Table.Schema.Field(2); f.Name != "n" || f.Type.ID() != arrow.INT64 {
		t.Fatalf("partition column n: %v", f)
	}
	for sql, want := range map[string][]string{
		"SELECT k, s, n FROM h ORDER BY k":                   {"1|a|10", "2|a|20", "3|b|10", "4|NULL|30", "5|b|30"},
		"SELECT s, sum(k) FROM h GROUP BY s ORDER BY s":      {"a|3", "b|8", "NULL|4"},
		"SELECT count(*) FROM h WHERE n = 30":                {"2"},
		"SELECT k FROM h WHERE s IS NULL":                    {"4"},
		"SELECT k FROM h WHERE s = 'b' AND n > 10 AND k > 0": {"5"},
		"SELECT count(*) FROM h WHERE n = 99":                {"0"},
	} {
		_, rows := runSQL(t, cat, sql)
		if !slices.Equal(rows, want) {
			t.Errorf("%s: %q, want %q", sql, rows, want)
		}
	}
	p, err := PlanQuery(context.Background(), cat, "SELECT k FROM h WHERE s = 'b' AND n > 10", Options{})
	if err != nil {
		t.Fatal(err)
	}
	text, err := Explain(p)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(text, "ParquetScan"); n != 1 {
		t.Fatalf("pruning kept %d partitions, want 1:\n%s", n, text)
	}
}
