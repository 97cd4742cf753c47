package e2e

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	_ "github.com/apache/arrow-go/v18/arrow/flight/flightsql/driver" // registers "flightsql" with database/sql
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/kapot-go/kapot/executor"
	"github.com/kapot-go/kapot/internal/security"
	"github.com/kapot-go/kapot/internal/testkit/oracle"
	"github.com/kapot-go/kapot/scheduler"
	"github.com/kapot-go/kapot/tpch"
)

// sqlRows reads every row of rs as "|"-joined text the way the oracle
// prints them: dates as YYYY-MM-DD, numbers in full.
func sqlRows(t *testing.T, rs *sql.Rows) []string {
	t.Helper()
	cols, err := rs.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rs.Next() {
		if err := rs.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		cells := make([]string, len(vals))
		for i, v := range vals {
			switch v := v.(type) {
			case nil:
				cells[i] = "NULL"
			case time.Time:
				cells[i] = v.UTC().Format("2006-01-02")
			case float64:
				cells[i] = strconv.FormatFloat(v, 'f', -1, 64)
			case []byte:
				cells[i] = string(v)
			default:
				cells[i] = fmt.Sprint(v)
			}
		}
		out = append(out, strings.Join(cells, "|"))
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// flightSQLCluster starts a secured scheduler serving Flight SQL and two
// executors, and registers the TPC-H tables at SF sf (sharedTPCH, 2 files
// a table) through Flight SQL itself (CREATE EXTERNAL TABLE with
// database/sql's Exec). It returns the database, the Flight SQL address,
// and the TPC-H data.
func flightSQLCluster(t *testing.T, sf float64, results string) (*sql.DB, *testScheduler, *tpchSet) {
	t.Helper()
	set := sharedTPCH(t, sf, 2)
	dir := set.dir
	sec := security.Config{Secrets: clusterSecrets}
	s := startScheduler(t, 0, func(c *scheduler.Config) {
		c.FlightSQLPort, c.FlightSQLResults, c.Security = 0, results, sec
	})
	for range 2 {
		startExecutor(t, s.addr, "push-staged", func(c *executor.Config) { c.ConcurrentTasks = 2; c.Security = sec })
	}
	addr := s.FlightSQLAddr().String()
	db, err := sql.Open("flightsql", "flightsql://kapot:"+clusterSecrets.Client+"@"+addr+"?timeout=120s")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for _, table := range []string{"region", "nation", "supplier", "customer", "part", "partsupp", "orders", "lineitem"} {
		if _, err := db.Exec(fmt.Sprintf("CREATE EXTERNAL TABLE %s STORED AS PARQUET LOCATION '%s/%s'", table, dir, table)); err != nil {
			t.Fatalf("create %s: %v", table, err)
		}
	}
	return db, s, set
}

// TestFlightSQLTPCH runs the 22 TPC-H queries through arrow-go's Flight SQL
// database/sql driver (a client we did not write) against a secured
// cluster, in both result modes, and compares each answer with DuckDB's on
// the same files (the answers `kapot sql` gives, see TestTPCHOnCluster).
func TestFlightSQLTPCH(t *testing.T) {
	if testing.Short() {
		t.Skip("TPC-H through Flight SQL: skipped with -short")
	}
	const sf = 0.01
	for _, results := range []string{scheduler.ResultsProxy, scheduler.ResultsDirect} {
		t.Run(results, func(t *testing.T) {
			db, s, set := flightSQLCluster(t, sf, results)
			checkEndpoints(t, s.FlightSQLAddr().String(), results)
			for n := 1; n <= 22; n++ {
				text, err := tpch.Query(n)
				if err != nil {
					t.Fatal(err)
				}
				want := set.answer(t, n)
				rs, err := db.QueryContext(context.Background(), text)
				if err != nil {
					t.Fatalf("q%d: %v", n, err)
				}
				got := sqlRows(t, rs)
				rs.Close()
				if err := oracle.SameRows(got, want); err != nil {
					t.Fatalf("q%d: %v\nflight sql: %.300q\nduckdb:     %.300q", n, err, got, want)
				}
			}
		})
	}
}

// TestFlightSQLStatements covers prepared statements with parameters,
// DDL and SHOW through the query path, metadata calls with arrow-go's
// low-level Flight SQL client, authentication, and cancellation.
func TestFlightSQLStatements(t *testing.T) {
	if testing.Short() {
		t.Skip("Flight SQL cluster: skipped with -short")
	}
	db, s, _ := flightSQLCluster(t, 0.01, scheduler.ResultsProxy)
	r := &flightSQLRun{db: db, s: s, addr: s.FlightSQLAddr().String(), ctx: context.Background()}

	t.Run("prepared with parameters", r.preparedWithParameters)
	t.Run("show and describe through the query path", r.showAndDescribe)
	t.Run("SQL nested too deep is refused and the scheduler keeps serving", r.deepSQLRefused)
	t.Run("metadata with the low-level client", r.lowLevelMetadata)
	t.Run("wrong password", r.wrongPassword)
	t.Run("cancel", r.cancel)
}

// flightSQLRun holds TestFlightSQLStatements's cluster and its
// database/sql handle, for its subtests.
type flightSQLRun struct {
	db   *sql.DB
	s    *testScheduler
	addr string // Flight SQL's
	ctx  context.Context
}

// preparedWithParameters: prepared with parameters.
func (fr *flightSQLRun) preparedWithParameters(t *testing.T) {
	db, ctx := fr.db, fr.ctx
	for _, q := range []string{
		"SELECT n_name, n_regionkey FROM nation WHERE n_regionkey = ? AND n_name LIKE ? ORDER BY n_name",
		"SELECT n_name, n_regionkey FROM nation WHERE n_regionkey = $1 AND n_name LIKE $2 ORDER BY n_name",
	} {
		stmt, err := db.PrepareContext(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			region int64
			like   string
			want   []string
		}{
			{1, "%A%", []string{"ARGENTINA|1", "BRAZIL|1", "CANADA|1", "UNITED STATES|1"}},
			{3, "%'%", nil}, // a quote in a parameter is data, not SQL
			{0, "E%", []string{"ETHIOPIA|0"}},
		} {
			rs, err := stmt.QueryContext(ctx, c.region, c.like)
			if err != nil {
				t.Fatal(err)
			}
			got := sqlRows(t, rs)
			rs.Close()
			if !slices.Equal(got, c.want) {
				t.Errorf("%s with (%d, %q): got %q, want %q", q, c.region, c.like, got, c.want)
			}
		}
		stmt.Close()
	}
}

// showAndDescribe: show and describe through the query path.
func (fr *flightSQLRun) showAndDescribe(t *testing.T) {
	db, ctx := fr.db, fr.ctx
	rs, err := db.QueryContext(ctx, "SHOW TABLES")
	if err != nil {
		t.Fatal(err)
	}
	got := firstColumn(sqlRows(t, rs))
	rs.Close()
	if want := []string{"customer", "lineitem", "nation", "orders", "part", "partsupp", "region", "supplier"}; !slices.Equal(got, want) {
		t.Fatalf("SHOW TABLES: %q", got)
	}
	if _, err := db.ExecContext(ctx, "SELECT 1"); status.Code(errors.Unwrap(err)) != codes.InvalidArgument && !strings.Contains(fmt.Sprint(err), "InvalidArgument") {
		t.Fatalf("a query run as an update: %v, want InvalidArgument", err)
	}
	if _, err := db.QueryContext(ctx, "SELECT nope FROM nation"); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("bad column: %v", err)
	}
}

// deepSQLRefused: SQL nested too deep is refused and the scheduler keeps serving.
func (fr *flightSQLRun) deepSQLRefused(t *testing.T) {
	db, ctx := fr.db, fr.ctx
	// A 100,000-term sum overflowed the C stack of the SQL parser and
	// killed the scheduler with every job it ran.
	deep := "SELECT " + strings.Repeat("1+", 100000) + "1 FROM nation"
	if _, err := db.QueryContext(ctx, deep); err == nil || !strings.Contains(err.Error(), "too complex") {
		t.Fatalf("deep SQL: %v, want a refusal", err)
	}
	rs, err := db.QueryContext(ctx, "SELECT count(*) FROM nation")
	if err != nil {
		t.Fatal(err)
	}
	got := sqlRows(t, rs)
	rs.Close()
	if !slices.Equal(got, []string{"25"}) {
		t.Fatalf("after the deep SQL: %q", got)
	}
}

// lowLevelMetadata: metadata with the low-level client.
func (fr *flightSQLRun) lowLevelMetadata(t *testing.T) {
	addr, ctx := fr.addr, fr.ctx
	cl, err := flightsql.NewClient(addr, nil, nil, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := cl.GetCatalogs(ctx); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("no credentials: %v, want Unauthenticated", err)
	}
	if _, err := cl.Client.AuthenticateBasicToken(ctx, "kapot", "wrong"); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("wrong password: %v, want Unauthenticated", err)
	}
	actx, err := cl.Client.AuthenticateBasicToken(ctx, "kapot", clusterSecrets.Client)
	if err != nil {
		t.Fatal(err)
	}
	read := func(info *flight.FlightInfo, err error) [][]string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		var rows [][]string
		for _, ep := range info.Endpoint {
			rdr, err := cl.DoGet(actx, ep.GetTicket())
			if err != nil {
				t.Fatal(err)
			}
			for rdr.Next() {
				b := rdr.RecordBatch()
				for r := 0; r < int(b.NumRows()); r++ {
					var row []string
					for c := 0; c < int(b.NumCols()); c++ {
						switch col := b.Column(c).(type) {
						case *array.String:
							row = append(row, col.Value(r))
						case *array.Binary:
							s, err := flight.DeserializeSchema(col.Value(r), memory.DefaultAllocator)
							if err != nil {
								t.Fatal(err)
							}
							row = append(row, strconv.Itoa(s.NumFields())+" fields")
						default:
							row = append(row, col.ValueStr(r))
						}
					}
					rows = append(rows, row)
				}
			}
			if err := rdr.Err(); err != nil {
				t.Fatal(err)
			}
			rdr.Release()
		}
		return rows
	}
	if got := read(cl.GetCatalogs(actx)); fmt.Sprint(got) != "[[kapot]]" {
		t.Errorf("catalogs: %v", got)
	}
	if got := read(cl.GetDBSchemas(actx, &flightsql.GetDBSchemasOpts{})); fmt.Sprint(got) != "[[kapot public]]" {
		t.Errorf("schemas: %v", got)
	}
	pattern := "%item"
	if got := read(cl.GetTables(actx, &flightsql.GetTablesOpts{TableNameFilterPattern: &pattern, IncludeSchema: true})); fmt.Sprint(got) != "[[kapot public lineitem TABLE 16 fields]]" {
		t.Errorf("tables like %%item: %v", got)
	}
	if got := read(cl.GetTables(actx, &flightsql.GetTablesOpts{})); len(got) != 8 {
		t.Errorf("all tables: %v", got)
	}
	if got := read(cl.GetTableTypes(actx)); fmt.Sprint(got) != "[[TABLE]]" {
		t.Errorf("table types: %v", got)
	}
	info, err := cl.GetSqlInfo(actx, []flightsql.SqlInfo{flightsql.SqlInfoFlightSqlServerName, flightsql.SqlInfoFlightSqlServerReadOnly})
	if got := read(info, err); len(got) != 2 || !strings.Contains(fmt.Sprint(got), "kapot") {
		t.Errorf("sql info: %v", got)
	}
	// A statement through the low-level client with the bearer token.
	if got := read(cl.Execute(actx, "SELECT count(*) AS n FROM region")); fmt.Sprint(got) != "[[5]]" {
		t.Errorf("count(*) from region: %v", got)
	}
}

