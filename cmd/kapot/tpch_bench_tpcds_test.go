package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kapot-go/kapot/bench"
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

// `kapot tpch bench --suite tpcds --queries 1,3 --iterations 1` on a local
// cluster over the SF 0.1 data (with -tags duckdb, against DuckDB): both
// queries answered, the JSON says suite, layout and data. About 10 s.
func TestBenchTPCDS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a local cluster")
	}
	dir := tpcdsData(t)
	t.Setenv(envRunMain, "1")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
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
	var res bench.Result
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
