package agg

import (
	"encoding/binary"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kapot-go/kapot/engine/rowkey"
	"github.com/kapot-go/kapot/errs"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// string_agg(DISTINCT x [ORDER BY x]): the collecting accumulator that
// keeps each value once per group. A value is known by its encoding
// (rowkey.EncodeValue, the bytes of the partial state), so partial states
// merge without decoding a value twice; a group's text counts only the
// values kept, so duplicates never reach the text limit.

// newDistinctCollect is newCollect for string_agg(DISTINCT).
func newDistinctCollect(fn kapotv1.AggregateFunction, in arrow.DataType, opts Options) (*collectAcc, error) {
	if fn != kapotv1.AggregateFunction_AGGREGATE_FUNCTION_STRING_AGG {
		return nil, fmt.Errorf("aggregate %v(DISTINCT) over %s: %w", fn, in, errs.ErrNotSupported)
	}
	a, err := newCollect(fn, in, opts)
	if err != nil {
		return nil, err
	}
	a.seen = []map[string]struct{}{}
	return a, nil
}

// see records value enc in group g and reports whether it was there.
func (a *collectAcc) see(g uint32, enc []byte) bool {
	if int(g) >= len(a.seen) {
		a.seen = growTo(a.seen, int(g)+1)
	}
	set := a.seen[g]
	if set == nil {
		set = map[string]struct{}{}
		a.seen[g] = set
	}
	if _, ok := set[string(enc)]; ok {
		return true
	}
	set[string(enc)] = struct{}{}
	return false
}

// duplicate reports whether v's value i is already among group g's
// (recording it when not).
func (a *collectAcc) duplicate(g uint32, v arrow.Array, i int) (bool, error) {
	enc, err := rowkey.EncodeValue(nil, v, i)
	if err != nil {
		return false, err
	}
	return a.see(g, enc), nil
}

// duplicateEncoded reports whether the encoded value at the start of buf
// is already among group g's (recording it when not), and returns the
// rest of buf.
func (a *collectAcc) duplicateEncoded(g uint32, buf []byte) ([]byte, bool, error) {
	if a.value.ID() == arrow.STRING { // its length, then its bytes
		n, w := binary.Uvarint(buf)
		if w <= 0 || uint64(len(buf)-w) < n {
			return nil, false, rowkey.ErrShortValue
		}
		end := w + int(n)
		return buf[end:], a.see(g, buf[:end]), nil
	}
	// Decoding into a scratch builder tells where the value ends.
	scratch := array.NewBuilder(memory.DefaultAllocator, a.value)
	defer scratch.Release()
	rest, err := rowkey.DecodeValue(scratch, buf)
	if err != nil {
		return nil, false, err
	}
	return rest, a.see(g, buf[:len(buf)-len(rest)]), nil
}
