package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// pgBITools drives the endpoint with the real drivers BI tools are built
// on: pgjdbc's DatabaseMetaData (DBeaver, Metabase) and SQLAlchemy's
// inspector over psycopg2 (Superset). Each is skipped where the driver
// is not installed (Debian: libpostgresql-jdbc-java with a JRE,
// python3-sqlalchemy).
func pgBITools(t *testing.T, dsn string) {
	host, port, _ := strings.Cut(strings.TrimPrefix(strings.Fields(dsn)[0]+" "+strings.Fields(dsn)[1], "host="), " port=")
	t.Run("pgjdbc", func(t *testing.T) {
		const jar = "/usr/share/java/postgresql.jar"
		java, err := exec.LookPath("java")
		if _, serr := os.Stat(jar); err != nil || serr != nil {
			t.Skip("java or pgjdbc not installed (apt-get install default-jre-headless libpostgresql-jdbc-java)")
		}
		src, _ := filepath.Abs("testdata/pgjdbc/MetaData.java")
		out, err := exec.Command(java, "-cp", jar, src, host, port).CombinedOutput()
		if err != nil {
			t.Fatalf("pgjdbc: %v\n%s", err, out)
		}
		for _, want := range []string{
			"product PostgreSQL 15.0",
			"schemas information_schema pg_catalog public",
			// the tables (other subtests make more than TPC-H's)
			" lineitem:TABLE", " nation:TABLE", " orders:TABLE",
			"column 1 o_orderkey int8 -5 19 0 NO",
			"column 4 o_totalprice numeric 2 15 2 NO",
			"column 5 o_orderdate date 91 13 0 NO",
			"column 9 o_comment text 12 2147483647 0 NO",
			"primary key columns 0",
			"keys and indexes 0",
			"types true",
			"rows 15000",
		} {
			if !strings.Contains(string(out), want+"\n") && !strings.Contains(string(out), want+" ") {
				t.Errorf("pgjdbc: no %q in\n%s", want, out)
			}
		}
	})
	t.Run("sqlalchemy", func(t *testing.T) {
		py := "/usr/bin/python3"
		if err := exec.Command(py, "-c", "import sqlalchemy, psycopg2").Run(); err != nil {
			t.Skip("SQLAlchemy or psycopg2 not installed (apt-get install python3-sqlalchemy python3-psycopg2)")
		}
		out, err := exec.Command(py, "testdata/sqlalchemy_inspect.py", host, port).CombinedOutput()
		if err != nil {
			t.Fatalf("sqlalchemy: %v\n%s", err, out)
		}
		for _, want := range []string{
			"version (15,)",
			"schema public",
			// the tables (other subtests make more than TPC-H's)
			" lineitem", " nation", " orders",
			"has_table True False",
			"column o_orderkey BIGINT False",
			"column o_totalprice NUMERIC(15, 2) False",
			"column o_orderdate DATE False",
			"column o_comment TEXT False",
			"pk []",
			"rows 15000",
		} {
			if !strings.Contains(string(out), want+"\n") && !strings.Contains(string(out), want+" ") {
				t.Errorf("sqlalchemy: no %q in\n%s", want, out)
			}
		}
	})
}
