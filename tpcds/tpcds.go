package tpcds

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/apache/arrow-go/v18/parquet/file"
)

// Tables are the 24 TPC-DS tables, each a directory <table>/ of Parquet
// files under a data directory.
var Tables = []string{
	"call_center", "catalog_page", "catalog_returns", "catalog_sales", "customer", "customer_address",
	"customer_demographics", "date_dim", "household_demographics", "income_band", "inventory", "item",
	"promotion", "reason", "ship_mode", "store", "store_returns", "store_sales", "time_dim", "warehouse",
	"web_page", "web_returns", "web_sales", "web_site",
}

// QueryCount is the number of TPC-DS queries.
const QueryCount = 99

// EnvDir names the environment variable that points at a TPC-DS data
// directory (what FindData returns when it is set).
const EnvDir = "KAPOT_TPCDS_DIR"

// storeSalesSF1 is store_sales' row count at scale factor 1.
const storeSalesSF1 = 2_880_404

// Query returns the text of query n (1..99) from dir/qNN.sql, without its
// trailing semicolon.
func Query(dir string, n int) (string, error) {
	if n < 1 || n > QueryCount {
		return "", fmt.Errorf("tpcds: no query %d (want 1..%d)", n, QueryCount)
	}
	b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("q%02d.sql", n)))
	if err != nil {
		return "", fmt.Errorf("tpcds: query %d: %w", n, err)
	}
	return strings.TrimSuffix(strings.TrimSpace(string(b)), ";"), nil
}

// Queries returns the 99 queries of dir in order; a missing one is an error.
func Queries(dir string) ([]string, error) {
	out := make([]string, 0, QueryCount)
	for n := 1; n <= QueryCount; n++ {
		q, err := Query(dir, n)
		if err != nil {
			return nil, err
		}
		out = append(out, q)
	}
	return out, nil
}

// Check reports the tables missing from a data directory (none: nil).
func Check(dir string) error {
	var missing []string
	for _, t := range Tables {
		if m, _ := filepath.Glob(filepath.Join(dir, t, "*.parquet")); len(m) == 0 {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("tpcds: %s lacks %d of the %d tables (%s): make them with shared/tpcds/gen.sh SF DIR",
			dir, len(missing), len(Tables), strings.Join(missing, ", "))
	}
	return nil
}

// ScaleFactor infers the scale factor of a data directory from
// store_sales' row count (2,880,404 at SF 1), rounded to two significant
// digits.
func ScaleFactor(dir string) (float64, error) {
	files, err := filepath.Glob(filepath.Join(dir, "store_sales", "*.parquet"))
	if err != nil || len(files) == 0 {
		return 0, fmt.Errorf("tpcds: no store_sales files under %s", dir)
	}
	var rows int64
	for _, f := range files {
		r, err := file.OpenParquetFile(f, false)
		if err != nil {
			return 0, fmt.Errorf("tpcds: %w", err)
		}
		rows += r.NumRows()
		r.Close()
	}
	sf := float64(rows) / storeSalesSF1
	if sf <= 0 {
		return 0, fmt.Errorf("tpcds: store_sales under %s is empty", dir)
	}
	scale := math.Pow(10, math.Floor(math.Log10(sf))-1)
	return math.Round(sf/scale) * scale, nil
}

// FindData returns the TPC-DS data directory to use when none is given:
// $KAPOT_TPCDS_DIR, else shared/tpcds/sf0.1 in the working directory or
// the nearest of its parents that has one (the workspace keeps shared/
// beside the repository), else the same from this program's directory.
func FindData() (string, error) {
	if d := os.Getenv(EnvDir); d != "" {
		return d, nil
	}
	if d, ok := findUp(filepath.Join("shared", "tpcds", "sf0.1")); ok {
		return d, nil
	}
	return "", fmt.Errorf("tpcds: no TPC-DS data: give a directory (or set %s); shared/tpcds/gen.sh SF DIR makes one", EnvDir)
}

// FindQueries returns the directory of q01.sql … q99.sql for a data
// directory: queries/ beside or inside it (as shared/tpcds lays them out),
// else shared/tpcds/queries found as FindData finds shared/tpcds/sf0.1
// (data made by gen.sh elsewhere uses the same queries).
func FindQueries(dataDir string) (string, error) {
	for _, c := range []string{filepath.Join(dataDir, "..", "queries"), filepath.Join(dataDir, "queries")} {
		if _, err := os.Stat(filepath.Join(c, "q01.sql")); err == nil {
			return filepath.Clean(c), nil
		}
	}
	if d, ok := findUp(filepath.Join("shared", "tpcds", "queries")); ok {
		return d, nil
	}
	return "", fmt.Errorf("tpcds: no queries (q01.sql … q99.sql) beside %s or in shared/tpcds/queries", dataDir)
}

// findUp looks for rel under the working directory and each of its
// parents, nearest first, then under the directory of this program and its
// parents (bin/kapot-bench run from elsewhere still finds the workspace).
func findUp(rel string) (string, bool) {
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if exe, err := os.Executable(); err == nil {
		starts = append(starts, filepath.Dir(exe))
	}
	for _, dir := range starts {
		for {
			c := filepath.Join(dir, rel)
			if st, err := os.Stat(c); err == nil && st.IsDir() {
				return c, true
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	return "", false
}
