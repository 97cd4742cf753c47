package cache

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/kapot-go/kapot/objstore"
)

// counted is a real local object whose store reads are counted; gate, if
// set, holds every read until it is closed.
type counted struct {
	objstore.Object
	reads   atomic.Int64
	gate    chan struct{}
	version string
}

func (c *counted) ReadAt(p []byte, off int64) (int, error) {
	c.reads.Add(1)
	if c.gate != nil {
		<-c.gate
	}
	return c.Object.ReadAt(p, off)
}

func (c *counted) Version() string {
	if c.version != "" {
		return c.version
	}
	return c.Object.Version()
}

func localObject(t *testing.T, data []byte) *counted {
	t.Helper()
	p := filepath.Join(t.TempDir(), "obj")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	o, err := objstore.Local{}.Open(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	return &counted{Object: o}
}

func payload(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func read(t *testing.T, o objstore.Object, off, n int64) []byte {
	t.Helper()
	b := make([]byte, n)
	got, err := o.ReadAt(b, off)
	if int64(got) != n && !(off+n > o.Size() && int64(got) == o.Size()-off) {
		t.Fatalf("ReadAt(%d, %d): %d bytes, %v", off, n, got, err)
	}
	return b[:got]
}

func open(t *testing.T, dir string, capacity int64) *Cache {
	t.Helper()
	c, err := Open(Options{Dir: dir, Capacity: capacity, IOConcurrency: 4})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestColdWarmAndCoalescing(t *testing.T) {
	data := payload(3*PageSize + 1234)
	src := localObject(t, data)
	c := open(t, t.TempDir(), 100*PageSize)
	o := c.Wrap(src)
	// Cold: pages 0..2 are missing and contiguous: one store read.
	if got := read(t, o, 10, 2*PageSize+20); !bytes.Equal(got, data[10:10+2*PageSize+20]) {
		t.Fatal("cold read differs")
	}
	if n := src.reads.Load(); n != 1 {
		t.Fatalf("cold read made %d store reads, want 1 (coalesced)", n)
	}
	// Warm: every range within those pages comes from disk.
	for _, r := range [][2]int64{{0, 1}, {PageSize - 1, 2}, {5, 3*PageSize - 5}} {
		if got := read(t, o, r[0], r[1]); !bytes.Equal(got, data[r[0]:r[0]+r[1]]) {
			t.Fatalf("warm read %v differs", r)
		}
	}
	if n := src.reads.Load(); n != 1 {
		t.Fatalf("warm reads reached the store: %d reads", n)
	}
	// The short last page, and a read past the end.
	if got := read(t, o, 3*PageSize, 5000); !bytes.Equal(got, data[3*PageSize:]) {
		t.Fatal("last page differs")
	}
	st := c.Stats()
	if st.Misses != 4 || st.Entries != 4 || st.BytesFromStore != int64(len(data)) || st.Hits < 5 {
		t.Fatalf("stats %+v", st)
	}
}

func TestSingleFlight(t *testing.T) {
	data := payload(2 * PageSize)
	src := localObject(t, data)
	src.gate = make(chan struct{})
	c := open(t, t.TempDir(), 100*PageSize)
	o := c.Wrap(src)
	var wg sync.WaitGroup
	results := make([][]byte, 8)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := make([]byte, PageSize)
			n, _ := o.ReadAt(b, PageSize/2)
			results[i] = b[:n]
		}()
	}
	// Let every reader find the page missing or in flight, then release.
	for src.reads.Load() == 0 {
		runtime.Gosched()
	}
	close(src.gate)
	wg.Wait()
	for _, r := range results {
		if !bytes.Equal(r, data[PageSize/2:PageSize/2+PageSize]) {
			t.Fatal("a concurrent reader got wrong data")
		}
	}
	// Two pages, each fetched by exactly one reader (possibly in one
	// coalesced read, possibly in two).
	if st := c.Stats(); st.Misses != 2 || src.reads.Load() > 2 {
		t.Fatalf("%d store reads, %d misses: want one fetch per page", src.reads.Load(), st.Misses)
	}
}

func TestNewVersionIsNeverServedStale(t *testing.T) {
	dir := t.TempDir()
	c := open(t, dir, 100*PageSize)
	v1 := localObject(t, []byte(strings.Repeat("a", 100)))
	read(t, c.Wrap(v1), 0, 100)
	v2 := localObject(t, []byte(strings.Repeat("b", 100)))
	// Same location, new version: a different key.
	v2.Object = relocated{v2.Object, v1.Location()}
	if got := read(t, c.Wrap(v2), 0, 100); string(got) != strings.Repeat("b", 100) {
		t.Fatalf("stale data served: %q", got[:10])
	}
	if v2.reads.Load() != 1 {
		t.Fatal("new version not fetched")
	}
}

type relocated struct {
	objstore.Object
	loc string
}

func (r relocated) Location() string { return r.loc }

func TestCorruptPageRefetched(t *testing.T) {
	dir := t.TempDir()
	data := payload(PageSize)
	src := localObject(t, data)
	c := open(t, dir, 100*PageSize)
	o := c.Wrap(src)
	read(t, o, 0, 100)
	var page string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if d.Type().IsRegular() {
			page = p
		}
		return nil
	})
	b, _ := os.ReadFile(page)
	b[12345] ^= 0xff
	os.WriteFile(page, b, 0o644)
	if got := read(t, o, 0, PageSize); !bytes.Equal(got, data) {
		t.Fatal("corrupt page returned")
	}
	if st := c.Stats(); st.Corrupt != 1 || src.reads.Load() != 2 {
		t.Fatalf("corrupt %d, store reads %d", st.Corrupt, src.reads.Load())
	}
	// Truncated page files are caught too.
	os.Truncate(page, 10)
	if got := read(t, o, 0, PageSize); !bytes.Equal(got, data) {
		t.Fatal("truncated page returned")
	}
}

