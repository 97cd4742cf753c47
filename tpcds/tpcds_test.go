package tpcds

import (
	"path/filepath"
	"strings"
	"testing"
)

// The loader finds the 99 queries beside the data, without their
// semicolons, and the 24 tables; the scale factor is read from the data.
func TestTPCDSQueries(t *testing.T) {
	dir, err := FindData()
	if err != nil {
		t.Skip(err)
	}
	if err := Check(dir); err != nil {
		t.Fatal(err)
	}
	qdir, err := FindQueries(dir)
	if err != nil {
		t.Fatal(err)
	}
	qs, err := Queries(qdir)
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) != 99 {
		t.Fatalf("%d queries, want 99", len(qs))
	}
	for i, q := range qs {
		if strings.HasSuffix(q, ";") || !strings.Contains(strings.ToLower(q), "select") {
			t.Fatalf("q%02d: %.60q…", i+1, q)
		}
	}
	if _, err := Query(qdir, 100); err == nil {
		t.Fatal("query 100: no error")
	}
	if filepath.Base(dir) == "sf0.1" {
		if sf, err := ScaleFactor(dir); err != nil || sf != 0.1 {
			t.Fatalf("scale factor of %s: %v, %v; want 0.1", dir, sf, err)
		}
	}
}
