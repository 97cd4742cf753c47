package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kapot-go/kapot/engine/alloc"
	"github.com/kapot-go/kapot/internal/sysinfo"
	"github.com/kapot-go/kapot/warehouse"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/kapot-go/kapot/catalog"
	"github.com/kapot-go/kapot/client"
	"github.com/kapot-go/kapot/engine"
	"github.com/kapot-go/kapot/internal/config"
	"github.com/kapot-go/kapot/internal/panics"
	"github.com/kapot-go/kapot/internal/security"
	"github.com/kapot-go/kapot/objstore"
	"github.com/kapot-go/kapot/planner"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/session"
	"github.com/kapot-go/kapot/tpch"
)

func sqlCmd() *cobra.Command {
	var (
		tpchDir, sched, format, file, output, cfgFile string
		cpuProfile                                    string
		sec                                           security.Config
		properties                                    []string
		exprs                                         []string
		partitions                                    int
		timeout                                       time.Duration
		memoryPool                                    config.ByteSize
	)
	c := &cobra.Command{
		Use:   "sql",
		Short: "Run SQL: on a cluster (--scheduler) or in this process",
		Long: `Run SQL statements from -e, -f FILE or standard input, separated by
semicolons. Tables come from --tpch DIR (the eight TPC-H tables), --config
FILE and CREATE EXTERNAL TABLE [IF NOT EXISTS] name STORED AS PARQUET|CSV
[WITH HEADER ROW] [DELIMITER 'c'] LOCATION 'path'. Also: SHOW TABLES,
DESCRIBE t, EXPLAIN [ANALYZE] query.

With --scheduler host:port every statement goes to that cluster's scheduler
(see kapot local), which parses and plans it over the cluster's shared
catalog (the tables every client and Flight SQL see); --tpch and --config
create their tables there. Without, statements run inside this process.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := clientSecurity(cmd, &sec); err != nil {
				return err
			}
			switch format {
			case "table", "csv", "json":
			default:
				return fmt.Errorf("--format %q: want table, csv or json: %w", format, config.ErrInvalid)
			}
			props, err := parseProperties(properties)
			if err != nil {
				return err
			}
			if partitions > 0 {
				props[planner.PropShufflePartitions] = strconv.Itoa(partitions)
			}
			if _, err := planner.PartitionsProperty(props); err != nil {
				return fmt.Errorf("%v: %w", err, config.ErrInvalid)
			}
			if _, err := planner.SplitRowsProperty(props); err != nil {
				return fmt.Errorf("%v: %w", err, config.ErrInvalid)
			}
			defs, err := tableDefs(tpchDir, cfgFile)
			if err != nil {
				return err
			}
			stmts, err := readScript(cmd.InOrStdin(), exprs, file)
			if err != nil {
				return err
			}
			if cpuProfile != "" {
				stopProfile, err := startCPUProfile(cpuProfile)
				if err != nil {
					return err
				}
				defer stopProfile()
			}
			// Ctrl-C or SIGTERM cancels the running query's job too.
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			s := &sqlSession{out: cmd.OutOrStdout(), format: format, props: props, output: output, timeout: timeout, progress: isTerminal(os.Stderr), poolSize: int64(memoryPool)}
			open := s.openLocal
			if sched != "" {
				open = func(ctx context.Context, defs []*catalog.ExternalTable) (func(), error) {
					return s.openCluster(ctx, sched, sec, defs)
				}
			}
			closeSession, err := open(ctx, defs)
			if err != nil {
				return err
			}
			defer closeSession()
			for _, st := range stmts {
				if err := s.runContained(ctx, st); err != nil {
					return err
				}
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&cfgFile, "config", "", "YAML file whose `tables:` list declares external tables (name, format, location, header, delimiter)")
	f.StringVar(&tpchDir, "tpch", "", "register the TPC-H tables generated under this directory (kapot tpch gen)")
	f.StringVar(&sched, "scheduler", "", "run on the cluster of this scheduler (host:port, or h1:p1,h2:p2 for several schedulers of one cluster: the leader answers); empty: in this process")
	f.StringArrayVarP(&exprs, "execute", "e", nil, "SQL to run (repeatable)")
	f.StringVarP(&file, "file", "f", "", "SQL script to run")
	f.StringVar(&format, "format", "table", "output format: table, csv or json")
	f.StringVarP(&output, "output", "o", "", "write query results to this file instead (.parquet, .csv or .json)")
	f.IntVar(&partitions, "partitions", 0, "partitions of hash exchanges (joins, aggregates); 0: the property "+planner.PropShufflePartitions+", else one per task slot of the cluster (in process: 2)")
	f.DurationVar(&timeout, "timeout", 30*time.Minute, "give up on a query after this long")
	f.Var(&memoryPool, "memory-pool-size", "in process: the memory pool of the queries (bytes or 4GiB; default: 70% of the machine's or cgroup's memory, as kapot local's executors share): operators spill beyond it, and the Arrow memory of the queries stays within it and a margin (a query that needs more fails with resources exhausted)")
	f.StringArrayVar(&properties, "property", nil, "session property key=value for the queries (repeatable), e.g. kapot.s3.endpoint=http://127.0.0.1:7070")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a pprof CPU profile of this process to FILE (useful without --scheduler)")
	security.AddClientFlags(f, &sec)
	return withFlagErrors(c)
}

// sqlSession runs the statements of kapot sql: on a cluster (sess, whose
// scheduler parses and plans them) or in this process (cat).
type sqlSession struct {
	cl      *client.Client
	sess    *client.Session
	cat     *catalog.Catalog
	tables  *warehouse.Tables // writes in this process
	local   *session.Local    // statements in this process
	out     io.Writer
	format  string
	props   map[string]string
	output  string
	timeout time.Duration
	// poolSize, pool and mem bound what queries run in this process hold
	// (see inProcessMemory); poolSize 0: 70% of the machine's memory.
	poolSize int64
	pool     *alloc.MemoryPool
	mem      memory.Allocator
	progress bool // draw a progress line on stderr for queries over a second
}

// runContained is run with a panic of the statement's planning, running or
// printing (planner, engine and decoder code, in this process) turned into
// the statement's error, "internal error: <value>", its stack logged on
// stderr at error level: kapot sql ends with an error, never a crash.
func (s *sqlSession) runContained(ctx context.Context, text string) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = alloc.Recovered(p)
			panics.LogIf(zerolog.New(os.Stderr).With().Timestamp().Logger(), err, "statement panicked")
		}
	}()
	return s.run(ctx, text)
}

func (s *sqlSession) run(ctx context.Context, text string) error {
	if s.sess != nil {
		return s.runRemote(ctx, text)
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	start := time.Now()
	a, err := session.Execute(ctx, s.local, text, s.props, security.Principal{})
	if err != nil {
		return err
	}
	q := a.Query
	switch {
	case q == nil:
		return s.printInline(a)
	case q.Write != nil:
		return s.writeLocal(ctx, q.Write)
	case q.Analyze:
		return s.explainAnalyze(ctx, q.Plan)
	}
	tc, done, err := s.taskContext()
	if err != nil {
		return err
	}
	defer done()
	batches, err := planner.RunInProcess(ctx, q.Plan, tc, s.cat.Store())
	if err != nil {
		return err
	}
	defer func() {
		for _, b := range batches {
			b.Release()
		}
	}()
	out, err := s.sink(q.Plan.Schema)
	if err != nil {
		return err
	}
	for _, b := range batches {
		if err := out.Write(b); err != nil {
			out.Close()
			return err
		}
	}
	return s.done(out, start)
}

// printInline prints a statement's inline answer as a cluster's is
// printed (printAnswer): the lines of a one-column result or plan as they
// are, other answers as a table.
func (s *sqlSession) printInline(a session.Answer) error {
	if len(a.Columns) == 1 && (a.Columns[0] == "result" || a.Columns[0] == "plan") {
		for _, r := range a.Rows {
			fmt.Fprintln(s.out, r[0])
		}
		return nil
	}
	return s.printStrings(a.Columns, a.Rows)
}

// runRemote sends a statement to the scheduler, which parses and plans it
// over the cluster's catalog. A query's rows stream from the executors to
// the output as they arrive; other statements answer with their rows.
func (s *sqlSession) runRemote(ctx context.Context, text string) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	start := time.Now()
	job, err := s.sess.Start(ctx, text)
	if err != nil {
		return err
	}
	if job.ID == "" {
		return s.printAnswer(ctx, job)
	}
	stop := s.showProgress(ctx, s.cl, job.ID, start)
	rows, err := job.Wait(ctx)
	stop()
	if err != nil {
		return err
	}
	defer rows.Release()
	out, err := s.sink(rows.Schema())
	if err != nil {
		return err
	}
	for rows.Next() {
		if err := out.Write(rows.RecordBatch()); err != nil {
			out.Close()
			return err
		}
	}
	if err := rows.Err(); err != nil {
		out.Close()
		return err
	}
	return s.done(out, start)
}

// printAnswer prints a statement's inline answer: the lines of a one-column
// result or plan as they are, other answers as a table.
func (s *sqlSession) printAnswer(ctx context.Context, job *client.Job) error {
	rows, err := job.Wait(ctx)
	if err != nil {
		return err
	}
	bs, err := client.ReadAll(rows)
	if err != nil {
		return err
	}
	defer func() {
		for _, b := range bs {
			b.Release()
		}
	}()
	if f := job.Schema.Fields(); len(f) == 1 && (f[0].Name == "result" || f[0].Name == "plan") {
		for _, b := range bs {
			for i := 0; i < int(b.NumRows()); i++ {
				fmt.Fprintln(s.out, b.Column(0).ValueStr(i))
			}
		}
		return nil
	}
	return printResult(s.out, s.format, job.Schema, bs)
}

// sink is where a query's rows go: the --output file or the terminal.
func (s *sqlSession) sink(schema *arrow.Schema) (sink, error) {
	if s.output != "" {
		return newFileSink(s.output, schema)
	}
	return newSink(s.out, s.format, schema), nil
}

// done closes a query's sink and reports the row count.
func (s *sqlSession) done(out sink, start time.Time) error {
	n, err := out.Close()
	if err != nil {
		return err
	}
	switch {
	case s.output != "":
		fmt.Fprintf(s.out, "%d row(s) written to %s in %s\n", n, s.output, time.Since(start).Round(time.Millisecond))
	case s.format == "table":
		fmt.Fprintf(s.out, "%d row(s) in %s\n", n, time.Since(start).Round(time.Millisecond))
	}
	return nil
}

func (s *sqlSession) printStrings(names []string, rows [][]string) error {
	fields := make([]arrow.Field, len(names))
	for i, n := range names {
		fields[i] = arrow.Field{Name: n, Type: arrow.BinaryTypes.String}
	}
	schema := arrow.NewSchema(fields, nil)
	b := array.NewRecordBuilder(memory.NewGoAllocator(), schema)
	defer b.Release()
	for _, r := range rows {
		for i, v := range r {
			b.Field(i).(*array.StringBuilder).Append(v)
		}
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	return printResult(s.out, s.format, schema, []arrow.RecordBatch{rec})
}

// planOpts are the options a statement is planned in this process with:
// --partitions or kapot.shuffle.partitions and kapot.scan.split_rows
// (checked when parsed), else the planner's defaults.
func (s *sqlSession) planOpts() planner.Options {
	n, _ := planner.PartitionsProperty(s.props)
	split, _ := planner.SplitRowsProperty(s.props)
	return planner.Options{TargetPartitions: n, SplitRows: split, InProcess: true}
}

// explainAnalyze runs the query in this process and prints each
// operator with its metrics (on a cluster, the scheduler answers EXPLAIN
// ANALYZE itself).
func (s *sqlSession) explainAnalyze(ctx context.Context, p *planner.Plan) error {
	start := time.Now()
	work, err := os.MkdirTemp("", "kapot-sql-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	mem, pool, err := s.inProcessMemory()
	if err != nil {
		return err
	}
	tc := &engine.TaskContext{JobID: "sql", WorkDir: work, Mem: mem, Pool: pool, Properties: s.props, Metrics: &engine.Metrics{}}
	if tc.BatchSize, err = engine.BatchSizeProperty(s.props); err != nil {
		return err
	}
	bs, err := planner.RunInProcess(ctx, p, tc, s.cat.Store())
	for _, b := range bs {
		b.Release()
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(s.out, "in-process (exchanges as in-memory repartitions), %s\n", time.Since(start).Round(time.Millisecond))
	fmt.Fprint(s.out, planner.FormatMetrics(tc.Metrics.Proto()))
	return nil
}

// showProgress redraws "stages done/total, tasks running" on stderr while
// a job runs longer than a second; the returned function stops it.
func (s *sqlSession) showProgress(ctx context.Context, cl *client.Client, id string, start time.Time) func() {
	if !s.progress {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		drawn := false
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				if drawn {
					fmt.Fprint(os.Stderr, "\r\033[K")
				}
				return
			case <-t.C:
			}
			if time.Since(start) < time.Second {
				continue
			}
			st, err := cl.Scheduler().GetJobStatus(ctx, &kapotv1.GetJobStatusRequest{JobId: id})
			if err != nil {
				continue
			}
			var done, running int
			for _, stage := range st.GetStages() {
				if stage.GetState() == "completed" {
					done++
				}
				running += int(stage.GetRunning())
			}
			fmt.Fprintf(os.Stderr, "\r\033[K%s: stages %d/%d, tasks running %d, %.1fs", id, done, len(st.GetStages()), running, time.Since(start).Seconds())
			drawn = true
		}
	}()
	return func() { cancel(); <-done }
}

// tableDefs are the tables of --tpch and --config, as definitions:
// created in this process's catalog, or in the cluster's.
func tableDefs(tpchDir, cfgFile string) ([]*catalog.ExternalTable, error) {
	var defs []*catalog.ExternalTable
	if tpchDir != "" {
		d, err := catalog.ParquetDirDefs(tpchDir, tpch.Tables)
		if err != nil {
			return nil, fmt.Errorf("--tpch: %v: %w", err, config.ErrInvalid)
		}
		defs = append(defs, d...)
	}
	if cfgFile != "" {
		d, err := catalog.LoadTableDefs(cfgFile)
		if err != nil {
			return nil, fmt.Errorf("--config: %v: %w", err, config.ErrInvalid)
		}
		defs = append(defs, d...)
	}
	return defs, nil
}

// readScript splits the statements of -e, then -f FILE; of stdin when
// neither is given.
func readScript(stdin io.Reader, exprs []string, file string) ([]string, error) {
	script := strings.Join(exprs, ";\n")
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("-f: %v: %w", err, config.ErrInvalid)
		}
		script += ";\n" + string(b)
	}
	if len(exprs) == 0 && file == "" {
		b, err := io.ReadAll(stdin)
		if err != nil {
			return nil, err
		}
		script = string(b)
	}
	return planner.SplitScript(script)
}

// openCluster makes s a session on the cluster of scheduler sched and
// creates defs there; the returned func closes the connection.
func (s *sqlSession) openCluster(ctx context.Context, sched string, sec security.Config, defs []*catalog.ExternalTable) (func(), error) {
	cl, err := dialScheduler(sched, sec)
	if err != nil {
		return nil, err
	}
	s.cl, s.sess = cl, cl.NewSession(s.props)
	for _, d := range defs {
		if err := s.sess.Exec(ctx, d.SQL()); err != nil {
			cl.Close()
			return nil, fmt.Errorf("create table %s on the cluster: %w", d.Name, err)
		}
	}
	return func() { cl.Close() }, nil
}

// openLocal makes s a session in this process, with its own catalog
// holding defs and a temporary warehouse for managed tables, removed by
// the returned func.
func (s *sqlSession) openLocal(ctx context.Context, defs []*catalog.ExternalTable) (func(), error) {
	// In this process the session is this process's user: its endpoint
	// may be local (kapot.s3.endpoint=http://127.0.0.1:…).
	reg := objstore.Default()
	reg.AllowLocalURLs(true)
	s.cat = catalog.NewWith(reg, s.props)
	wh, err := os.MkdirTemp("", "kapot-warehouse-")
	if err != nil {
		return nil, err
	}
	s.tables = &warehouse.Tables{Catalog: s.cat, Store: s.cat.Store(),
		Warehouse: &warehouse.Warehouse{Root: wh, Store: s.cat.Store(), Props: s.props}}
	s.local = &session.Local{Cat: s.cat, Tables: s.tables, Options: s.planOpts()}
	for _, d := range defs {
		t, err := s.cat.Resolve(ctx, d, nil)
		if err == nil {
			err = s.cat.Register(t)
		}
		if err != nil {
			os.RemoveAll(wh)
			return nil, fmt.Errorf("table %s: %v: %w", d.Name, err, config.ErrInvalid)
		}
	}
	return func() { os.RemoveAll(wh) }, nil
}

// parseProperties reads --property key=value flags.
func parseProperties(kvs []string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("--property %q: want key=value: %w", kv, config.ErrInvalid)
		}
		out[strings.TrimSpace(k)] = v
	}
	return out, nil
}

// startCPUProfile starts a pprof CPU profile written to path; the returned
// function stops it and closes the file.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// writeLocal runs a prepared CREATE TABLE AS, INSERT or COPY in this
// process (managed tables in the session's temporary warehouse).
func (s *sqlSession) writeLocal(ctx context.Context, w *warehouse.Write) error {
	tc, done, err := s.taskContext()
	if err != nil {
		return err
	}
	defer done()
	n, err := s.tables.Run(ctx, w, tc)
	if err != nil {
		return err
	}
	return s.printStrings([]string{"count"}, [][]string{{strconv.FormatInt(n, 10)}})
}

// inProcessMemory is the allocator and the pool of queries run in this
// process, made at the first: the pool (--memory-pool-size, else 70% of
// the machine's or cgroup's memory, the rule of kapot local's executors)
// and an allocator that keeps the Arrow memory live within the pool and a
// margin, as an executor's (alloc.BoundedAllocator).
func (s *sqlSession) inProcessMemory() (memory.Allocator, *alloc.MemoryPool, error) {
	if s.pool != nil {
		return s.mem, s.pool, nil
	}
	size := s.poolSize
	if size == 0 {
		total, err := sysinfo.MemoryLimit("/")
		if err != nil {
			return nil, nil, fmt.Errorf("size the memory pool (set --memory-pool-size): %w", err)
		}
		size = total * 70 / 100
	}
	s.pool = alloc.NewMemoryPool(size)
	s.mem = alloc.NewBoundedAllocator(alloc.NewCountingAllocator(alloc.NewRecyclingAllocator(0)), size+max(256<<20, size/4), nil)
	return s.mem, s.pool, nil
}

// taskContext is the context a statement runs with in this process: a
// temporary work dir (removed by done) and the session's properties.
func (s *sqlSession) taskContext() (*engine.TaskContext, func(), error) {
	work, err := os.MkdirTemp("", "kapot-sql-")
	if err != nil {
		return nil, nil, err
	}
	mem, pool, err := s.inProcessMemory()
	if err != nil {
		os.RemoveAll(work)
		return nil, nil, err
	}
	tc := &engine.TaskContext{JobID: "sql", WorkDir: work, Mem: mem, Pool: pool, Properties: s.props}
	if tc.BatchSize, err = engine.BatchSizeProperty(s.props); err != nil {
		os.RemoveAll(work)
		return nil, nil, err
	}
	return tc, func() { tc.End(); os.RemoveAll(work) }, nil
}
