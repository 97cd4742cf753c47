package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/kapot-go/kapot/client"
	"github.com/kapot-go/kapot/engine"
	"github.com/kapot-go/kapot/internal/testkit/oracle"
)

// benchRun is what every query of a bench run shares.
type benchRun struct {
	sess         *client.Session
	admin        string
	duck, settle Reference // nil without --compare
	iterations   int
	timeout      time.Duration // of each kapot run; 0: none
	unordered    bool          // see benchSuite.unordered
}

// query warms a query up on both engines (comparing the answers; settle,
// the single-threaded oracle, decides a difference), then times it
// iterations times on each, alternating, into q.
func (r *benchRun) query(ctx context.Context, text string, q *QueryResult) {
	// A write's target ({out}) is fresh for every run, and removed after.
	outDir, err := os.MkdirTemp("", "kapot-bench-out-")
	if err != nil {
		q.Error = err.Error()
		return
	}
	defer os.RemoveAll(outDir)
	runs := 0
	target := func(engine string) (string, func()) {
		runs++
		out := filepath.Join(outDir, fmt.Sprintf("%s-%d", engine, runs))
		return strings.ReplaceAll(text, "{out}", out), func() { os.RemoveAll(out) }
	}
	refRows := func(ref Reference, name string) ([]string, time.Duration, error) {
		text, done := target(name)
		defer done()
		start := time.Now()
		rows, err := ref.Rows(text)
		return rows, time.Since(start), err
	}
	duckRows := func() ([]string, time.Duration, error) { return refRows(r.duck, "duckdb") }
	kapot := func() ([]string, int64, time.Duration, error) {
		text, done := target("kapot")
		defer done()
		ctx := ctx
		if r.timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, r.timeout)
			defer cancel()
		}
		start := time.Now()
		rows, jobID, err := r.kapotRows(ctx, text)
		took := time.Since(start)
		// gRPC may end the call on the deadline before ctx.Err() says so.
		if dl, ok := ctx.Deadline(); err != nil && r.timeout > 0 && ok && !time.Now().Before(dl) {
			err = fmt.Errorf("cancelled after --query-timeout %s: %w", r.timeout, err)
		}
		if err != nil {
			return nil, 0, took, err
		}
		// Asked of the admin port after the clock stopped: not the query's time.
		return rows, shuffleBytes(r.admin, jobID), took, nil
	}
	got, _, _, err := kapot()
	if err != nil {
		q.Error = err.Error()
		return
	}
	q.Rows = len(got)
	if r.duck != nil {
		same := func(want []string, err error) bool {
			if err != nil {
				return false
			}
			if oracle.SameRows(got, want) == nil {
				return true
			}
			if r.unordered && oracle.SameRows(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))) == nil {
				q.Unordered = true
				return true
			}
			return false
		}
		want, _, err := duckRows()
		match := same(want, err)
		if !match && r.settle != nil {
			// DuckDB in parallel is not always right (see duck.OpenTPCH).
			want, _, err = refRows(r.settle, "oracle")
			match = same(want, err)
			q.OracleSettled = true
		}
		q.Matches = &match
	}
	for i := 0; i < r.iterations; i++ {
		_, shuffle, took, err := kapot()
		if err != nil {
			q.Error = err.Error()
			return
		}
		q.ShuffleBytes = shuffle
		q.KapotMs = append(q.KapotMs, ms(took))
		if r.duck != nil {
			_, took, err := duckRows()
			if err != nil {
				q.Error = "duckdb: " + err.Error()
				return
			}
			q.DuckDBMs = append(q.DuckDBMs, ms(took))
		}
	}
	q.KapotMedian = median(q.KapotMs)
	if r.duck != nil {
		q.DuckDBMedian = median(q.DuckDBMs)
		q.Ratio = q.KapotMedian / q.DuckDBMedian
	}
}

// kapotRows runs text on the cluster and returns its rows formatted as
// engine.FormatRows does, and its job's id.
func (r *benchRun) kapotRows(ctx context.Context, text string) ([]string, string, error) {
	job, err := r.sess.Start(ctx, text)
	if err != nil {
		return nil, "", err
	}
	rows, err := job.Wait(ctx)
	if err != nil {
		return nil, "", err
	}
	bs, err := client.ReadAll(rows)
	if err != nil {
		return nil, "", err
	}
	formatted := engine.FormatRows(bs, "|")
	for _, b := range bs {
		b.Release()
	}
	return formatted, job.ID, nil
}
