package cache

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/kapot-go/kapot/objstore"
)

// PageSize is the cache's unit of storage and fetch.
const PageSize = 1 << 20

const (
	trailerLen = 8          // CRC-32C of the data, then a magic
	magic      = 0x6b617063 // "kapc"
	tmpSuffix  = ".tmp"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Options configure a cache.
type Options struct {
	// Dir holds the cache's files; it is created if missing.
	Dir string
	// Capacity is the most bytes of pages the cache keeps.
	Capacity int64
	// IOConcurrency bounds the object-store requests the cache has in
	// flight at once.
	IOConcurrency int
}

// Stats are the cache's counters since start (Entries and Bytes: now).
type Stats struct {
	Hits, Misses                   int64 // pages
	BytesFromCache, BytesFromStore int64
	Evictions                      int64 // pages
	Corrupt                        int64 // pages dropped for a bad checksum
	Entries                        int64
	Bytes                          int64
}

type entry struct {
	name string // file name relative to Dir
	size int64
	elem *list.Element
}

type call struct {
	done chan struct{}
	data []byte
	err  error
}

// Cache is a local-disk page cache in front of object reads.
type Cache struct {
	dir      string
	capacity int64
	sem      *semaphore.Weighted

	mu       sync.Mutex
	entries  map[string]*entry // by file name
	lru      *list.List        // front: most recent; values are *entry
	bytes    int64
	inflight map[string]*call

	hits, misses, fromCache, fromStore, evictions, corrupt atomic.Int64
}

// Open opens (or creates) the cache under o.Dir and rebuilds its index from
// the files there, evicting down to the capacity if it shrank.
func Open(o Options) (*Cache, error) {
	if o.Dir == "" {
		return nil, errors.New("cache dir not set")
	}
	if o.Capacity < 0 {
		return nil, errors.New("cache capacity negative")
	}
	if o.IOConcurrency < 1 {
		o.IOConcurrency = 1
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("cache dir: %w", err)
	}
	c := &Cache{dir: o.Dir, capacity: o.Capacity, sem: semaphore.NewWeighted(int64(o.IOConcurrency)),
		entries: map[string]*entry{}, lru: list.New(), inflight: map[string]*call{}}
	type found struct {
		name string
		size int64
		mod  time.Time
	}
	var files []found
	err := filepath.WalkDir(o.Dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, _ := filepath.Rel(o.Dir, p)
		if strings.HasSuffix(rel, tmpSuffix) || !validName(rel) {
			os.Remove(p) // a write cut short by a crash, or a stranger
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		files = append(files, found{rel, info.Size(), info.ModTime()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("scan cache dir: %w", err)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].mod.Before(files[j].mod) })
	for _, f := range files { // oldest first, so the newest end up in front
		e := &entry{name: f.name, size: f.size}
		e.elem = c.lru.PushFront(e)
		c.entries[f.name] = e
		c.bytes += f.size
	}
	c.mu.Lock()
	c.evictLocked()
	c.mu.Unlock()
	return c, nil
}

// validName reports whether rel looks like a page file: xx/<64 hex>-<n>.
func validName(rel string) bool {
	dir, base := filepath.Split(rel)
	key, page, ok := strings.Cut(base, "-")
	if !ok || len(key) != 64 || len(dir) != 3 || dir[:2] != key[:2] {
		return false
	}
	_, err := strconv.ParseUint(page, 10, 32)
	return err == nil
}

// Stats returns the counters.
func (c *Cache) Stats() Stats {
	c.mu.Lock()
	entries, bytes := int64(len(c.entries)), c.bytes
	c.mu.Unlock()
	return Stats{Hits: c.hits.Load(), Misses: c.misses.Load(), BytesFromCache: c.fromCache.Load(), BytesFromStore: c.fromStore.Load(),
		Evictions: c.evictions.Load(), Corrupt: c.corrupt.Load(), Entries: entries, Bytes: bytes}
}

// Wrap implements objstore.Wrapper: reads of o go through the cache.
func (c *Cache) Wrap(o objstore.Object) objstore.Object {
	sum := sha256.Sum256([]byte(o.Location() + "\x00" + o.Version()))
	return &object{Object: o, c: c, key: hex.EncodeToString(sum[:])}
}

func (c *Cache) pageName(key string, page int64) string {
	return key[:2] + string(filepath.Separator) + key + "-" + strconv.FormatInt(page, 10)
}

// object is a cached view of one object version.
type object struct {
	objstore.Object
	c   *Cache
	key string
}

// ReadAt serves p from cached pages, fetching the missing ones.
func (o *object) ReadAt(p []byte, off int64) (int, error) {
	size := o.Size()
	if off >= size {
		return 0, io.EOF
	}
	end := min(off+int64(len(p)), size)
	first, last := off/PageSize, (end-1)/PageSize
	pages, err := o.c.pages(o, first, last)
	if err != nil {
		return 0, err
	}
	n := 0
	for i, data := range pages {
		start := (first + int64(i)) * PageSize
		from := max(off-start, 0)
		to := min(end-start, int64(len(data)))
		if from >= to {
			break
		}
		n += copy(p[n:], data[from:to])
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// pages returns the data of pages first..last of o: hits from disk, the
// rest fetched (contiguous missing runs with one request each) or awaited
// from another reader's fetch.
func (c *Cache) pages(o *object, first, last int64) ([][]byte, error) {
	out := make([][]byte, last-first+1)
	var mine []int64
	waits := map[int64]*call{}
	for pg := first; pg <= last; pg++ {
		name := c.pageName(o.key, pg)
		if data, ok := c.read(name, o.pageLen(pg)); ok {
			out[pg-first] = data
			continue
		}
		c.mu.Lock()
		if cl, ok := c.inflight[name]; ok {
			waits[pg] = cl
		} else {
			c.inflight[name] = &call{done: make(chan struct{})}
			mine = append(mine, pg)
		}
		c.mu.Unlock()
	}
	var firstErr error
	// Fetch each contiguous run of our pages with one ranged read.
	for i := 0; i < len(mine); {
		j := i + 1
		for j < len(mine) && mine[j] == mine[j-1]+1 {
			j++
		}
		run := mine[i:j]
		if err := c.fetch(o, run, out[run[0]-first:]); err != nil && firstErr == nil {
			firstErr = err
		}
		i = j
	}
	for pg, cl := range waits {
		<-cl.done
		if cl.err != nil {
			if firstErr == nil {
				firstErr = cl.err
			}
			continue
		}
		out[pg-first] = cl.data
	}
	if firstErr != nil {
		return nil, firstErr
	}
	return out, nil
}

// pageLen is the length of page pg of o (the last page may be short).
func (o *object) pageLen(pg int64) int64 {
	return min(PageSize, o.Size()-pg*PageSize)
}

// fetch reads pages run (contiguous) of o from the store with one request,
// stores each page and completes its in-flight call; dst receives the data.
func (c *Cache) fetch(o *object, run []int64, dst [][]byte) error {
	start := run[0] * PageSize
	end := min((run[len(run)-1]+1)*PageSize, o.Size())
	buf := make([]byte, end-start)
	err := c.sem.Acquire(context.Background(), 1) // the store read below honours the task's context
	if err == nil {
		var n int
		n, err = o.Object.ReadAt(buf, start)
		c.sem.Release(1)
		if errors.Is(err, io.EOF) && int64(n) == end-start {
			err = nil
		}
		c.fromStore.Add(int64(n))
	}
	for i, pg := range run {
		name := c.pageName(o.key, pg)
		var data []byte
		if err == nil {
			data = buf[int64(i)*PageSize : min(int64(i+1)*PageSize, int64(len(buf)))]
			dst[i] = data
			c.store(name, data)
		}
		c.misses.Add(1)
		c.mu.Lock()
		cl := c.inflight[name]
		delete(c.inflight, name)
		c.mu.Unlock()
		cl.data, cl.err = data, err
		close(cl.done)
	}
	return err
}

// read returns a cached page whose checksum holds; a corrupt page is
// dropped (and counted) so that it is fetched again.
func (c *Cache) read(name string, want int64) ([]byte, bool) {
	c.mu.Lock()
	e, ok := c.entries[name]
	if ok {
		c.lru.MoveToFront(e.elem)
	}
	c.mu.Unlock()
	if !ok {
		return nil, false
	}
	path := filepath.Join(c.dir, name)
	b, err := os.ReadFile(path)
	if err != nil { // evicted meanwhile
		return nil, false
	}
	if int64(len(b)) != want+trailerLen || binary.LittleEndian.Uint32(b[len(b)-4:]) != magic ||
		crc32.Checksum(b[:want], castagnoli) != binary.LittleEndian.Uint32(b[want:want+4]) {
		c.corrupt.Add(1)
		c.drop(name)
		return nil, false
	}
	now := time.Now()
	os.Chtimes(path, now, now) // recency survives a restart
	c.hits.Add(1)
	c.fromCache.Add(want)
	return b[:want], true
}

// store writes a page (temp file, fsync, rename) and indexes it, evicting
// least-recently-used pages beyond the capacity. Failures only cost the
// cache a page.
func (c *Cache) store(name string, data []byte) {
	size := int64(len(data)) + trailerLen
	if size > c.capacity {
		return
	}
	path := filepath.Join(c.dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return
	}
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(name)+".*"+tmpSuffix)
	if err != nil {
		return
	}
	var trailer [trailerLen]byte
	binary.LittleEndian.PutUint32(trailer[:4], crc32.Checksum(data, castagnoli))
	binary.LittleEndian.PutUint32(trailer[4:], magic)
	_, err = f.Write(data)
	if err == nil {
		_, err = f.Write(trailer[:])
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.entries[name]; ok {
		c.bytes -= old.size
		c.lru.Remove(old.elem)
	}
	e := &entry{name: name, size: size}
	e.elem = c.lru.PushFront(e)
	c.entries[name] = e
	c.bytes += size
	c.evictLocked()
}

func (c *Cache) drop(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[name]; ok {
		c.lru.Remove(e.elem)
		delete(c.entries, name)
		c.bytes -= e.size
		os.Remove(filepath.Join(c.dir, name))
	}
}

func (c *Cache) evictLocked() {
	for c.bytes > c.capacity {
		back := c.lru.Back()
		if back == nil {
			return
		}
		e := back.Value.(*entry)
		c.lru.Remove(back)
		delete(c.entries, e.name)
		c.bytes -= e.size
		os.Remove(filepath.Join(c.dir, e.name))
		c.evictions.Add(1)
	}
}
