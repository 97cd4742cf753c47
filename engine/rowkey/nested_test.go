package rowkey

import (
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// TestNestedOrder: lists sort as DuckDB sorts them (a prefix first, a
// NULL inside after every value, equal to another NULL), over a sliced
// array; the equality encoding and the hash agree with the order's ties.
func TestNestedOrder(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	lt := arrow.ListOf(arrow.PrimitiveTypes.Int64)
	whole, _, err := array.FromJSON(mem, lt, strings.NewReader(`[[0], [1, null], [2], [], null, [1], [1, 0], [null], [1, null], [-1, 5]]`))
	if err != nil {
		t.Fatal(err)
	}
	defer whole.Release()
	arr := array.NewSlice(whole, 1, int64(whole.Len()))
	defer arr.Release()
	cmp, err := NewComparator(arr, false, false)
	if err != nil {
		t.Fatal(err)
	}
	idx := []int{0, 1, 2, 3, 4, 5, 6, 7, 8}
	slices.SortStableFunc(idx, cmp)
	var got []string
	for _, i := range idx {
		got = append(got, arr.ValueStr(i))
	}
	want := []string{"[]", "[-1,5]", "[1]", "[1,0]", "[1,null]", "[1,null]", "[2]", "[null]", "(null)"}
	if !slices.Equal(got, want) {
		t.Fatalf("order %q, want %q", got, want)
	}
	enc, err := NewEncoder(arr)
	if err != nil {
		t.Fatal(err)
	}
	hashes := make([]uint64, arr.Len())
	if err := HashColumns([]arrow.Array{arr}, hashes); err != nil {
		t.Fatal(err)
	}
	// Rows 0 and 7 are both [1, NULL].
	if string(enc(nil, 0)) != string(enc(nil, 7)) || hashes[0] != hashes[7] || cmp(0, 7) != 0 {
		t.Error("[1, NULL] twice: different keys")
	}
	if string(enc(nil, 4)) == string(enc(nil, 5)) {
		t.Error("[1] and [1, 0] share a key")
	}
}
