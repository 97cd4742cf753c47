package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kapot-go/kapot/executor"
	"github.com/kapot-go/kapot/scheduler"
	"github.com/kapot-go/kapot/tpch"
)

// TestPGWireBench times TPC-H through the PostgreSQL endpoint (pgx,
// binary results) and through Flight SQL (arrow-go's database/sql
// driver) on the same cluster in the same run, query by query, best of
// two each; then reads all of lineitem through pgx in binary and in text
// and through Flight SQL, in rows/s. Run it with KAPOT_PG_BENCH_SF=1
// (skipped otherwise; KAPOT_PG_BENCH_ROWS_ONLY=1 leaves the 22 queries out):
//
//	KAPOT_PG_BENCH_SF=1 go test -count=1 -v -run TestPGWireBench -timeout 30m ./e2e
func TestPGWireBench(t *testing.T) {
	sf, err := strconv.ParseFloat(os.Getenv("KAPOT_PG_BENCH_SF"), 64)
	if err != nil || sf <= 0 {
		t.Skip("set KAPOT_PG_BENCH_SF (e.g. 1) to run the PostgreSQL endpoint benchmark")
	}
	set := sharedTPCH(t, sf, 2)
	s := startScheduler(t, 0, func(c *scheduler.Config) { c.PGPort, c.FlightSQLPort = 0, 0 })
	for range 2 {
		startExecutor(t, s.addr, "push-staged", func(c *executor.Config) { c.ConcurrentTasks = 2 })
	}
	host, port := splitAddr(t, s.PGAddr().String())
	pg := pgConnect(t, fmt.Sprintf("host=%s port=%d user=kapot dbname=kapot sslmode=disable", host, port))
	ctx := context.Background()
	for _, table := range tpch.Tables {
		if _, err := pg.Exec(ctx, fmt.Sprintf("CREATE EXTERNAL TABLE %s STORED AS PARQUET LOCATION '%s/%s'", table, set.dir, table)); err != nil {
			t.Fatal(err)
		}
	}
	fs, err := sql.Open("flightsql", "flightsql://"+s.FlightSQLAddr().String()+"?timeout=600s")
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	viaPG := func(q string, format int16) (int64, time.Duration) {
		start := time.Now()
		rows, err := pg.Query(ctx, q, pgx.QueryResultFormats{format})
		if err != nil {
			t.Fatal(err)
		}
		n, bytes := int64(0), 0
		for rows.Next() {
			// The values as sent (decoding them is the client's cost,
			// not the endpoint's).
			for _, v := range rows.RawValues() {
				bytes += len(v)
			}
			n++
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return n, time.Since(start)
	}
	viaFlight := func(q string) (int64, time.Duration) {
		start := time.Now()
		rows, err := fs.QueryContext(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		n := int64(0)
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			n++
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return n, time.Since(start)
	}
	var pgSum, flightSum time.Duration
	queries := 22
	if os.Getenv("KAPOT_PG_BENCH_ROWS_ONLY") != "" {
		queries = 0 // only the large result
	}
	t.Logf("TPC-H SF %g, best of 2 per path, interleaved", sf)
	for q := 1; q <= queries; q++ {
		text, err := tpch.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		best := func(f func() (int64, time.Duration)) time.Duration {
			_, a := f()
			_, b := f()
			return min(a, b)
		}
		p := best(func() (int64, time.Duration) { return viaPG(text, pgx.BinaryFormatCode) })
		f := best(func() (int64, time.Duration) { return viaFlight(text) })
		pgSum, flightSum = pgSum+p, flightSum+f
		t.Logf("q%02d  pgwire %8s  flight sql %8s  %+.1f%%", q, p.Round(time.Millisecond), f.Round(time.Millisecond), 100*(p.Seconds()-f.Seconds())/f.Seconds())
	}
	if queries > 0 {
		t.Logf("total pgwire %s, flight sql %s (%+.1f%%)", pgSum.Round(time.Millisecond), flightSum.Round(time.Millisecond), 100*(pgSum.Seconds()-flightSum.Seconds())/flightSum.Seconds())
	}
	// All of lineitem (6 M rows at SF 1) through the PostgreSQL endpoint.
	// (arrow-go's database/sql driver refuses batches over gRPC's 4 MiB
	// default message size: no Flight SQL figure for it here.)
	const all = "SELECT * FROM lineitem"
	for _, format := range []int16{pgx.BinaryFormatCode, pgx.TextFormatCode} {
		n, d := viaPG(all, format)
		t.Logf("pgwire format %d (1 binary, 0 text) lineitem: %d rows in %s, %.0f rows/s", format, n, d.Round(time.Millisecond), float64(n)/d.Seconds())
	}
}
