package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/kapot-go/kapot/client"
	"github.com/kapot-go/kapot/engine"
	"github.com/kapot-go/kapot/executor"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/scheduler"
	"github.com/kapot-go/kapot/warehouse"
)

// gateEngine holds the first stage's tasks of a job with the session
// property test.gate (the scans) before they read anything, announcing
// each, until the test opens the gate for it.
type gateEngine struct {
	held chan struct{}
	open chan struct{}
}

func (g gateEngine) RunTask(ctx context.Context, t *executor.Task) (*kapotv1.SuccessfulTask, error) {
	if t.Def.GetSessionProperties()["test.gate"] == "true" && t.Def.GetStageId() == 1 {
		g.held <- struct{}{}
		select {
		case <-g.open:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return executor.ArrowEngine{}.RunTask(ctx, t)
}

// TestSnapshotReads (issue 35, finding 5): a query reads the version of the
// table it was planned with. Its scan task is held after planning while
// the table is dropped, replaced or compacted under it; once let go it
// answers exactly as of its planning, and the retired files go only after
// it ended (and the retention).
func TestSnapshotReads(t *testing.T) {
	for _, retention := range []time.Duration{scheduler.DefaultConfig().TableRetention, time.Second} {
		t.Run(fmt.Sprintf("retention %s", retention), func(t *testing.T) {
			wh := t.TempDir()
			s := startScheduler(t, 0, func(c *scheduler.Config) { c.Warehouse, c.TableRetention = wh, retention })
			gate := gateEngine{held: make(chan struct{}, 16), open: make(chan struct{})}
			startExecutorWith(t, s.addr, "push-staged", gate, func(c *executor.Config) { c.ConcurrentTasks = 2 })
			cl := dialScheduler(t, s.addr)
			owner := cl.NewSession(map[string]string{"kapot.shuffle.partitions": "1"})
			reader := cl.NewSession(map[string]string{"test.gate": "true", "kapot.shuffle.partitions": "1"})
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			// held starts a gated count of table and waits until its scan
			// is held; the returned function lets it go and returns its
			// answer.
			held := func(table string) func() ([]string, error) {
				job, err := reader.Start(ctx, "SELECT count(*), sum(k) FROM "+table)
				if err != nil {
					t.Fatal(err)
				}
				select {
				case <-gate.held:
				case <-ctx.Done():
					t.Fatal("the reader's task did not start")
				}
				return func() ([]string, error) {
					gate.open <- struct{}{}
					rows, err := job.Wait(ctx)
					if err != nil {
						return nil, err
					}
					return readRowsErr(rows)
				}
			}
			exact := func(name string, run func() ([]string, error), want string) {
				t.Helper()
				got, err := run()
				if err != nil || !slices.Equal(got, []string{want}) {
					t.Fatalf("%s: the reader got %q, %v; want %s (the version it planned with)", name, got, err, want)
				}
			}
			dirs := func(prefix string) []string {
				d, _ := filepath.Glob(filepath.Join(wh, prefix+"-*"))
				return d
			}

			query(t, owner, "CREATE TABLE d AS SELECT * FROM (VALUES (1), (2), (3)) AS v(k)")
			release := held("d")
			query(t, owner, "DROP TABLE d")
			exact("DROP TABLE", release, "3|6")

			query(t, owner, "CREATE TABLE r AS SELECT * FROM (VALUES (1), (2)) AS v(k)")
			release = held("r")
			query(t, owner, "CREATE OR REPLACE TABLE r AS SELECT * FROM (VALUES (10)) AS v(k)")
			exact("CREATE OR REPLACE TABLE", release, "2|3")
			if got := query(t, owner, "SELECT count(*), sum(k) FROM r"); !slices.Equal(got, []string{"1|10"}) {
				t.Fatalf("the replaced table: %q", got)
			}

			// Many one-row INSERTs, then enough more to compact the
			// small files a held reader planned with.
			query(t, owner, "CREATE TABLE c (k BIGINT)")
			for i := 1; i <= 4; i++ {
				query(t, owner, fmt.Sprintf("INSERT INTO c VALUES (%d)", i))
			}
			release = held("c")
			for i := 5; i <= 40; i++ {
				query(t, owner, fmt.Sprintf("INSERT INTO c VALUES (%d)", i))
			}
			exact("compaction", release, "4|10")
			if got := query(t, owner, "SELECT count(*), sum(k) FROM c"); !slices.Equal(got, []string{"40|820"}) {
				t.Fatalf("the compacted table: %q", got)
			}

			// The readers have ended: the dropped and replaced
			// directories go after the retention, not before.
			if retention > time.Minute/2 {
				if len(dirs("d")) != 1 || len(dirs("r")) != 2 {
					t.Fatalf("retired files went before the retention: d %q, r %q", dirs("d"), dirs("r"))
				}
				return
			}
			// c's current version has at most MaxSmallFiles+1 files; the
			// compacted ones go too.
			cFiles := func() int {
				files := 0
				filepath.Walk(dirs("c")[0], func(p string, fi os.FileInfo, err error) error {
					if err == nil && !fi.IsDir() && filepath.Ext(p) == ".parquet" {
						files++
					}
					return nil
				})
				return files
			}
			waitFor(t, func() bool {
				return len(dirs("d")) == 0 && len(dirs("r")) == 1 && cFiles() <= warehouse.MaxSmallFiles+1
			})
		})
	}
}

// readRowsErr reads a result as text rows.
func readRowsErr(rows *client.Rows) ([]string, error) {
	bs, err := client.ReadAll(rows)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, b := range bs {
			b.Release()
		}
	}()
	return engine.FormatRows(bs, "|"), nil
}
