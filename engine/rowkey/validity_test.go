package rowkey

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// TestValidity checks Null against arrow's IsNull on arrays with and
// without nulls, whole and sliced at offsets that are not a multiple of 8.
func TestValidity(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	b := array.NewInt64Builder(mem)
	defer b.Release()
	for i := 0; i < 100; i++ {
		if i%3 == 0 || i%7 == 0 {
			b.AppendNull()
		} else {
			b.Append(int64(i))
		}
	}
	withNulls := b.NewArray()
	defer withNulls.Release()
	b.AppendValues(make([]int64, 50), nil)
	noNulls := b.NewArray()
	defer noNulls.Release()
	for _, whole := range []arrow.Array{withNulls, noNulls} {
		for _, lo := range []int64{0, 1, 5, 13} {
			arr := array.NewSlice(whole, lo, int64(whole.Len())-2)
			v := ValidityOf(arr)
			for i := 0; i < arr.Len(); i++ {
				if v.Null(i) != arr.IsNull(i) {
					t.Errorf("slice from %d, row %d: Null %v, IsNull %v", lo, i, v.Null(i), arr.IsNull(i))
				}
			}
			arr.Release()
		}
	}
}