func TestCapacityEvictionAndRestart(t *testing.T) {
	dir := t.TempDir()
	data := payload(5 * PageSize)
	src := localObject(t, data)
	c := open(t, dir, 3*(PageSize+trailerLen))
	o := c.Wrap(src)
	for pg := int64(0); pg < 5; pg++ {
		read(t, o, pg*PageSize, PageSize)
	}
	st := c.Stats()
	if st.Entries != 3 || st.Evictions != 2 || st.Bytes > 3*(PageSize+trailerLen) {
		t.Fatalf("stats %+v", st)
	}
	// Pages 2..4 are the most recent: they survive; 0 was evicted.
	before := src.reads.Load()
	read(t, o, 4*PageSize, 10)
	read(t, o, 2*PageSize, 10)
	if src.reads.Load() != before {
		t.Fatal("recent pages were evicted")
	}
	// A crash leaves a temp file and a stranger; a restart with a smaller
	// capacity rebuilds the index, keeps the most recent pages and removes
	// the rest.
	os.WriteFile(filepath.Join(dir, "ab", "half-written.tmp"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(dir, "stray"), []byte("x"), 0o644)
	c2 := open(t, dir, 2*(PageSize+trailerLen))
	if st := c2.Stats(); st.Entries != 2 || st.Bytes != 2*(PageSize+trailerLen) {
		t.Fatalf("after restart %+v", st)
	}
	for _, p := range []string{filepath.Join(dir, "ab", "half-written.tmp"), filepath.Join(dir, "stray")} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s survived the restart", p)
		}
	}
	o2 := c2.Wrap(src)
	before = src.reads.Load()
	// Pages 2 and 4 were touched last (hits refresh recency on disk).
	if got := read(t, o2, 2*PageSize, PageSize); !bytes.Equal(got, data[2*PageSize:3*PageSize]) {
		t.Fatal("warm read after restart differs")
	}
	if got := read(t, o2, 4*PageSize, PageSize); !bytes.Equal(got, data[4*PageSize:]) {
		t.Fatal("warm read after restart differs")
	}
	if src.reads.Load() != before {
		t.Fatal("restart lost the warm pages")
	}
}

func TestPageLargerThanCapacityIsNotCached(t *testing.T) {
	src := localObject(t, payload(PageSize))
	c := open(t, t.TempDir(), 1000)
	o := c.Wrap(src)
	read(t, o, 0, 10)
	read(t, o, 0, 10)
	if st := c.Stats(); st.Entries != 0 || src.reads.Load() != 2 {
		t.Fatalf("%+v reads %d", st, src.reads.Load())
	}
}
