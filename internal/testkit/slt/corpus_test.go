//go:build !noduckdb

package slt

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kapot-go/kapot/internal/testkit/report"
)

// corpusDir finds SQLite's sqllogictest corpus: KAPOT_SLT_DIR, or
// shared/sqllogictest beside the repository.
func corpusDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("KAPOT_SLT_DIR"); d != "" {
		return d
	}
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for ; dir != filepath.Dir(dir); dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			c := filepath.Join(dir, "..", "shared", "sqllogictest")
			if _, err := os.Stat(c); err == nil {
				return c
			}
			break
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("the sqllogictest corpus (../shared/sqllogictest) is missing")
	}
	t.Skip("no sqllogictest corpus (set KAPOT_SLT_DIR)")
	return ""
}

// shortSlice is what `make test` runs: file → scored queries (0: all).
var shortSlice = map[string]int{
	"select1.test":                      0,
	"select4.test":                      300,
	"evidence/in1.test":                 0,
	"evidence/slt_lang_aggfunc.test":    0,
	"random/aggregates/slt_good_0.test": 800,
	"random/expr/slt_good_0.test":       800,
	"random/groupby/slt_good_0.test":    1200,
	"random/select/slt_good_0.test":     400,
}

// TestCorpus runs SQLite's sqllogictest corpus through kapot in process:
// a short slice by default, every file with KAPOT_SLT=all (make slt). A
// wrong result fails the test; refusals and errors are counted and
// reported. KAPOT_SLT_SHOW=TEXT logs the records whose error contains
// TEXT. KAPOT_SLT_REPORT=FILE writes the per-file table into FILE
// between the slt markers.
func TestCorpus(t *testing.T) {
	dir := corpusDir(t)
	files := map[string]int{}
	if os.Getenv("KAPOT_SLT") == "all" {
		err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
			if err == nil && strings.HasSuffix(p, ".test") {
				rel, _ := filepath.Rel(dir, p)
				files[rel] = 0
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	} else {
		files = shortSlice
	}
	names := make([]string, 0, len(files))
	for f := range files {
		names = append(names, f)
	}
	sort.Strings(names)
	var mu sync.Mutex
	var reports []*FileReport
	t.Run("files", func(t *testing.T) {
		for _, name := range names {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				rep := runFile(t, filepath.Join(dir, name), name, files[name])
				mu.Lock()
				reports = append(reports, rep)
				mu.Unlock()
				show := os.Getenv("KAPOT_SLT_SHOW")
				for _, r := range rep.Results {
					if r.Outcome == Wrong {
						t.Errorf("%s:%d: WRONG: %s\n%s", name, r.Record.Line, r.Err, r.Record.SQL)
					}
					if show != "" && r.Err != nil && strings.Contains(r.Err.Error(), show) {
						t.Logf("%s:%d: %v\n%s", name, r.Record.Line, r.Err, r.Record.SQL)
					}
				}
			})
		}
	})
	sort.Slice(reports, func(i, j int) bool { return reports[i].Name < reports[j].Name })
	table := reportTable(reports)
	t.Logf("\n%s", table)
	t.Logf("\nmost frequent errors:\n%s", topErrors(reports, 25))
	if out := os.Getenv("KAPOT_SLT_REPORT"); out != "" {
		if err := report.ReplaceSection(out, "slt", table+"\nMost frequent errors:\n\n"+topErrors(reports, 25)); err != nil {
			t.Fatal(err)
		}
	}
}

func runFile(t *testing.T, path, name string, max int) *FileReport {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := Parse(f)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	db, err := NewKapotDB(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	o := Options{MaxQueries: max}
	if d, err := time.ParseDuration(os.Getenv("KAPOT_SLT_SLOW")); err == nil {
		o.SlowAfter = d
		o.Slow = func(r *Record, took time.Duration) {
			t.Logf("%s:%d: slow (%v): %s", name, r.Line, took.Round(time.Millisecond), oneLine(r.SQL))
		}
	}
	rep := Run(context.Background(), name, recs, db, o)
	rep.Own, rep.Fallback, rep.FallbackReasons = db.Own, db.Fallback, db.Reasons
	return rep
}

func reportTable(reps []*FileReport) string {
	var b strings.Builder
	b.WriteString("| file | queries run | passed | wrong | SQLite dialect | error | skipped | passed % |\n|---|---:|---:|---:|---:|---:|---:|---:|\n")
	var tot FileReport
	for _, r := range reps {
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d | %d | %.1f |\n", r.Name, r.Scored(), r.Passed, r.Wrong, r.Dialect, r.Failed, r.Skipped, pct(r.Passed, r.Scored()))
		if r.SetupErr != nil {
			fmt.Fprintf(&b, "| ↳ set-up failed, later queries skipped: %s | | | | | | | |\n", strings.ReplaceAll(oneLine(r.SetupErr.Error()), "|", "/"))
		}
		tot.Passed += r.Passed
		tot.Wrong += r.Wrong
		tot.Failed += r.Failed
		tot.Skipped += r.Skipped
		tot.Dialect += r.Dialect
	}
	fmt.Fprintf(&b, "| **total** | %d | %d | %d | %d | %d | %d | %.1f |\n", tot.Scored(), tot.Passed, tot.Wrong, tot.Dialect, tot.Failed, tot.Skipped, pct(tot.Passed, tot.Scored()))
	reasons := map[string]int{}
	for _, r := range reps {
		tot.Own += r.Own
		tot.Fallback += r.Fallback
		for k, v := range r.FallbackReasons {
			reasons[k] += v
		}
	}
	fmt.Fprintf(&b, "\nSet-up statements (CREATE TABLE, INSERT, views, …) run by kapot itself: %d of %d. The other %d ran in DuckDB only, on tables "+
		"read from DuckDB's copy since a statement kapot does not run touched them", tot.Own, tot.Own+tot.Fallback, tot.Fallback)
	if len(reasons) > 0 {
		b.WriteString(":\n\n" + report.Top(reasons, 10))
	} else {
		b.WriteString(".\n")
	}
	return b.String()
}

func pct(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return 100 * float64(a) / float64(b)
}

// topErrors counts the errors by class, most frequent first.
func topErrors(reps []*FileReport, n int) string {
	counts := map[string]int{}
	for _, r := range reps {
		for _, res := range r.Results {
			switch res.Outcome {
			case Failed:
				counts[report.ErrorClass(res.Err.Error())]++
			case Dialect:
				counts["SQLite dialect (DuckDB agrees with kapot): "+res.Record.SQL[:min(len(res.Record.SQL), 60)]]++
			}
		}
	}
	return report.Top(counts, n)
}
