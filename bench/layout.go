package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/kapot-go/kapot/internal/config"
	"github.com/kapot-go/kapot/tpch"
)

// The layouts of `kapot tpch bench --layout`: how the TPC-H tables lie in
// files. Both engines read the same files.
const (
	layoutOneFile    = "one-file"    // one file per table (kapot tpch gen's default)
	layoutFiles      = "files"       // files=N: N files per table, as kapot tpch gen --partitions N
	layoutUnsorted   = "unsorted"    // rows shuffled; one file per table, or unsorted,files=N
	layoutSmallFiles = "small-files" // hundreds of small files per large table
)

// LayoutOneFile is the default layout: one file per table.
const LayoutOneFile = layoutOneFile

// smallFiles is the number of files per large table of the small-files
// layout (fewer when a table has fewer generator rows).
const smallFiles = 200

// shuffleSeed fixes the permutation of the unsorted layout.
const shuffleSeed = 39

// smallFilesTables are the tables the small-files layout splits: those of
// at least 150,000 rows at SF 1 (supplier, nation and region stay whole).
var smallFilesTables = []string{"customer", "part", "partsupp", "orders", "lineitem"}

// benchLayout is a parsed --layout.
type benchLayout struct {
	kind  string // one of the layout* constants
	files int    // files per table (files, unsorted)
}

// parseLayout reads one-file, files=N, unsorted, unsorted,files=N or
// small-files (files=1 is one-file).
func parseLayout(s string) (benchLayout, error) {
	s = strings.TrimSpace(s)
	l := benchLayout{kind: s, files: 1}
	n, counted := "", false
	if rest, ok := strings.CutPrefix(s, layoutUnsorted+","); ok {
		l.kind = layoutUnsorted
		if n, counted = strings.CutPrefix(rest, layoutFiles+"="); !counted {
			n, counted = "", true // an option other than files=N
		}
	} else if n, counted = strings.CutPrefix(s, layoutFiles+"="); counted {
		l.kind = layoutFiles
	}
	switch {
	case l.kind != layoutOneFile && l.kind != layoutFiles && l.kind != layoutUnsorted && l.kind != layoutSmallFiles:
		return benchLayout{}, fmt.Errorf("--layout %q: want one-file, files=N, unsorted, unsorted,files=N or small-files: %w", s, config.ErrInvalid)
	case counted:
		v, err := strconv.Atoi(n)
		if err != nil || v < 1 {
			return benchLayout{}, fmt.Errorf("--layout %q: want files=N with N a positive number: %w", s, config.ErrInvalid)
		}
		l.files = v
	}
	if l.kind == layoutFiles && l.files == 1 {
		l.kind = layoutOneFile
	}
	return l, nil
}

// String is the layout as --layout spells it (canonical).
func (l benchLayout) String() string {
	switch {
	case l.kind == layoutFiles:
		return fmt.Sprintf("files=%d", l.files)
	case l.kind == layoutUnsorted && l.files > 1:
		return fmt.Sprintf("unsorted,files=%d", l.files)
	}
	return l.kind
}

// dirName is the layout's directory under --data.
func (l benchLayout) dirName() string {
	return strings.NewReplacer("=", "-", ",", "-").Replace(l.String())
}

// describe says in words what the files are.
func (l benchLayout) describe() string {
	switch l.kind {
	case layoutOneFile:
		return "one file per table, rows in key order as generated"
	case layoutFiles:
		return fmt.Sprintf("%d files per table (region, nation: 1), rows in key order as generated", l.files)
	case layoutUnsorted:
		per := "one file per table"
		if l.files > 1 {
			per = fmt.Sprintf("%d files per table (region, nation: 1)", l.files)
		}
		return fmt.Sprintf("%s, rows in a random order (seed %d): no column sorted", per, shuffleSeed)
	case layoutSmallFiles:
		return fmt.Sprintf("up to %d small files for each of %s, one for the others; rows in key order", smallFiles, strings.Join(smallFilesTables, ", "))
	}
	return l.kind
}

// layoutMarker is <data>/<layout>/layout.json: what was generated there.
type layoutMarker struct {
	Layout string         `json:"layout"`
	SF     float64        `json:"sf"`
	Seed   uint64         `json:"seed,omitempty"`
	Files  map[string]int `json:"files_per_table"`
}

