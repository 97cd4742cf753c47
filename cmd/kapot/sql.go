package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/spf13/cobra"

	"github.com/kapot-go/kapot/client"
	"github.com/kapot-go/kapot/engine"
	"github.com/kapot-go/kapot/internal/config"
	"github.com/kapot-go/kapot/internal/security"
	"github.com/kapot-go/kapot/planner"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
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
	)
	c := &cobra.Command{
		Use:   "sql",
		Short: "Run SQL: on a cluster (--scheduler) or in this process",
		Long: `Run SQL statements from -e, -f FILE or standard input, separated by
semicolons. Tables come from --tpch DIR (the eight TPC-H tables) and from
CREATE EXTERNAL TABLE name STORED AS PARQUET|CSV [WITH HEADER ROW] LOCATION 'path'.
Also: SHOW TABLES, DESCRIBE t, EXPLAIN query.

With --scheduler host:port the queries run on that cluster (see kapot local);
without, they run inside this process.`,
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
			cat := planner.NewCatalogWith(nil, props)
			if tpchDir != "" {
				if err := cat.RegisterTPCH(tpchDir); err != nil {
					return fmt.Errorf("--tpch: %v: %w", err, config.ErrInvalid)
				}
			}
			if cfgFile != "" {
				if _, err := cat.LoadTables(cfgFile); err != nil {
					return fmt.Errorf("--config: %v: %w", err, config.ErrInvalid)
				}
			}
			script := strings.Join(exprs, ";\n")
			if file != "" {
				b, err := os.ReadFile(file)
				if err != nil {
					return fmt.Errorf("-f: %v: %w", err, config.ErrInvalid)
				}
				script += ";\n" + string(b)
			}
			if len(exprs) == 0 && file == "" {
				b, err := io.ReadAll(cmd.InOrStdin())
				if err != nil {
					return err
				}
				script = string(b)
			}
			stmts, err := planner.SplitScript(script)
			if err != nil {
				return err
			}
			if cpuProfile != "" {
				stop, err := startCPUProfile(cpuProfile)
				if err != nil {
					return err
				}
				defer stop()
			}
			s := &sqlSession{cat: cat, out: cmd.OutOrStdout(), format: format, sched: sched, sec: sec, props: props, output: output,
				opts: planner.Options{TargetPartitions: partitions}, timeout: timeout, progress: isTerminal(os.Stderr)}
			// Ctrl-C or SIGTERM cancels the running query's job too.
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			for _, st := range stmts {
				if err := s.run(ctx, st); err != nil {
					return err
				}
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&cfgFile, "config", "", "YAML file whose `tables:` list declares external tables (name, format, location, header, delimiter)")
	f.StringVar(&tpchDir, "tpch", "", "register the TPC-H tables generated under this directory (kapot tpch gen)")
	f.StringVar(&sched, "scheduler", "", "run on the cluster of this scheduler (host:port); empty: in this process")
	f.StringArrayVarP(&exprs, "execute", "e", nil, "SQL to run (repeatable)")
	f.StringVarP(&file, "file", "f", "", "SQL script to run")
	f.StringVar(&format, "format", "table", "output format: table, csv or json")
	f.StringVarP(&output, "output", "o", "", "write query results to this file instead (.parquet, .csv or .json)")
	f.IntVar(&partitions, "partitions", 0, "partitions of hash exchanges (joins, aggregates); 0: the property "+planner.PropShufflePartitions+", else one per task slot of the cluster (in process: 2)")
	f.DurationVar(&timeout, "timeout", 30*time.Minute, "give up on a query after this long")
	f.StringArrayVar(&properties, "property", nil, "session property key=value for the queries (repeatable), e.g. kapot.s3.endpoint=http://127.0.0.1:7070")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a pprof CPU profile of this process to FILE (useful without --scheduler)")
	security.AddClientFlags(f, &sec)
	return withFlagErrors(c)
}

type sqlSession struct {
	cat      *planner.Catalog
	out      io.Writer
	format   string
	sched    string
	sec      security.Config
	props    map[string]string
	output   string
	opts     planner.Options
	timeout  time.Duration
	progress bool // draw a progress line on stderr for queries over a second
}

