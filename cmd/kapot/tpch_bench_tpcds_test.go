package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kapot-go/kapot/tpcds"
)

// tpcdsData is the workspace's TPC-DS SF 0.1 data; the test is skipped
// without it.
func tpcdsData(t *testing.T) string {
	t.Helper()
	dir, err := tpcds.FindData()
	if err != nil {
		t.Skip(err)
	}
	return dir
}

// The loader finds the 99 queries beside the data, without their
// semicolons, and the 24 tables; the scale factor is read from the data.
func TestTPCDSQueries(t *testing.T) {
	dir := tpcdsData(t)
	if err := tpcds.Check(dir); err != nil {
		t.Fatal(err)
	}
	qdir, err := tpcds.FindQueries(dir)
	if err != nil {
		t.Fatal(err)
	}
	qs, err := tpcds.Queries(qdir)
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) != 99 {
		t.Fatalf("%d queries, want 99", len(qs))
	}
	for i, q := range qs {
		if strings.HasSuffix(q, ";") || !strings.Contains(strings.ToLower(q), "select") {
			t.Fatalf("q%02d: %.60q…", i+1, q)
		}
	}
	if _, err := tpcds.Query(qdir, 100); err == nil {
		t.Fatal("query 100: no error")
	}
	if filepath.Base(dir) == "sf0.1" {
		if sf, err := tpcds.ScaleFactor(dir); err != nil || sf != 0.1 {
			t.Fatalf("scale factor of %s: %v, %v; want 0.1", dir, sf, err)
		}
	}
}

// `kapot tpch bench --suite tpcds --queries 1,3 --iterations 1` on a local
// cluster over the SF 0.1 data (with -tags duckdb, against DuckDB): both
// queries answered, the JSON says suite, layout and data. About 10 s.
func TestBenchTPCDS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a local cluster")
	}
	dir := tpcdsData(t)
	t.Setenv(envRunMain, "1")
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "tpcds.json")
	args := []string{"--suite", "tpcds", "--data", dir, "--queries", "1,3", "--iterations", "1", "--executors", "1",
		"--scheduler-port", strconv.Itoa(port), "--memory-pool-size", "1GiB", "--out", out, "--query-timeout", "2m"}
	if haveDuckDB {
		args = append(args, "--compare", "duckdb")
	}
	c := tpchBenchCmd()
	var stdout bytes.Buffer
	c.SetOut(&stdout)
	c.SetArgs(args)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := c.ExecuteContext(ctx); err != nil {
		t.Fatalf("%v\n%s", err, stdout.String())
	}
	t.Log(stdout.String())
	var res benchResult
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if res.Suite != "tpcds" || res.Benchmark != "TPC-DS" || res.Layout != "one-file" || res.Files["store_sales"] != 1 || len(res.Queries) != 2 {
		t.Fatalf("results: %+v", res)
	}
	for _, q := range res.Queries {
		if q.Error != "" || q.Rows == 0 || len(q.KapotMs) != 1 {
			t.Fatalf("%s: %+v", q.Name, q)
		}
		if haveDuckDB && (q.Matches == nil || !*q.Matches) {
			t.Fatalf("%s: answer differs from DuckDB's", q.Name)
		}
	}
	if !strings.Contains(stdout.String(), "TPC-DS SF 0.1, tpcds suite, layout one-file") {
		t.Fatalf("header:\n%s", stdout.String())
	}
}
