package bench

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kapot-go/kapot/internal/config"
)

// Reference runs the same queries for comparison (DuckDB).
type Reference interface {
	// Rows runs a query and formats its rows as engine.FormatRows does.
	Rows(q string) ([]string, error)
	// Threads is how many threads the engine runs a query with.
	Threads() int
	Close() error
}

// ErrNoChart: this kapot draws no charts (bin/kapot-bench does).
var ErrNoChart = errors.New("charts are drawn by bin/kapot-bench (make build-bench), which links the plotting library")

// checkReferenceStrength refuses a speed reference that runs with fewer
// threads than the machine has CPUs: the fifth and sixth performance rounds
// compared kapot on every core with DuckDB on one (the oracle's setting).
func checkReferenceStrength(ref Reference, cpus int) error {
	if t := ref.Threads(); t < cpus {
		return fmt.Errorf("the reference engine runs with %d thread(s) on a machine of %d CPUs: timings must compare it at full strength", t, cpus)
	}
	return nil
}

// Result is what `kapot tpch bench --out` writes.
type Result struct {
	Suite string `json:"suite"`
	// Benchmark is whose tables the suite reads: TPC-H or TPC-DS.
	Benchmark string  `json:"benchmark"`
	SF        float64 `json:"sf"`
	// Layout is how the tables lie in files (--layout: one-file, files=N,
	// unsorted, unsorted,files=N, small-files); Files counts each table's.
	Layout     string         `json:"layout"`
	Data       string         `json:"data"`
	Files      map[string]int `json:"files_per_table"`
	Executors  int            `json:"executors"`
	Slots      int            `json:"slots_per_executor"`
	Partitions int            `json:"partitions"`
	// Properties are the --property session properties kapot ran with.
	Properties map[string]string `json:"properties,omitempty"`
	Iterations int               `json:"iterations"`
	CPUs       int               `json:"cpus"`
	// DuckDBThreads is the threads setting DuckDB reported for the timed
	// runs (it must equal CPUs: see checkReferenceStrength).
	DuckDBThreads int              `json:"duckdb_threads,omitempty"`
	Started       time.Time        `json:"started"`
	Queries       []QueryResult    `json:"queries"`
	Total         Total            `json:"total"`
	Executor      []ExecutorMemory `json:"executor_memory"`
}

// QueryResult is one query's line of a Result.
type QueryResult struct {
	Query        int       `json:"query"`
	Name         string    `json:"name"` // Q1…Q22, E1…E10, W1…W4, q01…q99
	KapotMs      []float64 `json:"kapot_ms"`
	DuckDBMs     []float64 `json:"duckdb_ms,omitempty"`
	KapotMedian  float64   `json:"kapot_median_ms"`
	DuckDBMedian float64   `json:"duckdb_median_ms,omitempty"`
	Ratio        float64   `json:"ratio,omitempty"`
	Rows         int       `json:"rows"`
	ShuffleBytes int64     `json:"shuffle_bytes"`
	Matches      *bool     `json:"matches_duckdb,omitempty"`
	// OracleSettled says the full-strength DuckDB answered otherwise and the
	// single-threaded oracle's answer was compared instead.
	OracleSettled bool `json:"oracle_settled,omitempty"`
	// Unordered says the rows match only as a multiset: the order differs
	// (TPC-DS: ties under ORDER BY).
	Unordered bool   `json:"matches_unordered,omitempty"`
	Error     string `json:"error,omitempty"`
}

// Total sums a Result's queries.
type Total struct {
	KapotMs      float64 `json:"kapot_ms"`
	DuckDBMs     float64 `json:"duckdb_ms,omitempty"`
	Ratio        float64 `json:"ratio,omitempty"`
	WorstRatio   float64 `json:"worst_ratio,omitempty"`
	ShuffleBytes int64   `json:"shuffle_bytes"`
	// Answered counts the queries kapot ran; the totals are over them.
	Answered int `json:"answered"`
	// Failed names the queries kapot (or DuckDB) did not run, Differ those
	// whose answers differ from DuckDB's.
	Failed []string `json:"failed,omitempty"`
	Differ []string `json:"answers_differ,omitempty"`
}

// ExecutorMemory is one executor process's memory at the end of a run.
type ExecutorMemory struct {
	Executor  int   `json:"executor"`
	PeakRSS   int64 `json:"peak_rss_bytes"`
	FinalRSS  int64 `json:"rss_bytes"`
	ProcessID int   `json:"pid"`
}

func parseQueries(s string, count int) ([]int, error) {
	if s == "" {
		out := make([]int, count)
		for i := range out {
			out[i] = i + 1
		}
		return out, nil
	}
	var out []int
	for _, p := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n < 1 || n > count {
			return nil, fmt.Errorf("--queries: %q is not a query number of the suite (1..%d): %w", p, count, config.ErrInvalid)
		}
		out = append(out, n)
	}
	return out, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func summarize(r *Result) {
	for _, q := range r.Queries {
		if q.Matches != nil && !*q.Matches {
			r.Total.Differ = append(r.Total.Differ, q.Name)
		}
		if q.Error != "" {
			r.Total.Failed = append(r.Total.Failed, q.Name)
			continue
		}
		r.Total.Answered++
		r.Total.KapotMs += q.KapotMedian
		r.Total.DuckDBMs += q.DuckDBMedian
		r.Total.ShuffleBytes += q.ShuffleBytes
		r.Total.WorstRatio = max(r.Total.WorstRatio, q.Ratio)
	}
	if r.Total.DuckDBMs > 0 {
		r.Total.Ratio = r.Total.KapotMs / r.Total.DuckDBMs
	}
}

func printBenchQuery(w io.Writer, q QueryResult) {
	if q.Error != "" {
		fmt.Fprintf(w, "%-3s  error: %s\n", q.Name, q.Error)
		return
	}
	line := fmt.Sprintf("%-3s  kapot %9.1f ms", q.Name, q.KapotMedian)
	if q.DuckDBMs != nil {
		line += fmt.Sprintf("  duckdb %8.1f ms  ratio %5.2fx", q.DuckDBMedian, q.Ratio)
		if q.Matches != nil && !*q.Matches {
			line += "  ANSWERS DIFFER"
		} else if q.Unordered {
			line += "  (same rows, another order)"
		}
	}
	fmt.Fprintf(w, "%s  rows %d  shuffle %.1f MiB\n", line, q.Rows, float64(q.ShuffleBytes)/(1<<20))
}

func printBenchSummary(w io.Writer, r *Result) {
	fmt.Fprintf(w, "total (sum of medians): kapot %.1f ms", r.Total.KapotMs)
	if r.Total.DuckDBMs > 0 {
		fmt.Fprintf(w, "  duckdb %.1f ms  ratio %.2fx  worst query %.2fx", r.Total.DuckDBMs, r.Total.Ratio, r.Total.WorstRatio)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "answered %d of %d queries", r.Total.Answered, len(r.Queries))
	if len(r.Total.Failed) > 0 {
		fmt.Fprintf(w, "; failed: %s", strings.Join(r.Total.Failed, " "))
	}
	if len(r.Total.Differ) > 0 {
		fmt.Fprintf(w, "; answers differ from DuckDB: %s", strings.Join(r.Total.Differ, " "))
	}
	fmt.Fprintln(w)
	for _, m := range r.Executor {
		fmt.Fprintf(w, "executor %d: peak RSS %.0f MiB, now %.0f MiB\n", m.Executor, float64(m.PeakRSS)/(1<<20), float64(m.FinalRSS)/(1<<20))
	}
}