// prepareLayout returns the directory of base's data in layout l at scale
// factor sf, generating it when missing (into a partial directory renamed
// when complete, so an interrupted run leaves nothing that looks whole),
// and the files per table found there.
func prepareLayout(ctx context.Context, w io.Writer, base string, sf float64, l benchLayout) (string, map[string]int, error) {
	dir := filepath.Join(base, l.dirName())
	if _, err := os.Stat(dir); err == nil {
		if b, err := os.ReadFile(filepath.Join(dir, "layout.json")); err == nil {
			var m layoutMarker
			if err := json.Unmarshal(b, &m); err != nil {
				return "", nil, fmt.Errorf("%s: %w", filepath.Join(dir, "layout.json"), err)
			}
			if m.SF != sf {
				return "", nil, fmt.Errorf("%s holds TPC-H SF %g, not %g: give another --data (or remove it): %w", dir, m.SF, sf, config.ErrInvalid)
			}
		}
		files, err := countFiles(dir)
		return dir, files, err
	}
	partial := filepath.Join(base, "."+l.dirName()+".partial")
	if err := os.RemoveAll(partial); err != nil {
		return "", nil, err
	}
	defer os.RemoveAll(partial)
	fmt.Fprintf(w, "generating TPC-H SF %g, layout %s, into %s\n", sf, l, dir)
	if err := generateLayout(ctx, partial, sf, l); err != nil {
		return "", nil, err
	}
	files, err := countFiles(partial)
	if err != nil {
		return "", nil, err
	}
	m := layoutMarker{Layout: l.String(), SF: sf, Files: files}
	if l.kind == layoutUnsorted {
		m.Seed = shuffleSeed
	}
	b, _ := json.MarshalIndent(m, "", "  ")
	if err := os.WriteFile(filepath.Join(partial, "layout.json"), append(b, '\n'), 0o644); err != nil {
		return "", nil, err
	}
	if err := os.Rename(partial, dir); err != nil {
		return "", nil, err
	}
	return dir, files, nil
}

// generateLayout writes the tables in layout l into dir.
func generateLayout(ctx context.Context, dir string, sf float64, l benchLayout) error {
	switch l.kind {
	case layoutOneFile, layoutFiles:
		return tpch.Generate(ctx, tpch.Options{SF: sf, Dir: dir, Format: "parquet", Partitions: l.files})
	case layoutUnsorted:
		sorted := dir + ".sorted"
		if err := os.RemoveAll(sorted); err != nil {
			return err
		}
		defer os.RemoveAll(sorted)
		if err := tpch.Generate(ctx, tpch.Options{SF: sf, Dir: sorted, Format: "parquet", Partitions: l.files}); err != nil {
			return err
		}
		return tpch.Shuffle(ctx, sorted, dir, tpch.ShuffleOptions{Seed: shuffleSeed})
	case layoutSmallFiles:
		split := map[string]bool{}
		for _, t := range smallFilesTables {
			split[t] = true
		}
		for _, t := range tpch.Tables {
			parts := 1
			if split[t] {
				parts = min(smallFiles, int(generatorRows(t, sf)))
			}
			if err := tpch.Generate(ctx, tpch.Options{SF: sf, Dir: dir, Format: "parquet", Partitions: parts, Tables: []string{t}}); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("layout %q: %w", l.kind, config.ErrInvalid)
}

// generatorRows is how many generator rows tpch.Generate splits among a
// table's files (lineitem and partsupp are made per order and per part).
func generatorRows(table string, sf float64) int64 {
	switch table {
	case "lineitem":
		return tpch.Rows("orders", sf)
	case "partsupp":
		return tpch.Rows("part", sf)
	}
	return tpch.Rows(table, sf)
}

// countFiles counts the Parquet files of each TPC-H table under dir.
func countFiles(dir string) (map[string]int, error) {
	out := map[string]int{}
	for _, t := range tpch.Tables {
		files, err := tpch.Files(dir, t)
		if err != nil {
			return nil, err
		}
		out[t] = len(files)
	}
	return out, nil
}
