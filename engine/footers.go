package engine

import (
	"container/list"
	"slices"
	"sync"

	"github.com/apache/arrow-go/v18/parquet/metadata"
)

// FooterCache keeps the parsed footers of the Parquet files a process
// reads, by location and version (an object's ETag, or size and
// modification time): a scan that opens a file again skips reading and
// decoding its footer. That costs 50-100 ms for a file of a few hundred
// row groups (TPC-H SF 10's lineitem files: 458 row groups, a 700 KB
// footer), paid by every task reading a part of the file and by every
// query. It is safe for concurrent use; a nil cache keeps nothing.
type FooterCache struct {
	mu    sync.Mutex
	max   int64
	size  int64
	lru   *list.List // of *footerEntry, most recent first
	items map[footerKey]*list.Element
}

type footerKey struct{ loc, version string }

type footerEntry struct {
	key  footerKey
	f    *parquetFooter
	size int64
}

// parquetFooter is a file's parsed footer and what scans derive from it
// alone: per file, not per task (deriving the dictionary columns visits
// every column chunk of every row group, 30 ms for SF 10's lineitem).
type parquetFooter struct {
	md *metadata.FileMetaData
	// dict lists the columns read as dictionaries (dictionaryColumns).
	dict []int
}

// newParquetFooter derives a footer's facts.
func newParquetFooter(md *metadata.FileMetaData) *parquetFooter {
	return &parquetFooter{md: md, dict: slices.Collect(dictionaryColumns(md))}
}

// DefaultFooterCacheBytes bounds an executor's footer cache.
const DefaultFooterCacheBytes = 64 << 20

// NewFooterCache returns a cache that holds footers of about maxBytes in
// memory at most (four times their encoded size, an estimate), evicting
// the least recently used.
func NewFooterCache(maxBytes int64) *FooterCache {
	return &FooterCache{max: maxBytes, lru: list.New(), items: map[footerKey]*list.Element{}}
}

// get returns the footer of location at version, or nil.
func (c *FooterCache) get(loc, version string) *parquetFooter {
	if c == nil || version == "" {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[footerKey{loc, version}]
	if !ok {
		return nil
	}
	c.lru.MoveToFront(el)
	return el.Value.(*footerEntry).f
}

// put keeps md as the footer of location at version. Encrypted files'
// footers are not kept (their readers need the decryptor set up with
// the footer).
func (c *FooterCache) put(loc, version string, f *parquetFooter) {
	if c == nil || version == "" || f == nil || f.md.IsSetEncryptionAlgorithm() {
		return
	}
	md := f.md
	size := int64(md.Size())*4 + 1024
	if size > c.max {
		return
	}
	md.WriterVersion() // set now: readers sharing md only read it
	c.mu.Lock()
	defer c.mu.Unlock()
	k := footerKey{loc, version}
	if _, ok := c.items[k]; ok {
		return
	}
	c.items[k] = c.lru.PushFront(&footerEntry{key: k, f: f, size: size})
	c.size += size
	for c.size > c.max {
		el := c.lru.Back()
		e := el.Value.(*footerEntry)
		c.lru.Remove(el)
		delete(c.items, e.key)
		c.size -= e.size
	}
}

// Len is the number of footers held.
func (c *FooterCache) Len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.items)
}