// wrongPassword: wrong password.
func (fr *flightSQLRun) wrongPassword(t *testing.T) {
	addr, ctx := fr.addr, fr.ctx
	bad, err := sql.Open("flightsql", "flightsql://kapot:wrong@"+addr)
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if _, err := bad.QueryContext(ctx, "SELECT 1 FROM region"); err == nil || !strings.Contains(err.Error(), "Unauthenticated") {
		t.Fatalf("wrong password: %v, want Unauthenticated", err)
	}
}

// cancel: cancel.
func (fr *flightSQLRun) cancel(t *testing.T) {
	db, s, ctx := fr.db, fr.s, fr.ctx
	cctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() {
		// Quadratic: runs for minutes unless cancelled.
		rs, err := db.QueryContext(cctx, "SELECT count(*) FROM lineitem a, lineitem b WHERE a.l_extendedprice < b.l_extendedprice")
		if err == nil {
			rs.Close()
		}
		errc <- err
	}()
	// Wait until the job runs, then cancel the client's context: the
	// scheduler cancels the job.
	job := func() scheduler.JobView {
		for _, j := range s.Jobs() {
			if strings.Contains(j.Name, "lineitem a, lineitem b") {
				return j
			}
		}
		return scheduler.JobView{}
	}
	waitFor(t, func() bool { return job().State == "RUNNING" })
	cancel()
	if err := <-errc; err == nil {
		t.Fatal("cancelled query returned no error")
	}
	waitFor(t, func() bool { return job().State == "CANCELLED" })
}

