package objstore_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/kapot-go/kapot/objstore"
)

// symlinkTree is a data root with links in it, and a directory outside it.
type symlinkTree struct {
	root, outside string
}

// newSymlinkTree makes root/in (a directory), and the links
//
//	root/out      -> outside            (out of the root)
//	root/inlink   -> root/in            (inside to inside)
//	root/dangling -> outside/missing    (dangling, out of the root)
//	root/danglin  -> root/in/missing    (dangling, inside)
//	root/in/up    -> ..                 (relative, back to the root)
//	root/climb    -> in/../../<outside> (.. after a directory: out)
//	root/chain    -> inlink/up/out      (links through links: out)
func newSymlinkTree(t *testing.T) symlinkTree {
	t.Helper()
	tr := symlinkTree{root: t.TempDir(), outside: t.TempDir()}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Mkdir(filepath.Join(tr.root, "in"), 0o755))
	must(os.Symlink(tr.outside, filepath.Join(tr.root, "out")))
	must(os.Symlink(filepath.Join(tr.root, "in"), filepath.Join(tr.root, "inlink")))
	must(os.Symlink(filepath.Join(tr.outside, "missing"), filepath.Join(tr.root, "dangling")))
	must(os.Symlink(filepath.Join(tr.root, "in", "missing"), filepath.Join(tr.root, "danglin")))
	must(os.Symlink("..", filepath.Join(tr.root, "in", "up")))
	must(os.Symlink(filepath.Join("in", "..", "..", filepath.Base(tr.outside)), filepath.Join(tr.root, "climb")))
	must(os.Symlink(filepath.Join("inlink", "up", "out"), filepath.Join(tr.root, "chain")))
	return tr
}

