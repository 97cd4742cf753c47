package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	"github.com/kapot-go/kapot/client"
)

func main() {
	sched := flag.String("scheduler", "127.0.0.1:50050", "scheduler address")
	dir := flag.String("tpch", "", "directory of TPC-H tables (kapot tpch gen)")
	query := flag.String("e", "SELECT r_name FROM region ORDER BY r_name", "the query")
	secret := flag.String("secret", os.Getenv("KAPOT_CLIENT_SECRET"), "cluster client secret, if the cluster uses one")
	flag.Parse()
	if err := run(*sched, *dir, *query, *secret); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(sched, dir, query, secret string) error {
	// Ctrl-C cancels the context, which cancels the job on the cluster.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var opts []client.Option
	if secret != "" {
		opts = append(opts, client.WithSecret(secret))
	}
	cl, err := client.Dial(sched, nil, opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	// The scheduler parses and plans the SQL over the cluster's shared
	// catalog; creating a table again with the same definition is a no-op.
	sess := cl.NewSession(nil)
	if dir != "" {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return err
		}
		for _, t := range []string{"customer", "lineitem", "nation", "orders", "part", "partsupp", "region", "supplier"} {
			loc := strings.ReplaceAll(filepath.Join(abs, t), "'", "''")
			if err := sess.Exec(ctx, fmt.Sprintf("CREATE EXTERNAL TABLE %s STORED AS PARQUET LOCATION '%s'", t, loc)); err != nil {
				return err
			}
		}
	}
	rows, err := sess.Query(ctx, query)
	if err != nil {
		return err
	}
	defer rows.Release()
	var names []string
	for _, f := range rows.Schema().Fields() {
		names = append(names, f.Name)
	}
	fmt.Println(strings.Join(names, "\t"))
	for rows.Next() {
		b := rows.RecordBatch()
		for r := 0; r < int(b.NumRows()); r++ {
			cells := make([]string, b.NumCols())
			for c := range cells {
				cells[c] = b.Column(c).ValueStr(r)
			}
			fmt.Println(strings.Join(cells, "\t"))
		}
	}
	return rows.Err()
}
