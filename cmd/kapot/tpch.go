package main

import (
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/kapot-go/kapot/internal/config"
	"github.com/kapot-go/kapot/tpch"
)

func tpchCmd() *cobra.Command {
	c := &cobra.Command{Use: "tpch", Short: "TPC-H data and queries"}
	c.AddCommand(tpchGenCmd(), tpchBenchCmd())
	return c
}

func tpchGenCmd() *cobra.Command {
	var o tpch.Options
	var quiet bool
	c := &cobra.Command{
		Use:   "gen",
		Short: "Generate the eight TPC-H tables at a scale factor",
		Long: `Generate the TPC-H tables (region, nation, supplier, customer, part, partsupp,
orders, lineitem) following the specification's generation rules, as
DIR/<table>/part-<i>.parquet (or .csv). The data is deterministic for a
scale factor, whatever --partitions says; memory stays flat as it grows.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case o.SF <= 0:
				return fmt.Errorf("--sf %v: must be positive (0.01, 0.1, 1, 10, …): %w", o.SF, config.ErrInvalid)
			case o.Dir == "":
				return fmt.Errorf("--out: required: %w", config.ErrInvalid)
			case o.Format != "parquet" && o.Format != "csv":
				return fmt.Errorf("--format %q: want parquet or csv: %w", o.Format, config.ErrInvalid)
			case o.Partitions < 1:
				return fmt.Errorf("--partitions %d: must be at least 1: %w", o.Partitions, config.ErrInvalid)
			}
			if _, err := tpch.Codec(o.Compression); err != nil {
				return fmt.Errorf("--compression: %w: %w", err, config.ErrInvalid)
			}
			start := time.Now()
			if !quiet && isTerminal(os.Stderr) {
				o.Progress = progressLine()
			}
			if err := tpch.Generate(cmd.Context(), o); err != nil {
				return err
			}
			if o.Progress != nil {
				fmt.Fprint(os.Stderr, "\r\033[K")
			}
			fmt.Fprintf(cmd.OutOrStdout(), "generated TPC-H SF %v in %s (%s, %d partitions) in %.1fs\n",
				o.SF, o.Dir, o.Format, o.Partitions, time.Since(start).Seconds())
			return nil
		},
	}
	f := c.Flags()
	f.Float64Var(&o.SF, "sf", 1, "scale factor")
	f.StringVar(&o.Dir, "out", "", "output directory")
	f.StringVar(&o.Format, "format", "parquet", "parquet or csv")
	f.StringVar(&o.Compression, "compression", "snappy", "Parquet codec: snappy, lz4 (LZ4_RAW), zstd, gzip or none")
	f.IntVar(&o.Partitions, "partitions", 1, "files per table (region and nation always have one)")
	f.StringSliceVar(&o.Tables, "tables", nil, "generate only these tables")
	f.BoolVar(&quiet, "quiet", false, "no progress line")
	return withFlagErrors(c)
}

// progressLine returns a Progress callback that redraws one status line at
// most ten times a second.
func progressLine() func(table string, done, total int64) {
	var mu sync.Mutex
	var last time.Time
	return func(table string, done, total int64) {
		mu.Lock()
		defer mu.Unlock()
		if time.Since(last) < 100*time.Millisecond {
			return
		}
		last = time.Now()
		pct := 100 * float64(done) / float64(max(total, 1))
		fmt.Fprintf(os.Stderr, "\r\033[K%s: %d rows (%.0f%%)", table, done, min(pct, 100))
	}
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
