package bench

import (
	"context"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/kapot-go/kapot/catalog"
	"github.com/kapot-go/kapot/internal/config"
	"github.com/kapot-go/kapot/tpcds"
	"github.com/kapot-go/kapot/tpch"
)

// benchSuite is what `kapot tpch bench --suite` runs: the queries, the
// tables they read and the reference engine over the same files.
type benchSuite struct {
	name      string // tpch, extended, write or tpcds
	benchmark string // TPC-H or TPC-DS: whose tables
	count     int
	query     func(n int) (string, error)
	label     func(n int) string
	// unordered: answers that differ from DuckDB's only in the order of
	// rows (ties of ORDER BY … LIMIT) count as the same, flagged.
	unordered bool
}

// suiteByName returns a suite; a TPC-DS suite's queries come from
// queryDir (found beside the data when empty, see prepareSuiteData).
func suiteByName(name string) (benchSuite, error) {
	prefixed := func(p string) func(int) string { return func(n int) string { return fmt.Sprintf("%s%d", p, n) } }
	switch name {
	case "tpch":
		return benchSuite{name: name, benchmark: "TPC-H", count: 22, query: tpch.Query, label: prefixed("Q")}, nil
	case "extended":
		return benchSuite{name: name, benchmark: "TPC-H", count: tpch.ExtendedQueries, query: tpch.ExtendedQuery, label: prefixed("E")}, nil
	case "write":
		return benchSuite{name: name, benchmark: "TPC-H", count: tpch.WriteQueries, query: tpch.WriteQuery, label: prefixed("W")}, nil
	case "tpcds":
		return benchSuite{name: name, benchmark: "TPC-DS", count: tpcds.QueryCount, label: func(n int) string { return fmt.Sprintf("q%02d", n) }, unordered: true}, nil
	}
	return benchSuite{}, fmt.Errorf("--suite %q: tpch, extended, write or tpcds: %w", name, config.ErrInvalid)
}

// benchData is where a suite's tables are and how they lie.
type benchData struct {
	dir    string
	sf     float64
	layout string
	about  string         // the layout in words
	files  map[string]int // files per table
	defs   []*catalog.ExternalTable
}

// benchDataOptions are the flags prepareSuiteData reads.
type benchDataOptions struct {
	data, layout, queryDir string
	sf                     float64
	sfSet, layoutSet       bool
}

// prepareSuiteData finds (TPC-DS) or generates (TPC-H, under
// --data/<layout>) the suite's tables and sets s.query for TPC-DS.
func prepareSuiteData(ctx context.Context, w io.Writer, s *benchSuite, o benchDataOptions) (*benchData, error) {
	if s.benchmark == "TPC-DS" {
		return prepareTPCDS(s, o)
	}
	switch {
	case o.sf <= 0:
		return nil, fmt.Errorf("--sf %v: must be positive: %w", o.sf, config.ErrInvalid)
	case o.data == "":
		return nil, fmt.Errorf("--data: required (the layout's files are generated under it when missing): %w", config.ErrInvalid)
	case o.queryDir != "":
		return nil, fmt.Errorf("--query-dir: only for --suite tpcds (the TPC-H queries are built in): %w", config.ErrInvalid)
	}
	l, err := parseLayout(o.layout)
	if err != nil {
		return nil, err
	}
	dir, files, err := prepareLayout(ctx, w, o.data, o.sf, l)
	if err != nil {
		return nil, err
	}
	defs, err := catalog.ParquetDirDefs(dir, tpch.Tables)
	if err != nil {
		return nil, err
	}
	return &benchData{dir: dir, sf: o.sf, layout: l.String(), about: l.describe(), files: files, defs: defs}, nil
}

// prepareTPCDS uses the TPC-DS tables of --data (default: the workspace's
// shared/tpcds/sf0.1) as they are: one file per table.
func prepareTPCDS(s *benchSuite, o benchDataOptions) (*benchData, error) {
	if o.layoutSet {
		if l, err := parseLayout(o.layout); err != nil || l.kind != layoutOneFile {
			return nil, fmt.Errorf("--layout %q: the TPC-DS suite reads its data as gen.sh wrote it (one-file): %w", o.layout, config.ErrInvalid)
		}
	}
	dir := o.data
	if dir == "" {
		var err error
		if dir, err = tpcds.FindData(); err != nil {
			return nil, fmt.Errorf("--data: %w: %w", err, config.ErrInvalid)
		}
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if err := tpcds.Check(dir); err != nil {
		return nil, fmt.Errorf("--data: %w: %w", err, config.ErrInvalid)
	}
	sf := o.sf
	if !o.sfSet {
		if sf, err = tpcds.ScaleFactor(dir); err != nil {
			return nil, err
		}
	}
	qdir := o.queryDir
	if qdir == "" {
		if qdir, err = tpcds.FindQueries(dir); err != nil {
			return nil, fmt.Errorf("--query-dir: %w: %w", err, config.ErrInvalid)
		}
	}
	if _, err := tpcds.Query(qdir, 1); err != nil {
		return nil, fmt.Errorf("--query-dir: %w: %w", err, config.ErrInvalid)
	}
	s.query = func(n int) (string, error) { return tpcds.Query(qdir, n) }
	d := &benchData{dir: dir, sf: sf, layout: layoutOneFile, files: map[string]int{}}
	for _, t := range tpcds.Tables {
		loc := filepath.Join(dir, t)
		m, _ := filepath.Glob(filepath.Join(loc, "*.parquet"))
		d.files[t] = len(m)
		d.defs = append(d.defs, &catalog.ExternalTable{Name: t, Format: "parquet", Location: loc})
	}
	d.about = fmt.Sprintf("the %d tables as shared/tpcds/gen.sh writes them (%s); queries from %s", len(tpcds.Tables), filesSummary(d.files), qdir)
	return d, nil
}

// filesSummary says how many files the tables have: "one file per table"
// or the counts of the tables with more.
func filesSummary(files map[string]int) string {
	var more []string
	for _, t := range slices.Sorted(maps.Keys(files)) {
		if n := files[t]; n != 1 {
			more = append(more, fmt.Sprintf("%s %d", t, n))
		}
	}
	if len(more) == 0 {
		return "one file per table"
	}
	return "files: " + strings.Join(more, ", ")
}
