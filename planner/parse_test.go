package planner

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/kapot-go/kapot/catalog"
	"github.com/kapot-go/kapot/errs"
)

func TestParseStatement(t *testing.T) {
	ext := func(d catalog.ExternalTable) *Statement { return &Statement{Kind: StmtCreateExternalTable, Def: &d} }
	for _, c := range []struct {
		sql  string
		want *Statement
	}{
		{"SELECT 1", &Statement{Kind: StmtQuery, SQL: "SELECT 1"}},
		{"  -- why\n select k from t  ", &Statement{Kind: StmtQuery, SQL: "-- why\n select k from t"}},
		{"show tables", &Statement{Kind: StmtShowTables}},
		{"SHOW FUNCTIONS", &Statement{Kind: StmtShowFunctions}},
		{"SHOW /* all */ TABLES", &Statement{Kind: StmtShowTables}},
		{"describe LineItem", &Statement{Kind: StmtDescribe, Name: "lineitem"}},
		{`DESC "Mixed"`, &Statement{Kind: StmtDescribe, Name: "Mixed"}},
		{"explain select 1", &Statement{Kind: StmtExplain, SQL: "select 1"}},
		{"/* c */ EXPLAIN ANALYZE\n select 1", &Statement{Kind: StmtExplain, SQL: "select 1", Analyze: true}},
		{"explain logical select 1", &Statement{Kind: StmtExplain, SQL: "select 1", Logical: true}},
		{"CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION '/d/t/'", ext(catalog.ExternalTable{Name: "t", Format: "parquet", Location: "/d/t/"})},
		{"create external table if not exists T stored as csv location 'a''b.csv' delimiter '|' with header row",
			ext(catalog.ExternalTable{Name: "t", Format: "csv", Header: true, Delimiter: "|", Location: "a'b.csv", IfNotExists: true})},
		{"CREATE EXTERNAL TABLE \"Odd \"\"name\"\"\" STORED AS CSV LOCATION 's3://b/p/'", ext(catalog.ExternalTable{Name: `Odd "name"`, Format: "csv", Location: "s3://b/p/"})},
		// Unreserved keywords are names.
		{"CREATE EXTERNAL TABLE location STORED AS PARQUET LOCATION 'x'", ext(catalog.ExternalTable{Name: "location", Format: "parquet", Location: "x"})},
	} {
		got, err := ParseStatement(c.sql)
		if err != nil {
			t.Errorf("%q: %v", c.sql, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q:\n got %+v %+v\nwant %+v %+v", c.sql, got, got.Def, c.want, c.want.Def)
		}
	}
}

func TestParseStatementErrors(t *testing.T) {
	for _, c := range []struct {
		sql, want   string
		unsupported bool
	}{
		{"CREATE EXTERNAL TABLE t STORED AS PARQUET", "syntax error at end of input: want LOCATION", false},
		{"CREATE EXTERNAL TABLE t LOCATION 'x'", `syntax error at or near "LOCATION": want STORED (at position 25)`, false},
		{"CREATE EXTERNAL TABLE t STORED AS JSON LOCATION 'x'", "not supported yet: STORED AS JSON", true},
		{"CREATE EXTERNAL TABLE t (a int) STORED AS CSV LOCATION 'x'", "not supported yet: column lists", true},
		{"CREATE EXTERNAL TABLE t STORED AS CSV DELIMITER '||' LOCATION 'x'", "the delimiter must be one character", false},
		{"CREATE EXTERNAL TABLE t STORED AS CSV LOCATION 'x' LOCATION 'y'", "LOCATION given twice", false},
		{"CREATE EXTERNAL TABLE t STORED AS CSV LOCATION x", "want the location as a quoted string", false},
		{"CREATE EXTERNAL TABLE t STORED AS CSV LOCATION ''", "the location is empty", false},
		{"CREATE EXTERNAL TABLE t STORED AS CSV LOCATION 'x' OPTIONS ('a' 'b')", "want WITH HEADER ROW, DELIMITER, PARTITIONED BY or LOCATION", false},
		{"CREATE EXTERNAL TABLE t STORED AS PARQUET WITH HEADER ROW LOCATION 'x'", "apply to CSV tables only", false},
		{"CREATE EXTERNAL TABLE select STORED AS CSV LOCATION 'x'", "want the table's name", false},
		{"DESCRIBE", "want a table name", false},
		{"DESCRIBE a b", "want the end of the statement", false},
		{"EXPLAIN", "EXPLAIN needs a query", false},
		{"EXPLAIN ANALYZE", "EXPLAIN needs a query", false},
		{"select 'open", "unterminated quoted string", false},
		{"select 1\x00; drop table t", "NUL byte", false},
	} {
		_, err := ParseStatement(c.sql)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want %q", c.sql, err, c.want)
			continue
		}
		if errors.Is(err, ErrNotSupported) != c.unsupported || !c.unsupported && !errors.Is(err, errs.ErrSyntax) && !errors.Is(err, errs.ErrInvalidSQL) {
			t.Errorf("%q: %v has the wrong class", c.sql, err)
		}
	}
}

func TestExternalTableSQLRoundTrips(t *testing.T) {
	for _, d := range []catalog.ExternalTable{
		{Name: "t", Format: "parquet", Location: "/data/t/"},
		{Name: "Mixed Case", Format: "csv", Header: true, Delimiter: "'", Location: "it's here"},
		{Name: "select", Format: "csv", Delimiter: ";", Location: "s3://bucket/a b/"},
		{Name: "x1", Format: "csv", Location: "c:\\data"},
	} {
		st, err := ParseStatement(d.SQL())
		if err != nil {
			t.Errorf("%s: %v", d.SQL(), err)
			continue
		}
		if !reflect.DeepEqual(*st.Def, d) {
			t.Errorf("%s: got %+v back", d.SQL(), *st.Def)
		}
	}
}

func TestSplitScriptFollowsPostgresLexer(t *testing.T) {
	got, err := SplitScript("select $$a;b$$; /* x; /* nested; */ ; */ select 1;\n-- only a comment;\n;describe t")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"select $$a;b$$", "/* x; /* nested; */ ; */ select 1", "describe t"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	if _, err := SplitScript("select 1; /* open"); err == nil {
		t.Fatal("unterminated comment accepted")
	}
	if _, err := SplitScript("select 1;\x00select 2"); err == nil {
		t.Fatal("NUL byte accepted")
	}
}

// FuzzParseStatement checks that the parser never panics and that every
// table definition it accepts survives a round trip through its SQL.
func FuzzParseStatement(f *testing.F) {
	for _, s := range []string{
		"CREATE EXTERNAL TABLE t STORED AS CSV WITH HEADER ROW DELIMITER '|' LOCATION '/x'",
		"create external table if not exists \"a\"\"b\" stored as parquet location 's3://b/'",
		"EXPLAIN ANALYZE SELECT 1", "DESCRIBE t", "SHOW TABLES",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		st, err := ParseStatement(sql)
		if err != nil || st.Def == nil {
			return
		}
		back, err := ParseStatement(st.Def.SQL())
		if err != nil {
			t.Fatalf("%q: its SQL %q does not parse: %v", sql, st.Def.SQL(), err)
		}
		want := *st.Def
		want.IfNotExists = false
		if !reflect.DeepEqual(*back.Def, want) {
			t.Fatalf("%q: %+v came back as %+v", sql, want, *back.Def)
		}
	})
}
