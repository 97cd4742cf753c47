package expr

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// randomStrings is a string array of n values (every 9th null, lengths 0
// to 10, a few non-ASCII) and the same values as Go strings.
func randomStrings(mem memory.Allocator, rng *rand.Rand, n int, nonASCII bool) (*array.String, []string, []bool) {
	b := array.NewStringBuilder(mem)
	defer b.Release()
	vals, valid := make([]string, n), make([]bool, n)
	alphabet := "ab1é"
	if !nonASCII {
		alphabet = "ab12"
	}
	for i := range n {
		if i%9 == 4 {
			b.AppendNull()
			continue
		}
		var v []rune
		for range rng.IntN(11) {
			r := []rune(alphabet)
			v = append(v, r[rng.IntN(len(r))])
		}
		vals[i], valid[i] = string(v), true
		b.Append(vals[i])
	}
	return b.NewStringArray(), vals, valid
}

// TestShortStringsMatchMap: an IN list of short strings packed into
// integers answers as the Go map does, for every length from empty to
// past eight bytes, values at the very end of the data buffer, sliced
// arrays and NOT IN.
func TestShortStringsMatchMap(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rng := rand.New(rand.NewPCG(1, 2))
	set := map[string]struct{}{"": {}, "a": {}, "ab": {}, "b1": {}, "12": {}, "aaaa": {}, "ab12ab12": {}, "1212121": {}}
	short := newShortStrings(set)
	if short == nil {
		t.Fatal("not packed")
	}
	arr, vals, valid := randomStrings(mem, rng, 3000, false)
	defer arr.Release()
	for _, cut := range [][2]int{{0, 3000}, {1, 2999}, {2990, 3000}, {7, 8}} {
		sl := array.NewSlice(arr, int64(cut[0]), int64(cut[1])).(*array.String)
		for _, neg := range []bool{false, true} {
			bits := make([]byte, bitutil.BytesForBits(int64(sl.Len())))
			short.mark(sl, bits, neg)
			for i := range sl.Len() {
				r := cut[0] + i
				if !valid[r] {
					continue
				}
				_, want := set[vals[r]]
				if got := bitutil.BitIsSet(bits, i); got != (want != neg) {
					t.Fatalf("cut %v negated %v: %q: %v", cut, neg, vals[r], got)
				}
			}
		}
		sl.Release()
	}
	if newShortStrings(map[string]struct{}{"123456789": {}}) != nil {
		t.Error("a nine-byte string packed")
	}
	many := map[string]struct{}{}
	for i := range maxShortStrings + 1 {
		many[fmt.Sprint(i)] = struct{}{}
	}
	if newShortStrings(many) != nil {
		t.Errorf("%d strings packed", len(many))
	}
}

// TestStringPrefixes: substring(s, 1, n) written straight into buffers
// equals the character by character substring, on sliced arrays with
// nulls; values with a non-ASCII byte in their first n take the general
// path.
func TestStringPrefixes(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rng := rand.New(rand.NewPCG(3, 4))
	for _, nonASCII := range []bool{false, true} {
		arr, vals, valid := randomStrings(mem, rng, 500, nonASCII)
		for _, cut := range [][2]int{{0, 500}, {3, 497}, {4, 5}} {
			sl := array.NewSlice(arr, int64(cut[0]), int64(cut[1])).(*array.String)
			for _, n := range []int64{0, 1, 2, 5, 20} {
				out := substringConst(mem, sl, 1, n+1).(*array.String)
				fast := stringPrefixes(mem, sl, n)
				if fast != nil {
					fast.Release()
				} else if !nonASCII && n > 0 {
					t.Errorf("ASCII values, prefix %d: not written straight", n)
				}
				for i := range sl.Len() {
					r := cut[0] + i
					if out.IsNull(i) != !valid[r] {
						t.Fatalf("row %d: null %v, valid %v", r, out.IsNull(i), valid[r])
					}
					if valid[r] {
						if want := substringRunes(vals[r], 1, n+1); out.Value(i) != want {
							t.Fatalf("prefix %d of %q: %q, want %q", n, vals[r], out.Value(i), want)
						}
					}
				}
				out.Release()
			}
			sl.Release()
		}
		arr.Release()
	}
}
