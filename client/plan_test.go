package client

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/kapot-go/kapot/wire"
)

// TestLoadPlanFilePaths: relative paths resolve against the plan file's
// directory; absolute paths and URLs stay as written.
func TestLoadPlanFilePaths(t *testing.T) {
	dir := t.TempDir()
	plan := filepath.Join(dir, "plan.json")
	os.WriteFile(plan, []byte(`{"parquetScan": {"fileGroups": [{"paths": [
		"data/a.parquet", "/abs/b.parquet", "s3://bucket/key/c.parquet", "https://example.com/d.parquet", "file:///e.parquet"]}]}}`), 0o644)
	req, err := LoadPlanFile(plan)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	wire.WalkFiles(req.GetPlan(), func(p *string) { got = append(got, *p) })
	want := []string{filepath.Join(dir, "data/a.parquet"), "/abs/b.parquet", "s3://bucket/key/c.parquet", "https://example.com/d.parquet", "file:///e.parquet"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}
