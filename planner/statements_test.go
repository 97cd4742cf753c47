package planner

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kapot-go/kapot/catalog"
	"github.com/kapot-go/kapot/engine"
)

func TestSplitScript(t *testing.T) {
	got, err := SplitScript("select 'a;b'; -- x;y\nselect \"c;\" from t /* ; */;\n\n; describe t")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"select 'a;b'", "-- x;y\nselect \"c;\" from t /* ; */", "describe t"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	if _, err := SplitScript("select 'open"); err == nil {
		t.Fatal("unterminated string accepted")
	}
}

func TestExternalTablesAndErrors(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.csv"), []byte("k|v\n1|x\n2|y\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "b.csv"), []byte("k|v\n3|z\n"), 0o644)
	st, err := Classify("CREATE EXTERNAL TABLE kv STORED AS CSV WITH HEADER ROW DELIMITER '|' LOCATION '" + dir + "'")
	if err != nil {
		t.Fatal(err)
	}
	cat := catalog.New()
	if err := cat.Register(st.Table); err != nil {
		t.Fatal(err)
	}
	cols, rows := runSQL(t, cat, "select k + 1 as k1, upper(v) from kv where k > 1 order by k desc")
	if !slices.Equal(cols, []string{"k1", "upper"}) || !slices.Equal(rows, []string{"4|Z", "3|Y"}) {
		t.Fatalf("got %v %q", cols, rows)
	}
	for _, c := range []struct{ sql, want string }{
		{"select nope from kv", `column "nope" does not exist (at position 8)`},
		{"select * from missing", `table "missing" does not exist`},
		{"select v, count(*) from kv group by k", `column "v" must appear in the GROUP BY clause`},
		{"select k from kv where k = (select k from kv k2 where k2.v = kv.v)", "not supported yet: correlated scalar subqueries without an aggregate"},
		{"select k +", "syntax error"},
		{"select v + 1 from kv", "operator + cannot be applied to VARCHAR and BIGINT (at position 10)"},
	} {
		_, err := PlanQuery(context.Background(), cat, c.sql, Options{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.sql, err, c.want)
		}
	}
	if _, rows := runSQL(t, cat, "select k from kv where (k, v) in (select k, v from kv where k < 3) order by k"); !slices.Equal(rows, []string{"1", "2"}) {
		t.Errorf("a row value IN (subquery): got %q", rows)
	}
	_, err = PlanQuery(context.Background(), cat, "select k from kv where (k, v) = (select distinct k, v from kv)", Options{})
	if !errors.Is(err, ErrNotSupported) {
		t.Errorf("a row value compared with a subquery: got %v, want not supported", err)
	}
	if _, err := PlanQuery(context.Background(), cat, "select nope from kv", Options{}); !errors.Is(err, engine.ErrInvalidPlan) {
		t.Errorf("unknown column: %v is not an invalid-plan error", err)
	}
}

func TestLoadTables(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "kv.csv"), []byte("k;v\n1;a\n"), 0o644)
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("log-level: info\ntables:\n  - name: kv\n    format: csv\n    location: "+filepath.Join(dir, "kv.csv")+"\n    header: true\n    delimiter: \";\"\n"), 0o644)
	cat := catalog.New()
	if n, err := cat.LoadTables(good); err != nil || n != 1 {
		t.Fatalf("got %d, %v", n, err)
	}
	if _, rows := runSQL(t, cat, "select v, k from kv"); !slices.Equal(rows, []string{"a|1"}) {
		t.Fatalf("rows %q", rows)
	}
	for name, body := range map[string]string{
		"unknown key":     "tables:\n  - name: x\n    locaton: /tmp\n",
		"no location":     "tables:\n  - name: x\n",
		"bad format":      "tables:\n  - name: x\n    format: orc\n    location: /tmp\n",
		"missing files":   "tables:\n  - name: x\n    location: " + filepath.Join(dir, "nope") + "\n",
		"long delimiter":  "tables:\n  - name: x\n    format: csv\n    delimiter: ab\n    location: /tmp\n",
		"not a yaml list": "tables: 3\n",
	} {
		p := filepath.Join(dir, "bad.yaml")
		os.WriteFile(p, []byte(body), 0o644)
		if _, err := catalog.New().LoadTables(p); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
