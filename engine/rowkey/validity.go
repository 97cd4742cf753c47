package rowkey

import "github.com/apache/arrow-go/v18/arrow"

// Validity reads an array's validity bitmap directly: Null inlines to a
// load and a test, where arrow.Array's IsNull is an interface call a row
// (3 % of a TPC-DS run's CPU went to it from join probes and key
// encoders, whose foreign keys have nulls).
type Validity struct {
	bits []byte // nil: no nulls
	off  int
}

// ValidityOf returns arr's validity (no bitmap read at all when it has no
// nulls).
func ValidityOf(arr arrow.Array) Validity {
	if arr.NullN() == 0 {
		return Validity{}
	}
	return Validity{bits: arr.NullBitmapBytes(), off: arr.Data().Offset()}
}

// Null reports whether row i is null.
func (v Validity) Null(i int) bool {
	if v.bits == nil {
		return false
	}
	p := v.off + i
	return v.bits[p>>3]&(1<<(p&7)) == 0
}