func (s *sqlSession) run(ctx context.Context, text string) error {
	st, err := s.cat.Classify(text)
	if err != nil {
		return err
	}
	switch st.Kind {
	case planner.StmtCreateExternalTable:
		if err := s.cat.Register(st.Table); err != nil {
			return err
		}
		fmt.Fprintf(s.out, "created table %s (%d files)\n", st.Table.Name, len(st.Table.Files))
		return nil
	case planner.StmtShowTables:
		return s.printStrings([]string{"table_name"}, rowsOf(s.cat.Names()))
	case planner.StmtDescribe:
		cols, err := s.cat.Describe(st.Name)
		if err != nil {
			return err
		}
		rows := make([][]string, len(cols))
		for i, c := range cols {
			rows[i] = c[:]
		}
		return s.printStrings([]string{"column_name", "data_type", "is_nullable"}, rows)
	case planner.StmtExplain:
		opts, err := s.planOpts(ctx)
		if err != nil {
			return err
		}
		p, err := planner.PlanQuery(s.cat, st.SQL, opts)
		if err != nil {
			return err
		}
		if st.Analyze {
			return s.explainAnalyze(ctx, p)
		}
		text, err := planner.Explain(p)
		if err != nil {
			return err
		}
		fmt.Fprint(s.out, text)
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	start := time.Now()
	if s.sched != "" {
		// The Go client's session plans over this command's catalog and
		// streams the result back (see client.Session); each batch goes
		// to the output as it arrives.
		cl, err := dialScheduler(s.sched, s.sec)
		if err != nil {
			return err
		}
		defer cl.Close()
		sess := cl.NewSessionWith(s.cat, s.props)
		sess.Options = s.opts
		job, err := sess.Start(ctx, st.SQL)
		if err != nil {
			return err
		}
		stop := s.showProgress(ctx, cl, job.ID, start)
		rows, err := job.Wait(ctx)
		stop()
		if err != nil {
			return err
		}
		defer rows.Release()
		out, err := s.sink(renamed(rows.Schema(), job.Plan.Columns))
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
	opts, err := s.planOpts(ctx)
	if err != nil {
		return err
	}
	p, err := planner.PlanQuery(s.cat, st.SQL, opts)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "kapot-sql-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	tc := &engine.TaskContext{JobID: "sql", WorkDir: work, Mem: engine.NewRecyclingAllocator(0), Properties: s.props}
	if tc.BatchSize, err = engine.BatchSizeProperty(s.props); err != nil {
		return err
	}
	batches, err := planner.RunInProcess(ctx, p, tc, s.cat.Store())
	if err != nil {
		return err
	}
	defer func() {
		for _, b := range batches {
			b.Release()
		}
	}()
	out, err := s.sink(p.Schema)
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

// renamed gives the result schema the query's output names.
func renamed(s *arrow.Schema, names []string) *arrow.Schema {
	if len(names) != s.NumFields() {
		return s
	}
	fs := append([]arrow.Field{}, s.Fields()...)
	for i := range fs {
		fs[i].Name = names[i]
	}
	return arrow.NewSchema(fs, nil)
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

func rowsOf(vals []string) [][]string {
	out := make([][]string, len(vals))
	for i, v := range vals {
		out[i] = []string{v}
	}
	return out
}

// planOpts are the options a statement is planned with: --partitions,
// else kapot.shuffle.partitions, else (with --scheduler) one partition per
// task slot of the cluster, or (in process) the planner's default.
func (s *sqlSession) planOpts(ctx context.Context) (planner.Options, error) {
	if s.sched == "" {
		o := s.opts
		if o.TargetPartitions <= 0 {
			n, err := planner.PartitionsProperty(s.props)
			if err != nil {
				return o, err
			}
			o.TargetPartitions = n
		}
		return o, nil
	}
	cl, err := dialScheduler(s.sched, s.sec)
	if err != nil {
		return planner.Options{}, err
	}
	defer cl.Close()
	sess := cl.NewSessionWith(s.cat, s.props)
	sess.Options = s.opts
	return sess.PlanOptions(ctx)
}

// explainAnalyze runs the query and prints each stage's operators with the
// metrics its tasks reported (summed over the stage's tasks).
func (s *sqlSession) explainAnalyze(ctx context.Context, p *planner.Plan) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	start := time.Now()
	if s.sched == "" {
		work, err := os.MkdirTemp("", "kapot-sql-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(work)
		tc := &engine.TaskContext{JobID: "sql", WorkDir: work, Mem: engine.NewRecyclingAllocator(0), Properties: s.props, Metrics: &engine.Metrics{}}
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
	cl, err := dialScheduler(s.sched, s.sec)
	if err != nil {
		return err
	}
	defer cl.Close()
	id, err := cl.Submit(ctx, &kapotv1.SubmitJobRequest{Plan: p.Root, JobName: "explain analyze", SessionProperties: s.props})
	if err != nil {
		return err
	}
	st, err := cl.Wait(ctx, id)
	if err != nil {
		return err
	}
	_, bs, err := cl.Fetch(ctx, st)
	for _, b := range bs {
		b.Release()
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(s.out, "job %s, %s\n", id, time.Since(start).Round(time.Millisecond))
	for _, stage := range st.GetStages() {
		fmt.Fprintf(s.out, "stage %d: %d tasks\n", stage.GetStageId(), stage.GetPartitions())
		for _, line := range strings.Split(strings.TrimRight(planner.FormatMetrics(stage.GetOperatorMetrics()), "\n"), "\n") {
			fmt.Fprintf(s.out, "  %s\n", line)
		}
	}
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
