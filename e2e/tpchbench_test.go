package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestTPCHBenchCommand runs `kapot tpch bench` at a tiny scale: it
// generates the data, starts its own cluster, times two queries against
// DuckDB, and writes JSON whose answers match and a PNG chart.
func TestTPCHBenchCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "results.json")
	cmd := exec.Command(kapotBenchBin(t), "tpch", "bench", "--sf", "0.01", "--data", filepath.Join(dir, "data"), "--executors", "2",
		"--iterations", "2", "--queries", "1,6", "--compare", "duckdb", "--out", out, "--scheduler-port", strconv.Itoa(freePort(t)))
	cmd.Dir = dir
	text, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kapot tpch bench: %v\n%s", err, text)
	}
	for _, want := range []string{"Q1 ", "Q6 ", "ratio", "total (sum of medians)", "peak RSS"} {
		if !strings.Contains(string(text), want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Queries []struct {
			Query    int       `json:"query"`
			KapotMs  []float64 `json:"kapot_ms"`
			DuckDBMs []float64 `json:"duckdb_ms"`
			Matches  *bool     `json:"matches_duckdb"`
			Ratio    float64   `json:"ratio"`
			Error    string    `json:"error"`
		} `json:"queries"`
		Total struct {
			Ratio float64 `json:"ratio"`
		} `json:"total"`
		Executor []struct {
			PeakRSS int64 `json:"peak_rss_bytes"`
		} `json:"executor_memory"`
	}
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Queries) != 2 || res.Queries[0].Query != 1 || res.Queries[1].Query != 6 {
		t.Fatalf("queries: %+v", res.Queries)
	}
	for _, q := range res.Queries {
		if q.Error != "" || q.Matches == nil || !*q.Matches || len(q.KapotMs) != 2 || len(q.DuckDBMs) != 2 || q.Ratio <= 0 {
			t.Errorf("Q%d: %+v", q.Query, q)
		}
	}
	if res.Total.Ratio <= 0 || len(res.Executor) != 2 || res.Executor[0].PeakRSS == 0 {
		t.Errorf("summary: %+v %+v", res.Total, res.Executor)
	}
	if st, err := os.Stat(filepath.Join(dir, "results.png")); err != nil || st.Size() < 1000 {
		t.Errorf("chart: %v", err)
	}
}

// TestDefaultBinaryLeavesOutDuckDB: the kapot binary of make build does
// not link DuckDB, and says where to find it when asked to compare.
func TestDefaultBinaryLeavesOutDuckDB(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	info, err := exec.Command("go", "version", "-m", kapotBin(t)).CombinedOutput()
	if err != nil {
		t.Fatalf("go version -m: %v\n%s", err, info)
	}
	if strings.Contains(string(info), "duckdb") {
		t.Fatalf("the default binary links DuckDB:\n%s", info)
	}
	out, err := exec.Command(kapotBin(t), "tpch", "bench", "--sf", "0.01", "--data", t.TempDir(), "--compare", "duckdb").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "built without DuckDB") || !strings.Contains(string(out), "make build-bench") {
		t.Fatalf("--compare duckdb on the default binary: %v\n%s", err, out)
	}
}
