package alloc

import (
	"sync"
	"testing"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

func TestRecyclingAllocator(t *testing.T) {
	a := NewRecyclingAllocator(64 << 10)
	// Small requests bypass the cache.
	small := a.Allocate(100)
	if len(small) != 100 {
		t.Fatalf("small: len %d", len(small))
	}
	a.Free(small)
	if st := a.Stats(); st.Cached != 0 || st.Hits+st.Misses != 0 {
		t.Fatalf("small buffers are not recycled: %+v", st)
	}
	// A freed buffer is handed out again for any size of its class, zeroed
	// and 64-byte aligned. Its capacity is its length, as Arrow's kernels
	// assume (they grow a buffer up to cap(Buf())).
	b := a.Allocate(5000)
	if len(b) != 5000 || cap(b) != 5000 {
		t.Fatalf("len %d cap %d, want 5000 5000", len(b), cap(b))
	}
	for i := range b {
		b[i] = 0xff
	}
	a.Free(b)
	if st := a.Stats(); st.Cached != 8192 {
		t.Fatalf("cached %d, want 8192", st.Cached)
	}
	c := a.Allocate(8000)
	if &c[0] != &b[0] {
		t.Fatal("the freed buffer was not reused")
	}
	if uintptr(unsafe.Pointer(&c[0]))%64 != 0 {
		t.Fatal("not 64-byte aligned")
	}
	for i, v := range c {
		if v != 0 {
			t.Fatalf("byte %d of a recycled buffer is %#x, want 0", i, v)
		}
	}
	// Growing within the class stays in place and zeroes the new part.
	c = c[:100]
	for i := range c {
		c[i] = 1
	}
	c = a.Reallocate(6000, c)
	if len(c) != 6000 || cap(c) != 6000 || &c[0] != &b[0] || c[99] != 1 || c[100] != 0 || c[5999] != 0 {
		t.Fatalf("in-place growth: len %d cap %d, c[99]=%d c[100]=%d", len(c), cap(c), c[99], c[100])
	}
	// Shrunk below its class in place, it keeps the class's capacity (as
	// the Go allocator does) and is still recognised when freed or grown.
	if s := a.Reallocate(3000, c); len(s) != 3000 || cap(s) != 8192 || &s[0] != &b[0] {
		t.Fatalf("in-place shrink: len %d cap %d", len(s), cap(s))
	} else if c = a.Reallocate(6000, s); len(c) != 6000 || cap(c) != 6000 || &c[0] != &b[0] || c[99] != 1 {
		t.Fatalf("regrowth in place: len %d cap %d", len(c), cap(c))
	}
	// Growing past the class moves and keeps the contents.
	c = a.Reallocate(20000, c)
	if len(c) != 20000 || cap(c) != 20000 || c[99] != 1 || c[100] != 0 {
		t.Fatalf("moved growth: len %d cap %d", len(c), cap(c))
	}
	if st := a.Stats(); st.Cached != 8192 {
		t.Fatalf("the outgrown buffer is cached again: cached %d, want 8192", st.Cached)
	}
	// The cache holds at most its limit: 8 KiB + 32 KiB are cached, and a
	// 64 KiB buffer does not fit next to them.
	a.Free(c)
	d := a.Allocate(40000)
	a.Free(d)
	if st := a.Stats(); st.Cached != 8192+32768 {
		t.Fatalf("cached %d, want %d", st.Cached, 8192+32768)
	}
	a.Trim()
	if st := a.Stats(); st.Cached != 0 {
		t.Fatalf("after Trim: cached %d", st.Cached)
	}
}

// TestRecyclingAllocatorArrays builds and releases arrays through the
// allocator from several goroutines (run with -race) and checks every value
// read back: a buffer handed out twice would show up as wrong values.
func TestRecyclingAllocatorArrays(t *testing.T) {
	rec := NewRecyclingAllocator(8 << 20)
	mem := memory.NewCheckedAllocator(rec)
	defer mem.AssertSize(t, 0)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := 0; round < 50; round++ {
				b := array.NewInt64Builder(mem)
				n := 1000 + round*97
				for i := 0; i < n; i++ {
					b.Append(int64(g*1_000_000 + round*1000 + i))
				}
				arr := b.NewInt64Array()
				b.Release()
				for i := 0; i < n; i++ {
					if arr.Value(i) != int64(g*1_000_000+round*1000+i) {
						t.Errorf("goroutine %d round %d: value %d is %d", g, round, i, arr.Value(i))
						break
					}
				}
				arr.Release()
			}
		}()
	}
	wg.Wait()
	if st := rec.Stats(); st.Hits == 0 {
		t.Fatalf("nothing was recycled: %+v", st)
	}
}
