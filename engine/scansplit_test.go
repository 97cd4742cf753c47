package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// TestParquetKeyRangeSplit: a file group with a key range yields exactly
// the file's rows whose key lies in the range, whether the key is
// projected or not, reads only the row groups the range overlaps when the
// file is sorted by the key, and filters row by row (nulls in no range)
// when it is not.
func TestParquetKeyRangeSplit(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "k", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "v", Type: arrow.BinaryTypes.String},
	}, nil)
	dir := t.TempDir()
	type row struct {
		k *int64
		v string
	}
	write := func(name string, key func(i int) (int32, bool)) (string, []row) {
		bld := array.NewRecordBuilder(memory.NewGoAllocator(), schema)
		defer bld.Release()
		var rows []row
		for i := range 1000 {
			k, ok := key(i)
			r := row{v: fmt.Sprintf("v%d", i)}
			if ok {
				bld.Field(0).(*array.Int32Builder).Append(k)
				kk := int64(k)
				r.k = &kk
			} else {
				bld.Field(0).AppendNull()
			}
			bld.Field(1).(*array.StringBuilder).Append(r.v)
			rows = append(rows, r)
		}
		rec := bld.NewRecordBatch()
		defer rec.Release()
		path := filepath.Join(dir, name)
		writeParquet(t, path, rec, parquet.WithMaxRowGroupLength(100))
		return path, rows
	}
	sorted, sortedRows := write("sorted.parquet", func(i int) (int32, bool) { return int32(2 * i), true })
	mixed, mixedRows := write("mixed.parquet", func(i int) (int32, bool) { return int32((i * 7919) % 1000), i%13 != 4 })

	cases := []struct {
		name   string
		path   string
		rows   []row
		lo, hi int64
		read   int64 // row groups read; -1: not checked
	}{
		{"sorted, first", sorted, sortedRows, -5, 499, 3},
		{"sorted, middle, row group bounds", sorted, sortedRows, 500, 999, 3},
		{"sorted, last", sorted, sortedRows, 1000, 2100, 5},
		{"sorted, beyond", sorted, sortedRows, 3000, 4000, 0},
		{"sorted, empty range", sorted, sortedRows, 10, 5, 0},
		{"sorted, one row", sorted, sortedRows, 1234, 1234, 1},
		{"unsorted with nulls", mixed, mixedRows, 100, 449, -1},
		{"unsorted, all", mixed, mixedRows, -1 << 40, 1 << 40, -1},
	}
	for _, c := range cases {
		for _, proj := range [][]string{{"v"}, {"v", "k"}, nil} {
			t.Run(fmt.Sprintf("%s/%v", c.name, proj), func(t *testing.T) {
				var want []string
				for _, r := range c.rows {
					if r.k == nil || *r.k < c.lo || *r.k > c.hi {
						continue
					}
					switch {
					case proj == nil:
						want = append(want, fmt.Sprintf("%d|%s", *r.k, r.v))
					case len(proj) == 2:
						want = append(want, fmt.Sprintf("%s|%d", r.v, *r.k))
					default:
						want = append(want, r.v)
					}
				}
				n := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_ParquetScan{ParquetScan: &kapotv1.ParquetScanNode{
					Projection: proj,
					FileGroups: []*kapotv1.FileGroup{{Paths: []string{c.path}, RangeColumn: "k", Range: &kapotv1.KeyRange{Lo: c.lo, Hi: c.hi}}}}}}
				for _, batch := range []int{7, 1000} {
					tc, _ := newTC(t)
					tc.BatchSize = batch
					tc.Metrics = &Metrics{}
					if got := runOrdered(t, n, tc); !slices.Equal(got, want) {
						t.Fatalf("batch %d: got %d rows %q, want %d rows %q", batch, len(got), head(got), len(want), head(want))
					}
					if c.read >= 0 {
						var read int64
						for _, m := range tc.Metrics.Snapshot() {
							read += m.Counters["row_groups_read"]
						}
						if read != c.read {
							t.Errorf("batch %d: read %d row groups, want %d", batch, read, c.read)
						}
					}
				}
			})
		}
	}

	// Ranges that split a file partition its rows (none with a null key).
	var parts [][]string
	groups := []*kapotv1.FileGroup{}
	for _, r := range [][2]int64{{0, 249}, {250, 499}, {500, 999}} {
		groups = append(groups, &kapotv1.FileGroup{Paths: []string{mixed}, RangeColumn: "k", Range: &kapotv1.KeyRange{Lo: r[0], Hi: r[1]}})
	}
	p, err := FromProto(&kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_ParquetScan{ParquetScan: &kapotv1.ParquetScanNode{Projection: []string{"v"}, FileGroups: groups}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.(fmt.Stringer).String(); got != "ParquetScan(files=1, partitions=3, split by k)" {
		t.Errorf("String() = %q", got)
	}
	var all []string
	for i := range 3 {
		rows := runPartition(t, p, i)
		parts = append(parts, rows)
		all = append(all, rows...)
	}
	var want []string
	for _, r := range mixedRows {
		if r.k != nil {
			want = append(want, r.v)
		}
	}
	slices.Sort(all)
	slices.Sort(want)
	if !slices.Equal(all, want) || len(parts[0]) == 0 || len(parts[2]) == 0 {
		t.Errorf("the three ranges hold %d/%d/%d rows, together %d; want %d without nulls", len(parts[0]), len(parts[1]), len(parts[2]), len(all), len(want))
	}
}

// TestKeyRangeRefused: key ranges that cannot be honoured are plan errors,
// not wrong answers.
func TestKeyRangeRefused(t *testing.T) {
	dir := t.TempDir()
	schema := arrow.NewSchema([]arrow.Field{{Name: "k", Type: arrow.PrimitiveTypes.Int64}, {Name: "s", Type: arrow.BinaryTypes.String}}, nil)
	bld := array.NewRecordBuilder(memory.NewGoAllocator(), schema)
	bld.Field(0).(*array.Int64Builder).Append(1)
	bld.Field(1).(*array.StringBuilder).Append("a")
	rec := bld.NewRecordBatch()
	bld.Release()
	path := filepath.Join(dir, "t.parquet")
	writeParquet(t, path, rec)
	rec.Release()
	rng := &kapotv1.KeyRange{Lo: 0, Hi: 5}
	cases := []struct {
		name string
		node *kapotv1.PhysicalPlanNode
		want string
	}{
		{"string key", &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_ParquetScan{ParquetScan: &kapotv1.ParquetScanNode{
			FileGroups: []*kapotv1.FileGroup{{Paths: []string{path}, RangeColumn: "s", Range: rng}}}}}, "not a signed integer"},
		{"missing key", &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_ParquetScan{ParquetScan: &kapotv1.ParquetScanNode{
			FileGroups: []*kapotv1.FileGroup{{Paths: []string{path}, RangeColumn: "nope", Range: rng}}}}}, "not a column"},
		{"no range", &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_ParquetScan{ParquetScan: &kapotv1.ParquetScanNode{
			FileGroups: []*kapotv1.FileGroup{{Paths: []string{path}, RangeColumn: "k"}}}}}, "without a range"},
		{"CSV", &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_CsvScan{CsvScan: &kapotv1.CsvScanNode{
			InferSchema: true,
			FileGroups:  []*kapotv1.FileGroup{{Paths: []string{path}, RangeColumn: "k", Range: rng}}}}}, "key range"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := FromProto(c.node)
			if err == nil {
				tc, _ := newTC(t)
				var bs []arrow.RecordBatch
				bs, err = ExecuteCollect(context.Background(), p, tc)
				for _, b := range bs {
					b.Release()
				}
			}
			if err == nil || !errors.Is(err, ErrInvalidPlan) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want an invalid plan saying %q", err, c.want)
			}
		})
	}
}

