package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/spf13/cobra"

	"github.com/kapot-go/kapot/client"
	"github.com/kapot-go/kapot/engine"
	"github.com/kapot-go/kapot/internal/config"
	"github.com/kapot-go/kapot/internal/security"
)

func submitCmd() *cobra.Command {
	var sched, planFile, format string
	var timeout time.Duration
	var sec security.Config
	c := &cobra.Command{
		Use:   "submit",
		Short: "Submit a physical plan (protojson) and print its result rows",
		Long: `Submit a plan written as protojson (a kapot.v1.PhysicalPlanNode, or a
kapot.v1.SubmitJobRequest with a "plan" field). Relative file paths in scans are
resolved against the plan file's directory.`,
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
			req, err := client.LoadPlanFile(planFile)
			if err != nil {
				return fmt.Errorf("--plan: %v: %w", err, config.ErrInvalid)
			}
			// Ctrl-C or SIGTERM cancels the job, not just this process.
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			cl, err := dialScheduler(sched, sec)
			if err != nil {
				return err
			}
			defer cl.Close()
			start := time.Now()
			schema, batches, err := cl.Run(ctx, req)
			if err != nil {
				return err
			}
			defer func() {
				for _, b := range batches {
					b.Release()
				}
			}()
			if err := printResult(cmd.OutOrStdout(), format, schema, batches); err != nil {
				return err
			}
			if format == "table" {
				n := int64(0)
				for _, b := range batches {
					n += b.NumRows()
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%d row(s) in %s\n", n, time.Since(start).Round(time.Millisecond))
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&sched, "scheduler", "localhost:50050", "scheduler address host:port")
	f.StringVar(&planFile, "plan", "", "plan file (protojson)")
	f.StringVar(&format, "format", "table", "output format: table, csv or json")
	f.DurationVar(&timeout, "timeout", 10*time.Minute, "give up after this long")
	security.AddClientFlags(f, &sec)
	c.MarkFlagRequired("plan")
	return withFlagErrors(c)
}

func printResult(w io.Writer, format string, schema *arrow.Schema, batches []arrow.RecordBatch) error {
	names := make([]string, schema.NumFields())
	for i, f := range schema.Fields() {
		names[i] = f.Name
	}
	var rows [][]string
	for _, b := range batches {
		for r := 0; r < int(b.NumRows()); r++ {
			row := make([]string, b.NumCols())
			for c := range row {
				row[c] = engine.FormatValue(b.Column(c), r)
			}
			rows = append(rows, row)
		}
	}
	switch format {
	case "csv":
		cw := csv.NewWriter(w)
		cw.Write(names)
		cw.WriteAll(rows)
		return cw.Error()
	case "json":
		enc := json.NewEncoder(w)
		for _, row := range rows {
			obj := map[string]any{}
			for i, v := range row {
				if v == "NULL" && batchesNull(batches, i) {
					obj[names[i]] = nil
				} else {
					obj[names[i]] = v
				}
			}
			if err := enc.Encode(obj); err != nil {
				return err
			}
		}
		return nil
	}
	widths := make([]int, len(names))
	for i, n := range names {
		widths[i] = len(n)
	}
	for _, row := range rows {
		for i, v := range row {
			widths[i] = max(widths[i], len(v))
		}
	}
	sep := "+"
	for _, wd := range widths {
		sep += strings.Repeat("-", wd+2) + "+"
	}
	line := func(vals []string) {
		s := "|"
		for i, v := range vals {
			s += " " + v + strings.Repeat(" ", widths[i]-len(v)) + " |"
		}
		fmt.Fprintln(w, s)
	}
	fmt.Fprintln(w, sep)
	line(names)
	fmt.Fprintln(w, sep)
	for _, row := range rows {
		line(row)
	}
	fmt.Fprintln(w, sep)
	return nil
}

func batchesNull(batches []arrow.RecordBatch, col int) bool {
	for _, b := range batches {
		if b.Column(col).NullN() > 0 {
			return true
		}
	}
	return false
}
