package e2e

import (
	"context"
	"errors"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kapot-go/kapot/client"
	"github.com/kapot-go/kapot/engine"
	"github.com/kapot-go/kapot/executor"
	"github.com/kapot-go/kapot/internal/testkit/oracle"
	"github.com/kapot-go/kapot/tpch"
)

// TestClientSession uses the Go client package the way a program would:
// create tables in the cluster's catalog, run SQL (parsed and planned by
// the scheduler), stream the result batch by batch (checked
// allocator: nothing leaks), cancel a running query; and the kapot sql
// command, which is built on it, against the same cluster.
func TestClientSession(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test: skipped with -short")
	}
	set := sharedTPCH(t, 0.01, 2)
	dir := set.dir
	s := startScheduler(t, 0, nil)
	for range 2 {
		startExecutor(t, s.addr, "push-staged", func(c *executor.Config) { c.ConcurrentTasks = 2 })
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	cl, err := client.Dial(s.addr, mem)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	sess := cl.NewSession(nil)
	ctx := context.Background()
	if err := sess.Exec(ctx, "CREATE EXTERNAL TABLE lineitem STORED AS PARQUET LOCATION '"+dir+"/lineitem'"); err != nil {
		t.Fatal(err)
	}
	if got := firstColumn(queryText(t, sess, "SHOW TABLES")); !slices.Equal(got, []string{"lineitem"}) {
		t.Fatalf("the cluster's catalog after CREATE: %v", got)
	}
	q1, err := tpch.Query(1)
	if err != nil {
		t.Fatal(err)
	}
	want := set.answer(t, 1)

	t.Run("stream", func(t *testing.T) {
		rows, err := sess.Query(ctx, q1)
		if err != nil {
			t.Fatal(err)
		}
		if got := rows.Schema().Field(2).Name; got != "sum_qty" {
			t.Errorf("third column named %q, want sum_qty", got)
		}
		var got []string
		batches := 0
		for rows.Next() {
			batches++
			got = append(got, engine.FormatRows([]arrow.RecordBatch{rows.RecordBatch()}, "|")...)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Release()
		if err := oracle.SameRows(got, want); err != nil {
			t.Fatalf("q1: %v", err)
		}
		if batches == 0 {
			t.Fatal("no batches")
		}
	})

	t.Run("statements", func(t *testing.T) {
		// Statements other than queries answer at once, as text.
		if got := queryText(t, sess, "DESCRIBE lineitem"); len(got) != 16 || got[0] != "l_orderkey|BIGINT|false" {
			t.Fatalf("DESCRIBE lineitem: %q", got)
		}
		// Creating a table again with the same definition is a no-op;
		// IF NOT EXISTS keeps the table as it is.
		if err := sess.Exec(ctx, "CREATE EXTERNAL TABLE lineitem STORED AS PARQUET LOCATION '"+dir+"/lineitem'"); err != nil {
			t.Fatalf("same CREATE again: %v", err)
		}
		if got := queryText(t, sess, "CREATE EXTERNAL TABLE IF NOT EXISTS lineitem STORED AS PARQUET LOCATION '/nowhere'"); !slices.Equal(got, []string{"table lineitem exists"}) {
			t.Fatalf("IF NOT EXISTS: %q", got)
		}
		plan := queryText(t, sess, "EXPLAIN SELECT count(*) FROM lineitem")
		if len(plan) < 2 || !strings.Contains(strings.Join(plan, "\n"), "ParquetScan") {
			t.Fatalf("EXPLAIN: %q", plan)
		}
		// EXPLAIN ANALYZE runs the query in the cluster and reports each
		// stage's operators with their metrics.
		analyzed := strings.Join(queryText(t, sess, "EXPLAIN ANALYZE SELECT count(*) FROM lineitem"), "\n")
		if !strings.Contains(analyzed, "stage 1: 2 tasks") || !strings.Contains(analyzed, "rows=") {
			t.Fatalf("EXPLAIN ANALYZE:\n%s", analyzed)
		}
		if _, err := sess.Query(ctx, "SELECT nope FROM lineitem"); err == nil || !strings.Contains(err.Error(), "nope") {
			t.Fatalf("bad column: %v", err)
		}
		// An empty result still has its columns and types.
		rows, err := sess.Query(ctx, "SELECT l_orderkey, l_shipdate FROM lineitem WHERE l_orderkey < 0")
		if err != nil {
			t.Fatal(err)
		}
		if got := rows.Schema().String(); !strings.Contains(got, "l_orderkey: type=int64") || !strings.Contains(got, "l_shipdate: type=date32") {
			t.Errorf("empty result's schema: %s", got)
		}
		if got := readRows(t, rows); len(got) != 0 {
			t.Errorf("rows %q, want none", got)
		}
	})

	t.Run("cancel", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		job, err := sess.Start(cctx, "SELECT count(*) FROM lineitem a, lineitem b WHERE a.l_extendedprice < b.l_extendedprice")
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			waitFor(t, func() bool { j, _ := s.Job(job.ID); return j.State == "RUNNING" })
			cancel()
		}()
		if _, err := job.Wait(cctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("wait after cancel: %v", err)
		}
		waitFor(t, func() bool { j, _ := s.Job(job.ID); return j.State == "CANCELLED" })
	})

	t.Run("kapot sql command", func(t *testing.T) {
		cmd := exec.Command(kapotBin(t), "sql", "--tpch", dir, "--scheduler", s.addr, "--format", "csv",
			"-e", "SELECT r_name, count(*) AS nations FROM region, nation WHERE r_regionkey = n_regionkey GROUP BY r_name ORDER BY r_name")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("kapot sql: %v\n%s", err, out)
		}
		want := "r_name,nations\nAFRICA,5\nAMERICA,5\nASIA,5\nEUROPE,5\nMIDDLE EAST,5\n"
		if string(out) != want {
			t.Fatalf("kapot sql printed\n%s\nwant\n%s", out, want)
		}
	})
	waitFor(t, func() bool {
		for _, j := range s.Jobs() {
			if j.State == "RUNNING" {
				return false
			}
		}
		return true
	})
}

// queryText runs a statement and returns its rows formatted "a|b".
func queryText(t *testing.T, sess *client.Session, sql string) []string {
	t.Helper()
	rows, err := sess.Query(context.Background(), sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return readRows(t, rows)
}