// entries lists every name under dir (recursively).
func entries(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, _ os.DirEntry, err error) error {
		if p != dir {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// TestWriteSymlinkEscape: a write into a data root is resolved component by
// component before anything is created; a link that leads out of the roots
// (at any depth, dangling, through other links or a ..) is refused and
// nothing appears outside, while links that stay inside work.
func TestWriteSymlinkEscape(t *testing.T) {
	tr := newSymlinkTree(t)
	reg := objstore.Default()
	if err := reg.AllowRoots([]string{tr.root}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r := tr.root
	for _, tc := range []struct {
		loc  string
		want string // where the file lands; "" refused
		// osFails: allowed, but the OS refuses to create a directory
		// where a dangling link is.
		osFails bool
	}{
		{loc: filepath.Join(r, "w.csv"), want: filepath.Join(r, "w.csv")},
		{loc: filepath.Join(r, "out", "w.csv"), want: ""},
		{loc: filepath.Join(r, "out", "new", "deeper", "w.csv"), want: ""},
		{loc: "file://" + filepath.Join(r, "out", "w2.csv"), want: ""},
		{loc: filepath.Join(r, "dangling", "w.csv"), want: ""},
		{loc: filepath.Join(r, "dangling"), want: ""},
		{loc: filepath.Join(r, "climb", "w.csv"), want: ""},
		{loc: filepath.Join(r, "chain", "x", "w.csv"), want: ""},
		{loc: filepath.Join(r, "inlink", "a.csv"), want: filepath.Join(r, "in", "a.csv")},
		{loc: filepath.Join(r, "inlink", "new", "b.csv"), want: filepath.Join(r, "in", "new", "b.csv")},
		{loc: filepath.Join(r, "danglin", "c.csv"), want: filepath.Join(r, "in", "missing", "c.csv"), osFails: true},
		{loc: filepath.Join(r, "in", "up", "d.csv"), want: filepath.Join(r, "d.csv")},
		// Locations are cleaned lexically before any use, so .. after a
		// link never reaches the link's parent.
		{loc: filepath.Join(r, "out") + "/../e.csv", want: filepath.Join(r, "e.csv")},
	} {
		allowedErr := reg.Allowed(tc.loc)
		w, err := reg.Writer(ctx, tc.loc, nil)
		if tc.want == "" {
			if !errors.Is(allowedErr, objstore.ErrForbidden) || !errors.Is(err, objstore.ErrForbidden) {
				t.Errorf("%s: Allowed %v, Writer %v, want ErrForbidden", tc.loc, allowedErr, err)
			}
			continue
		}
		if allowedErr != nil || err != nil {
			t.Errorf("%s: Allowed %v, Writer %v", tc.loc, allowedErr, err)
			continue
		}
		ow, err := w.Create(ctx, tc.loc)
		if tc.osFails {
			if err == nil || errors.Is(err, objstore.ErrForbidden) {
				t.Errorf("%s: create: %v, want the OS's error", tc.loc, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: create: %v", tc.loc, err)
			continue
		}
		ow.Write([]byte("1\n"))
		if err := ow.Close(); err != nil {
			t.Errorf("%s: close: %v", tc.loc, err)
		}
		if b, err := os.ReadFile(tc.want); err != nil || string(b) != "1\n" {
			t.Errorf("%s: not at %s: %q %v", tc.loc, tc.want, b, err)
		}
	}
	if e := entries(t, tr.outside); len(e) != 0 {
		t.Fatalf("writes created %q outside the roots", e)
	}
	// Reads resolve the same way.
	os.WriteFile(filepath.Join(tr.outside, "secret.csv"), []byte("s"), 0o644)
	for _, loc := range []string{filepath.Join(r, "out", "secret.csv"), filepath.Join(r, "chain", "secret.csv"), filepath.Join(r, "climb", "secret.csv")} {
		if _, err := reg.Open(ctx, loc, nil); !errors.Is(err, objstore.ErrForbidden) {
			t.Errorf("read %s: %v, want ErrForbidden", loc, err)
		}
	}
	if _, err := reg.Open(ctx, filepath.Join(r, "inlink", "a.csv"), nil); err != nil {
		t.Errorf("read through an inside link: %v", err)
	}
}

// TestWriteSymlinkSwappedAfterCheck: a directory replaced by a link out of
// the roots between the registry's check and the write is caught at use:
// Create, Put and Rename refuse it and create nothing outside.
func TestWriteSymlinkSwappedAfterCheck(t *testing.T) {
	tr := newSymlinkTree(t)
	reg := objstore.Default()
	if err := reg.AllowRoots([]string{tr.root}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	sub := filepath.Join(tr.root, "sub")
	loc := filepath.Join(sub, "deep", "x.csv")
	w, err := reg.Writer(ctx, loc, nil)
	if err != nil {
		t.Fatal(err)
	}
	staged := filepath.Join(tr.root, "in", "staged.csv")
	os.WriteFile(staged, []byte("x"), 0o644)
	if err := os.Symlink(tr.outside, sub); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Create(ctx, loc); !errors.Is(err, objstore.ErrForbidden) {
		t.Errorf("Create through a swapped link: %v", err)
	}
	if err := w.Put(ctx, loc, []byte("x")); !errors.Is(err, objstore.ErrForbidden) {
		t.Errorf("Put through a swapped link: %v", err)
	}
	if err := w.Rename(ctx, staged, loc); !errors.Is(err, objstore.ErrForbidden) {
		t.Errorf("Rename through a swapped link: %v", err)
	}
	if err := w.RemoveAll(ctx, filepath.Join(sub, "deep")); !errors.Is(err, objstore.ErrForbidden) {
		t.Errorf("RemoveAll through a swapped link: %v", err)
	}
	if e := entries(t, tr.outside); len(e) != 0 {
		t.Fatalf("writes created %q outside the roots", e)
	}
	// An unrestricted registry's writer follows links as the OS does.
	free, err := objstore.Default().Writer(ctx, loc, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := free.Put(ctx, loc, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if e := entries(t, tr.outside); !slices.Contains(e, filepath.Join(tr.outside, "deep", "x.csv")) {
		t.Fatalf("unrestricted write: %q", e)
	}
}

// TestRootsThroughLinks: a root named through a link is the directory the
// link leads to, and a root that does not exist yet is taken lexically.
func TestRootsThroughLinks(t *testing.T) {
	tr := newSymlinkTree(t)
	reg := objstore.Default()
	if err := reg.AllowRoots([]string{filepath.Join(tr.root, "inlink"), filepath.Join(tr.root, "later")}); err != nil {
		t.Fatal(err)
	}
	for loc, ok := range map[string]bool{
		filepath.Join(tr.root, "in", "x.csv"):         true,
		filepath.Join(tr.root, "inlink", "x.csv"):     true,
		filepath.Join(tr.root, "later", "a", "x.csv"): true,
		filepath.Join(tr.root, "x.csv"):               false,
		filepath.Join(tr.root, "in", "up", "x.csv"):   false,
	} {
		if err := reg.Allowed(loc); (err == nil) != ok {
			t.Errorf("%s: %v, allowed %v", loc, err, ok)
		}
	}
}