// TestKeyRangeSplitConverts: a split that reads edge and inner row groups
// with readers of their own converts the columns the Parquet reader
// decodes as integers (decimals, dates) in both.
func TestKeyRangeSplitConverts(t *testing.T) {
	dec := &arrow.Decimal128Type{Precision: 9, Scale: 2}
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "k", Type: arrow.PrimitiveTypes.Int64},
		{Name: "p", Type: dec},
		{Name: "d", Type: arrow.FixedWidthTypes.Date32},
	}, nil)
	bld := array.NewRecordBuilder(memory.NewGoAllocator(), schema)
	for i := range 1000 {
		bld.Field(0).(*array.Int64Builder).Append(int64(i))
		bld.Field(1).(*array.Decimal128Builder).Append(decimal128.FromI64(int64(i)))
		bld.Field(2).(*array.Date32Builder).Append(arrow.Date32(i))
	}
	rec := bld.NewRecordBatch()
	bld.Release()
	path := filepath.Join(t.TempDir(), "t.parquet")
	writeParquet(t, path, rec, parquet.WithMaxRowGroupLength(100))
	rec.Release()
	n := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_ParquetScan{ParquetScan: &kapotv1.ParquetScanNode{
		Projection: []string{"p", "d"},
		FileGroups: []*kapotv1.FileGroup{{Paths: []string{path}, RangeColumn: "k", Range: &kapotv1.KeyRange{Lo: 150, Hi: 649}}}}}}
	tc, _ := newTC(t)
	tc.BatchSize = 64
	got := runOrdered(t, n, tc)
	if len(got) != 500 || got[0] != "1.50|1970-05-31" || got[499] != "6.49|1971-10-12" {
		t.Errorf("%d rows, first %q, last %q", len(got), got[0], got[len(got)-1])
	}
}

