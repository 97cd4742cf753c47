package warehouse

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/kapot-go/kapot/objstore"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// stage writes files under a write's staging directory as a task would.
func stage(t *testing.T, staging string, names ...string) []*kapotv1.WrittenFile {
	t.Helper()
	var out []*kapotv1.WrittenFile
	for i, n := range names {
		p := filepath.Join(staging, n)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(n), 0o644); err != nil {
			t.Fatal(err)
		}
		out = append(out, &kapotv1.WrittenFile{Path: p, Rows: int64(i + 1), Bytes: int64(len(n))})
	}
	return out
}

func TestManagedTableVersions(t *testing.T) {
	ctx := context.Background()
	w := &Warehouse{Root: t.TempDir(), Store: objstore.Default()}
	schema := arrow.NewSchema([]arrow.Field{{Name: "a", Type: arrow.PrimitiveTypes.Int32}, {Name: "b", Type: arrow.BinaryTypes.String, Nullable: true}}, nil)
	dir := w.NewTableDir("My Table")
	if !strings.HasPrefix(filepath.Base(dir), "my_table-") {
		t.Fatalf("table directory %s", dir)
	}
	m, err := w.Create(ctx, dir, "My Table", schema, "w1", stage(t, StagingDir(dir, "w1"), "part-0.parquet", "x=1/part-1.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Version != 1 || m.Rows != 3 || len(m.Files) != 2 || m.Files[1].Path != "data/w1/x=1/part-1.parquet" {
		t.Fatalf("first version %+v", m)
	}
	// A loser's file in staging is not committed, and the staging goes.
	files := stage(t, StagingDir(dir, "w2"), "a.parquet", "loser.parquet")
	m2, err := w.Append(ctx, dir, m, "w2", files[:1], false)
	if err != nil {
		t.Fatal(err)
	}
	if m2.Version != 2 || m2.Rows != 4 || len(m2.Files) != 3 {
		t.Fatalf("second version %+v", m2)
	}
	if _, err := os.Stat(StagingDir(dir, "w2")); !os.IsNotExist(err) {
		t.Fatalf("staging left: %v", err)
	}
	cur, err := w.Current(ctx, dir)
	if err != nil || cur.Version != 2 || !slices.Equal(cur.Locations(dir), m2.Locations(dir)) {
		t.Fatalf("current %+v, %v", cur, err)
	}
	got, err := cur.ArrowSchema()
	if err != nil || !got.Equal(schema) {
		t.Fatalf("schema %v, %v", got, err)
	}
	for _, loc := range cur.Locations(dir) {
		if _, err := os.Stat(loc); err != nil {
			t.Fatal(err)
		}
	}
	// Replace.
	m3, err := w.Append(ctx, dir, cur, "w3", stage(t, StagingDir(dir, "w3"), "only.parquet"), true)
	if err != nil || m3.Rows != 1 || len(m3.Files) != 1 {
		t.Fatalf("replace: %+v, %v", m3, err)
	}
	// A file outside the staging directory is refused.
	if _, err := w.Append(ctx, dir, m3, "w4", []*kapotv1.WrittenFile{{Path: filepath.Join(dir, "_manifest", "v00000001.json")}}, false); err == nil {
		t.Fatal("a file outside the staging directory was committed")
	}
	if err := w.Drop(ctx, dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("drop left %s", dir)
	}
}

func TestUnder(t *testing.T) {
	for _, c := range []struct {
		staging, file, rel string
	}{
		{"/w/t/_staging/x", "/w/t/_staging/x/a.parquet", "a.parquet"},
		{"/w/t/_staging/x", "/w/t/_staging/x/k=1/a.parquet", "k=1/a.parquet"},
		{"s3://b/t/_staging/x", "s3://b/t/_staging/x/a.parquet", "a.parquet"},
		{"/w/t/_staging/x", "/w/t/_staging/x/../../../etc/passwd", ""},
		{"/w/t/_staging/x", "/w/t/_staging/xy/a.parquet", ""},
		{"/w/t/_staging/x", "/elsewhere/a.parquet", ""},
		{"/w/t/_staging/x", "/w/t/_staging/x//a", ""},
	} {
		rel, err := Under(c.staging, c.file)
		if (err == nil) != (c.rel != "") || rel != c.rel {
			t.Errorf("Under(%q, %q) = %q, %v; want %q", c.staging, c.file, rel, err, c.rel)
		}
	}
}

func TestCopyCommit(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	reg := objstore.Default()
	target := filepath.Join(root, "out")
	staging := CopyStaging(target, "w1")
	if staging != filepath.Join(root, ".kapot-staging-w1") {
		t.Fatalf("staging %s", staging)
	}
	if err := CheckCopyTarget(ctx, reg, nil, target, false, false); err != nil {
		t.Fatal(err)
	}
	files := stage(t, staging, "m=a/p0.parquet", "m=b/p0.parquet", "loser.parquet")
	if err := CommitCopy(ctx, reg, nil, target, staging, files[:2], false, false); err != nil {
		t.Fatal(err)
	}
	all, _ := (objstore.Local{}).ListAll(ctx, target)
	if len(all) != 2 || !strings.HasSuffix(all[0], "out/m=a/p0.parquet") {
		t.Fatalf("committed %q", all)
	}
	if _, err := os.Stat(staging); !os.IsNotExist(err) {
		t.Fatal("staging left")
	}
	if err := CheckCopyTarget(ctx, reg, nil, target, false, false); err == nil {
		t.Fatal("a full directory accepted without OVERWRITE")
	}
	if err := CheckCopyTarget(ctx, reg, nil, target, false, true); err != nil {
		t.Fatalf("OVERWRITE of a directory of data files: %v", err)
	}
	// OVERWRITE never empties a directory with other files in it.
	os.WriteFile(filepath.Join(root, "notes.txt"), []byte("mine"), 0o644)
	if err := CheckCopyTarget(ctx, reg, nil, root, false, true); err == nil {
		t.Fatal("OVERWRITE accepted over a directory holding notes.txt")
	}
	st3 := CopyStaging(root, "w3")
	if err := CommitCopy(ctx, reg, nil, root, st3, stage(t, st3, "x.parquet"), false, true); err == nil {
		t.Fatal("CommitCopy with OVERWRITE emptied a directory holding notes.txt")
	}
	if _, err := os.Stat(filepath.Join(root, "notes.txt")); err != nil {
		t.Fatalf("notes.txt: %v", err)
	}
	// One file, over an existing one.
	one := filepath.Join(root, "one.parquet")
	os.WriteFile(one, []byte("old"), 0o644)
	st2 := CopyStaging(one, "w2")
	if err := CommitCopy(ctx, reg, nil, one, st2, stage(t, st2, "part.parquet"), true, false); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(one); string(b) != "part.parquet" {
		t.Fatalf("one file holds %q", b)
	}
}

func TestDecodeManifest(t *testing.T) {
	good := `{"format":1,"table":"t","version":3,"schema":{"fields":[{"name":"a","type":{"id":"TYPE_ID_INT64"},"nullable":true}]},"files":[{"path":"data/w/a.parquet","rows":2,"bytes":9}],"rows":2}`
	if _, err := DecodeManifest([]byte(good)); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{
		``, `{}`, `{"format":2,"version":1}`,
		strings.Replace(good, `"rows":2}`, `"rows":3}`, 1),
		strings.Replace(good, `data/w/a.parquet`, `../../etc/passwd`, 1),
		strings.Replace(good, `data/w/a.parquet`, `/etc/passwd`, 1),
		strings.Replace(good, `"version":3`, `"version":0`, 1),
		strings.Replace(good, `TYPE_ID_INT64`, `TYPE_ID_NOPE`, 1),
	} {
		if _, err := DecodeManifest([]byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

// FuzzDecodeManifest: manifests are read back from storage anyone with
// access to the warehouse may change: no input crashes the decoder, and
// what it accepts names only clean relative paths.
func FuzzDecodeManifest(f *testing.F) {
	f.Add([]byte(`{"format":1,"table":"t","version":3,"schema":{"fields":[{"name":"a","type":{"id":"TYPE_ID_INT64"},"nullable":true}]},"files":[{"path":"data/w/a.parquet","rows":2,"bytes":9}],"rows":2}`))
	f.Add([]byte(`{"format":1,"version":1,"schema":{},"files":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeManifest(data)
		if err != nil {
			return
		}
		for _, f := range m.Files {
			if !cleanRel(f.Path) {
				t.Fatalf("accepted path %q", f.Path)
			}
		}
		if _, err := json.Marshal(m); err != nil {
			t.Fatal(err)
		}
	})
}
