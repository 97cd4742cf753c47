package catalog

import (
	"context"
	"slices"
	"testing"

	"github.com/kapot-go/kapot/internal/testkit/nestedfiles"
)

// TestParquetNestedColumns: a Parquet file with LIST, LIST<LIST>, STRUCT
// and MAP columns is described from its footer, the types named as DuckDB
// names them.
func TestParquetNestedColumns(t *testing.T) {
	path, err := nestedfiles.ArrowFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c := New()
	tb, err := c.ParquetTable(context.Background(), "g", []string{path})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Register(tb); err != nil {
		t.Fatal(err)
	}
	rows, err := c.Describe("g")
	if err != nil {
		t.Fatal(err)
	}
	want := [][3]string{
		{"k", "BIGINT", "false"},
		{"ll", "BIGINT[][]", "true"},
		{"st", "STRUCT(x DOUBLE, y VARCHAR[], z DATE)", "true"},
		{"mm", "MAP(BIGINT, VARCHAR)", "true"},
	}
	if !slices.Equal(rows, want) || tb.Rows != 5 {
		t.Fatalf("got %q (%d rows), want %q (5 rows)", rows, tb.Rows, want)
	}
}