// TestParquetRowGroupShares: the shares of a file's row groups partition
// its rows, interleaved (each row group to the share holding the fewest
// rows so far), cut by rows (a file of uneven row groups) and not by
// row-group counts; more shares than row groups leave some empty; a share
// out of range, or one asked of a CSV scan, is a plan error.
func TestParquetRowGroupShares(t *testing.T) {
	dir := t.TempDir()
	schema := arrow.NewSchema([]arrow.Field{{Name: "k", Type: arrow.PrimitiveTypes.Int64}}, nil)
	write := func(name string, sizes []int) string {
		path := filepath.Join(dir, name)
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		w, err := pqarrow.NewFileWriter(schema, f, parquet.NewWriterProperties(), pqarrow.DefaultWriterProps())
		if err != nil {
			t.Fatal(err)
		}
		k := int64(0)
		for _, n := range sizes { // a Write of n rows is one row group
			bld := array.NewInt64Builder(memory.NewGoAllocator())
			for range n {
				bld.Append(k)
				k++
			}
			col := bld.NewArray()
			rec := array.NewRecordBatch(schema, []arrow.Array{col}, int64(n))
			if err := w.Write(rec); err != nil {
				t.Fatal(err)
			}
			rec.Release()
			col.Release()
			bld.Release()
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return path
	}
	even := write("even.parquet", slices.Repeat([]int{100}, 10))
	uneven := write("uneven.parquet", []int{10, 400, 20, 20, 50, 300, 100, 100})
	scan := func(path string, shares int) ExecutionPlan {
		var groups []*kapotv1.FileGroup
		for i := range shares {
			groups = append(groups, &kapotv1.FileGroup{Paths: []string{path}, RowGroupShare: int32(i), RowGroupShares: int32(shares)})
		}
		p, err := FromProto(&kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_ParquetScan{ParquetScan: &kapotv1.ParquetScanNode{FileGroups: groups}}})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	// Rows per share, exactly: each row group, in order, to the share
	// holding the fewest rows so far.
	cases := []struct {
		path   string
		shares int
		rows   []int
	}{
		{even, 1, []int{1000}},
		{even, 2, []int{500, 500}},
		{even, 3, []int{400, 300, 300}},
		{even, 4, []int{300, 300, 200, 200}},
		{even, 10, slices.Repeat([]int{100}, 10)},
		{even, 13, append(slices.Repeat([]int{100}, 10), 0, 0, 0)},
		{uneven, 2, []int{500, 500}},
		{uneven, 3, []int{330, 400, 270}}, // round robin: 410, 400, 190
		{uneven, 5, []int{310, 400, 120, 120, 50}},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s/%d", filepath.Base(c.path), c.shares), func(t *testing.T) {
			p := scan(c.path, c.shares)
			if c.shares > 1 {
				if got, want := p.(fmt.Stringer).String(), fmt.Sprintf("ParquetScan(files=1, partitions=%d, split by row groups)", c.shares); got != want {
					t.Errorf("String() = %q, want %q", got, want)
				}
			}
			seen := make([]bool, 1000)
			for i := range c.shares {
				rows := runPartition(t, p, i)
				if len(rows) != c.rows[i] {
					t.Errorf("share %d: %d rows, want %d", i, len(rows), c.rows[i])
				}
				last := -1
				for _, r := range rows { // in file order, each row once
					k, err := strconv.Atoi(r)
					if err != nil || k <= last || k >= len(seen) || seen[k] {
						t.Fatalf("share %d: row %s after %d (read before: %v)", i, r, last, err == nil && k >= 0 && k < len(seen) && seen[k])
					}
					seen[k], last = true, k
				}
			}
			if n := slices.Index(seen, false); n >= 0 {
				t.Errorf("row %d in no share", n)
			}
		})
	}

	for _, g := range []*kapotv1.FileGroup{
		{Paths: []string{even}, RowGroupShare: 2, RowGroupShares: 2},
		{Paths: []string{even}, RowGroupShare: -1, RowGroupShares: 2},
		{Paths: []string{even}, RowGroupShare: 1},
		{Paths: []string{even}, RowGroupShare: 0, RowGroupShares: maxRowGroupShares + 1},
	} {
		_, err := FromProto(&kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_ParquetScan{ParquetScan: &kapotv1.ParquetScanNode{FileGroups: []*kapotv1.FileGroup{g}}}})
		if !errors.Is(err, ErrInvalidPlan) || !strings.Contains(err.Error(), "row group share") {
			t.Errorf("share %d of %d: err = %v, want an invalid plan", g.RowGroupShare, g.RowGroupShares, err)
		}
	}
	_, err := FromProto(&kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_CsvScan{CsvScan: &kapotv1.CsvScanNode{InferSchema: true,
		FileGroups: []*kapotv1.FileGroup{{Paths: []string{even}, RowGroupShare: 0, RowGroupShares: 2}}}}})
	if !errors.Is(err, ErrInvalidPlan) || !strings.Contains(err.Error(), "share of row groups") {
		t.Errorf("CSV with a share: err = %v, want an invalid plan", err)
	}
}