// checkEndpoints runs a query with the low-level client and reads its
// endpoints the way a location-following client (ADBC, JDBC) does: in
// direct mode each names an executor, which serves the ticket itself (to
// a caller with the cluster's client credentials); in proxy mode none has
// a location and the scheduler serves them.
func checkEndpoints(t *testing.T, addr, results string) {
	t.Helper()
	ctx := context.Background()
	cl, err := flightsql.NewClient(addr, nil, nil, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	actx, err := cl.Client.AuthenticateBasicToken(ctx, "kapot", clusterSecrets.Client)
	if err != nil {
		t.Fatal(err)
	}
	info, err := cl.Execute(actx, "SELECT n_regionkey, count(*) AS n FROM nation GROUP BY n_regionkey")
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Endpoint) == 0 {
		t.Fatal("no endpoints")
	}
	rows := 0
	for _, ep := range info.Endpoint {
		var rdr *flight.Reader
		switch results {
		case scheduler.ResultsDirect:
			if len(ep.Location) != 1 || !strings.HasPrefix(ep.Location[0].GetUri(), "grpc+tcp://127.0.0.1:") {
				t.Fatalf("direct endpoint locations: %v", ep.Location)
			}
			conn, err := grpc.NewClient(strings.TrimPrefix(ep.Location[0].GetUri(), "grpc+tcp://"), grpc.WithTransportCredentials(insecure.NewCredentials()),
				grpc.WithPerRPCCredentials(security.Credentials{Node: security.Client, Secret: clusterSecrets.Client}))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			stream, err := flight.NewFlightServiceClient(conn).DoGet(ctx, ep.GetTicket())
			if err != nil {
				t.Fatal(err)
			}
			if rdr, err = flight.NewRecordReader(stream); err != nil {
				t.Fatalf("executor DoGet of a Flight SQL ticket: %v", err)
			}
		default:
			if len(ep.Location) != 0 {
				t.Fatalf("proxy endpoint has locations: %v", ep.Location)
			}
			if rdr, err = cl.DoGet(actx, ep.GetTicket()); err != nil {
				t.Fatal(err)
			}
		}
		if got := rdr.Schema().Field(1).Name; got != "n" {
			t.Errorf("result column named %q, want n", got)
		}
		for rdr.Next() {
			rows += int(rdr.RecordBatch().NumRows())
		}
		if err := rdr.Err(); err != nil {
			t.Fatal(err)
		}
		rdr.Release()
	}
	if rows != 5 {
		t.Fatalf("%d rows from the endpoints, want 5 regions", rows)
	}
}
