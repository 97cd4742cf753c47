package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/kapot-go/kapot/client"
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
	f.StringVar(&sched, "scheduler", "localhost:50050", "scheduler address host:port (or h1:p1,h2:p2: the leader of several)")
	f.StringVar(&planFile, "plan", "", "plan file (protojson)")
	f.StringVar(&format, "format", "table", "output format: table, csv or json")
	f.DurationVar(&timeout, "timeout", 10*time.Minute, "give up after this long")
	security.AddClientFlags(f, &sec)
	c.MarkFlagRequired("plan")
	return withFlagErrors(c)
}
