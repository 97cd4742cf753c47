package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/kapot-go/kapot/catalog"
	"github.com/kapot-go/kapot/client"
	"github.com/kapot-go/kapot/executor"
	"github.com/kapot-go/kapot/internal/testkit/oracle"
	"github.com/kapot-go/kapot/planner"
	"github.com/kapot-go/kapot/tpch"
)

// TestPartitionsFromTheCluster: on 4 executors of 2 task slots, a query's
// hash exchanges run 8 partitions without any setting (one per slot); the
// session property kapot.shuffle.partitions changes it; answers stay
// DuckDB's.
func TestPartitionsFromTheCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test: skipped with -short")
	}
	set, cl := tpchCluster(t, 4)
	dir := set.dir
	q1, err := tpch.Query(1)
	if err != nil {
		t.Fatal(err)
	}
	want := set.answer(t, 1)
	for _, c := range []struct {
		props map[string]string
		want  int
	}{{nil, 8}, {map[string]string{planner.PropShufflePartitions: "3"}, 3}} {
		sess := cl.NewSession(c.props)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		createTPCH(t, sess, dir)
		job, err := sess.Start(ctx, q1)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := job.Wait(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got := readRows(t, rows)
		if err := oracle.SameRows(got, want); err != nil {
			t.Fatalf("props %v: %v", c.props, err)
		}
		st, err := cl.Wait(ctx, job.ID)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		// Stage 1 scans lineitem's 2 files; the grouped aggregate after the
		// hash exchange runs one task per partition.
		widest := 0
		for _, stage := range st.GetStages() {
			widest = max(widest, int(stage.GetPartitions()))
		}
		if widest != c.want {
			t.Errorf("props %v: widest stage has %d tasks, want %d (stages %v)", c.props, widest, c.want, st.GetStages())
		}
	}
}

// tpchCluster starts a scheduler and n push-staged executors of 2 slots
// (stopped when the test ends) and gives TPC-H SF 0.01 in 2 files a table
// (sharedTPCH).
func tpchCluster(t *testing.T, n int) (*tpchSet, *client.Client) {
	t.Helper()
	set := sharedTPCH(t, 0.01, 2)
	s := startScheduler(t, 0, nil)
	for range n {
		startExecutor(t, s.addr, "push-staged", func(c *executor.Config) { c.ConcurrentTasks = 2 })
	}
	cl, err := client.Dial(s.addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	waitExecutors(t, cl, n, 30*time.Second)
	return set, cl
}

// createTPCH creates the TPC-H tables generated under dir in the cluster's
// catalog.
func createTPCH(t testing.TB, sess *client.Session, dir string) {
	t.Helper()
	defs, err := catalog.ParquetDirDefs(dir, tpch.Tables)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range defs {
		if err := sess.Exec(context.Background(), d.SQL()); err != nil {
			t.Fatalf("%s: %v", d.SQL(), err)
		}
	}
}

// TestSplitScansOnCluster: with files split into key ranges of ~2 000 rows
// (kapot.scan.split_rows), a cluster answers the TPC-H queries that join
// split tables range by range, exchange other sides into the ranges and
// broadcast sides computed once, as DuckDB does.
func TestSplitScansOnCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test: skipped with -short")
	}
	set, cl := tpchCluster(t, 2)
	sess := cl.NewSession(map[string]string{planner.PropShufflePartitions: "2", planner.PropScanSplitRows: "2000"})
	createTPCH(t, sess, set.dir)
	// Queries that join orders and lineitem on the order key read
	// lineitem's 2 files as 15 ranges each; Q13 (orders by customer) and
	// Q17 (lineitem by part) read them a file per partition, and Q10
	// builds orders ⋈ lineitem (small at this scale) in each of the 2
	// tasks probing customer.
	widestWant := map[int]int{3: 30, 5: 30, 10: 2, 13: 2, 17: 2, 18: 30, 21: 30}
	for _, n := range []int{3, 5, 10, 13, 17, 18, 21} {
		q, err := tpch.Query(n)
		if err != nil {
			t.Fatal(err)
		}
		want := set.answer(t, n)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		job, err := sess.Start(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := job.Wait(ctx)
		if err != nil {
			t.Fatalf("q%d: %v", n, err)
		}
		if err := oracle.SameRows(readRows(t, rows), want); err != nil {
			t.Fatalf("q%d: %v", n, err)
		}
		st, err := cl.Wait(ctx, job.ID)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		widest := 0
		for _, stage := range st.GetStages() {
			widest = max(widest, int(stage.GetPartitions()))
		}
		if widest != widestWant[n] {
			t.Errorf("q%d: widest stage has %d tasks, want %d", n, widest, widestWant[n])
		}
	}
}
