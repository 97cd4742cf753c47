package expr

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// TestLikeStrings checks [NOT] LIKE over a string array read in place
// against testing each value: random rows over a small alphabet (empty
// and null rows among them), whole and sliced arrays, patterns of every
// kind (prefix, suffix, inner runs, '_').
func TestLikeStrings(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	r := rand.New(rand.NewPCG(1, 2))
	b := array.NewStringBuilder(mem)
	for range 3000 {
		if r.IntN(15) == 0 {
			b.AppendNull()
			continue
		}
		var s strings.Builder
		for range r.IntN(12) {
			s.WriteByte("abcs"[r.IntN(4)])
		}
		b.Append(s.String())
	}
	whole := b.NewStringArray()
	b.Release()
	defer whole.Release()
	sliced := array.NewSlice(whole, 17, 2500).(*array.String)
	defer sliced.Release()
	for _, pattern := range []string{"%abc%", "%sab", "a%bcs%", "ab%", "%a_c%", "", "%", "abc"} {
		match, err := compileLike(pattern, '\\', false)
		if err != nil {
			t.Fatal(err)
		}
		for _, arr := range []*array.String{whole, sliced} {
			for _, neg := range []bool{false, true} {
				got := likeStrings(mem, arr, match, neg).(*array.Boolean)
				if got.NullN() != arr.NullN() {
					t.Fatalf("%q: %d nulls out, %d in", pattern, got.NullN(), arr.NullN())
				}
				for i := range arr.Len() {
					switch {
					case arr.IsNull(i):
						if got.IsValid(i) {
							t.Fatalf("%q row %d: null in, %v out", pattern, i, got.Value(i))
						}
					case got.IsNull(i) || got.Value(i) != (match(arr.Value(i)) != neg):
						t.Fatalf("%q (not %v) row %d %q: %v", pattern, neg, i, arr.Value(i), got.ValueStr(i))
					}
				}
				got.Release()
			}
		}
	}
}
