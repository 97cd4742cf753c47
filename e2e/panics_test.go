package e2e

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/compute/exec"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/kapot-go/kapot/client"
	"github.com/kapot-go/kapot/engine/alloc"
	"github.com/kapot-go/kapot/engine/kernel"
	"github.com/kapot-go/kapot/executor"
	"github.com/kapot-go/kapot/internal/testkit/oracle"
	"github.com/kapot-go/kapot/internal/testkit/oracle/duck"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// q06Subquery is TPC-DS q06's correlated subquery over categoryPrices: it
// made Arrow's string Take kernel panic on a goroutine of Arrow's own, which
// ended the executor, then the next one the task was retried on (issue 36,
// item 3).
const q06Subquery = "select count(*) from t i where i.p > 1.2 * (select avg(j.p) from t j where j.c = i.c)"

// categoryPrices writes t(c varchar, p decimal(7,2)) under dir: 1 800 rows
// over ten category names of different lengths.
func categoryPrices(t *testing.T, dir string) string {
	t.Helper()
	names := []string{"Books", "Children", "Electronics", "Home", "Jewelry", "Men", "Music", "Shoes", "Sports", "Women"}
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "c", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "p", Type: &arrow.Decimal128Type{Precision: 7, Scale: 2}, Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	const rows = 1800
	for i := 0; i < rows; i++ {
		b.Field(0).(*array.StringBuilder).Append(names[(i*7)%len(names)])
		b.Field(1).(*array.Decimal128Builder).Append(decimal128.FromI64(int64(50 + (i*7919)%9950)))
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	tbl := array.NewTableFromRecords(schema, []arrow.RecordBatch{rec})
	defer tbl.Release()
	path := filepath.Join(dir, "t.parquet")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := pqarrow.WriteTable(tbl, f, rows, parquet.NewWriterProperties(), pqarrow.DefaultWriterProps()); err != nil {
		t.Fatal(err)
	}
	return path
}

// duckAnswer is DuckDB's answer to q over view t of the Parquet file path.
func duckAnswer(t *testing.T, path, q string) []string {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE VIEW t AS SELECT * FROM read_parquet('" + path + "')"); err != nil {
		t.Fatal(err)
	}
	want, err := duck.QueryRows(db, q)
	if err != nil {
		t.Fatal(err)
	}
	return want
}

// TestQ06SubqueryProcesses runs the query that ended executors (issue 36,
// item 3) on a cluster of real processes: it answers as DuckDB does, and
// every process is still running.
func TestQ06SubqueryProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	path := categoryPrices(t, t.TempDir())
	c := startProcCluster(t, 2, "push-staged")
	cl, err := client.Dial(c.addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	sess := cl.NewSession(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := sess.Exec(ctx, "CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION '"+path+"'"); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{q06Subquery, strings.Replace(q06Subquery, "count(*)", "i.c, count(*)", 1) + " group by i.c order by i.c"} {
		rows, err := sess.Query(ctx, q)
		if err == nil {
			var got []string
			if got, err = readRowsErr(rows); err == nil {
				err = oracle.SameRows(got, duckAnswer(t, path, q))
			}
		}
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for i, p := range append([]*proc{c.sched}, c.executors...) {
		select {
		case <-p.done:
			t.Fatalf("process %d exited: %v\n%s", i, p.err, tail(readFile(t, p.log), 4000))
		default:
		}
	}
}

// panicEngine runs tasks with the Arrow engine, but a session property
// test.panic makes them panic: "task" on the task's goroutine, "goroutine"
// on a goroutine the task starts (recovered there by alloc.Catch, as the
// engine's own goroutines are), "arrow" inside one of Arrow's kernels,
// which Arrow runs on a goroutine of its own (arrowKernelPanic).
type panicEngine struct{}

func (panicEngine) RunTask(ctx context.Context, t *executor.Task) (*kapotv1.SuccessfulTask, error) {
	switch t.Def.GetSessionProperties()["test.panic"] {
	case "task":
		_ = elementAt(nil, 3) // a runtime error
	case "goroutine":
		errc := make(chan error, 1)
		go func() {
			var err error
			defer func() { errc <- err }()
			defer alloc.Catch(&err)
			var s []int
			_ = s[len(t.Def.GetJobId())]
		}()
		return nil, <-errc
	case "arrow":
		// A panic inside one of Arrow's kernels, on a goroutine of
		// Arrow's: the engine's guarded kernels turn it into the task's
		// error. (The queries of this test no longer reach the Arrow
		// kernel that panicked over a spareCapAllocator's buffers, string
		// Take: the engine gathers strings itself now. The task calls a
		// kernel as the engine does.)
		if err := arrowKernelPanic(ctx); err != nil {
			return nil, err
		}
		return executor.ArrowEngine{}.RunTask(ctx, t)
	}
	return executor.ArrowEngine{}.RunTask(ctx, t)
}

// TestPanicsContained: a panic in a task, on its goroutine, on one it
// starts or inside an Arrow kernel, fails the query with "internal error:
// …" instead of ending the executor (this test's process), and the cluster
// answers the next query exactly.
func TestPanicsContained(t *testing.T) {
	path := categoryPrices(t, t.TempDir())
	s := startScheduler(t, 0, nil)
	startExecutorWith(t, s.addr, "push-staged", panicEngine{}, func(c *executor.Config) { c.ConcurrentTasks = 2 })
	cl, err := client.Dial(s.addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := cl.NewSession(nil).Exec(ctx, "CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION '"+path+"'"); err != nil {
		t.Fatal(err)
	}
	want := duckAnswer(t, path, q06Subquery)
	for _, tc := range []struct{ mode, msg string }{
		{"task", "internal error: runtime error: index out of range [3] with length 0"},
		{"goroutine", "internal error: runtime error: index out of range"},
		{"arrow", "internal error: runtime error: slice bounds out of range"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			rows, err := cl.NewSession(map[string]string{"test.panic": tc.mode}).Query(ctx, q06Subquery)
			if err == nil {
				_, err = readRowsErr(rows)
			}
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %v, want one with %q", err, tc.msg)
			}
			if got := queryText(t, cl.NewSession(nil), q06Subquery); !slices.Equal(got, want) {
				t.Fatalf("the next query: %q, want %q", got, want)
			}
		})
	}
}

// arrowKernelPanic runs Arrow's Take kernel through the engine's guarded
// kernel registry over a string array whose offsets reach past its data:
// the kernel slices past the end and panics on a goroutine of Arrow's.
func arrowKernelPanic(ctx context.Context) error {
	mem := memory.NewGoAllocator()
	sb := array.NewStringBuilder(mem)
	defer sb.Release()
	sb.AppendValues([]string{"abcd", "efgh"}, nil)
	arr := sb.NewStringArray()
	defer arr.Release()
	// The last offset, past the data, after the array checked them.
	offsets := arrow.Int32Traits.CastFromBytes(arr.Data().Buffers()[1].Bytes())
	offsets[2] = 100
	ib := array.NewInt32Builder(mem)
	defer ib.Release()
	ib.AppendValues([]int32{1, 0}, nil)
	idx := ib.NewInt32Array()
	defer idx.Release()
	out, err := compute.TakeArray(kernel.Context(exec.WithAllocator(ctx, mem)), arr, idx)
	if err == nil {
		out.Release()
	}
	return err
}

// elementAt indexes s at run time (a runtime error on demand).
func elementAt(s []int, i int) int { return s[i] }
