package window

import (
	"context"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/scalar"

	"github.com/kapot-go/kapot/engine/agg"
	"github.com/kapot-go/kapot/engine/kernel"
	"github.com/kapot-go/kapot/engine/rowkey"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// frameInfo is, for each row, the bounds of its window partition and of
// its frame under the default framing: [part, partEnd) and [part, frameEnd).
type frameInfo struct {
	n                       int
	part, partEnd, frameEnd []int
	peerStart               []int
	partIdx                 []uint32 // window partition number
}

func frames(newPart, newPeer []bool, ordered bool) *frameInfo {
	n := len(newPart)
	f := &frameInfo{n: n, part: make([]int, n), partEnd: make([]int, n), frameEnd: make([]int, n), peerStart: make([]int, n), partIdx: make([]uint32, n)}
	p, peer, idx := 0, 0, uint32(0)
	for r := 0; r < n; r++ {
		if newPart[r] {
			p = r
			if r > 0 {
				idx++
			}
		}
		if newPeer[r] {
			peer = r
		}
		f.part[r], f.peerStart[r], f.partIdx[r] = p, peer, idx
	}
	end, peerEnd := n, n
	for r := n - 1; r >= 0; r-- {
		f.partEnd[r] = end
		f.frameEnd[r] = peerEnd
		if !ordered {
			f.frameEnd[r] = end
		}
		if newPeer[r] {
			peerEnd = r
		}
		if newPart[r] {
			end, peerEnd = r, r
		}
	}
	return f
}

// compute builds one function's output column.
func (wf *windowFunc) compute(ctx context.Context, mem memory.Allocator, f *frameInfo, arg, order arrow.Array, desc bool) (arrow.Array, error) {
	switch wf.fn {
	case kapotv1.WindowFunction_WINDOW_FUNCTION_ROW_NUMBER, kapotv1.WindowFunction_WINDOW_FUNCTION_RANK,
		kapotv1.WindowFunction_WINDOW_FUNCTION_DENSE_RANK, kapotv1.WindowFunction_WINDOW_FUNCTION_NTILE:
		b := array.NewInt64Builder(mem)
		defer b.Release()
		b.Reserve(f.n)
		dense := int64(0)
		for r := 0; r < f.n; r++ {
			i := int64(r - f.part[r])
			switch wf.fn {
			case kapotv1.WindowFunction_WINDOW_FUNCTION_ROW_NUMBER:
				b.UnsafeAppend(i + 1)
			case kapotv1.WindowFunction_WINDOW_FUNCTION_RANK:
				b.UnsafeAppend(int64(f.peerStart[r]-f.part[r]) + 1)
			case kapotv1.WindowFunction_WINDOW_FUNCTION_DENSE_RANK:
				if r == f.part[r] {
					dense = 0
				}
				if r == f.peerStart[r] {
					dense++
				}
				b.UnsafeAppend(dense)
			default:
				b.UnsafeAppend(ntile(i, int64(f.partEnd[r]-f.part[r]), wf.offset))
			}
		}
		return b.NewArray(), nil
	case kapotv1.WindowFunction_WINDOW_FUNCTION_PERCENT_RANK, kapotv1.WindowFunction_WINDOW_FUNCTION_CUME_DIST:
		b := array.NewFloat64Builder(mem)
		defer b.Release()
		b.Reserve(f.n)
		for r := 0; r < f.n; r++ {
			size := float64(f.partEnd[r] - f.part[r])
			if wf.fn == kapotv1.WindowFunction_WINDOW_FUNCTION_CUME_DIST {
				b.UnsafeAppend(float64(f.frameEnd[r]-f.part[r]) / size)
			} else if size > 1 {
				b.UnsafeAppend(float64(f.peerStart[r]-f.part[r]) / (size - 1))
			} else {
				b.UnsafeAppend(0)
			}
		}
		return b.NewArray(), nil
	}
	lo, hi, err := wf.frame.bounds(f, order, desc)
	if err != nil {
		return nil, err
	}
	if wf.fn == kapotv1.WindowFunction_WINDOW_FUNCTION_AGGREGATE {
		return wf.aggregate(ctx, mem, f, lo, hi, arg)
	}
	return wf.pick(mem, f, lo, hi, arg)
}

// ntile is the bucket (1-based) of row i of a partition of n rows split
// into k buckets whose sizes differ by at most one, larger ones first.
func ntile(i, n, k int64) int64 {
	q, rem := n/k, n%k
	if split := rem * (q + 1); i < split {
		return i/(q+1) + 1
	} else {
		return rem + (i-split)/q + 1
	}
}

// pick is lag, lead, first_value, last_value and nth_value: each row takes
// the value of another row of its partition or frame, or the default.
func (wf *windowFunc) pick(mem memory.Allocator, f *frameInfo, lo, hi []int, arg arrow.Array) (arrow.Array, error) {
	b := array.NewBuilder(mem, wf.typ)
	defer b.Release()
	var def arrow.Array
	if wf.def != nil {
		d, err := scalar.MakeArrayFromScalar(wf.def, 1, mem)
		if err != nil {
			return nil, err
		}
		defer d.Release()
		def = d
	}
	for r := 0; r < f.n; r++ {
		src := -1
		switch wf.fn {
		case kapotv1.WindowFunction_WINDOW_FUNCTION_LAG:
			if j := r - int(wf.offset); j >= f.part[r] {
				src = j
			}
		case kapotv1.WindowFunction_WINDOW_FUNCTION_LEAD:
			if j := r + int(wf.offset); j < f.partEnd[r] {
				src = j
			}
		case kapotv1.WindowFunction_WINDOW_FUNCTION_FIRST_VALUE:
			if lo[r] < hi[r] {
				src = lo[r]
			}
		case kapotv1.WindowFunction_WINDOW_FUNCTION_LAST_VALUE:
			if lo[r] < hi[r] {
				src = hi[r] - 1
			}
		default: // nth_value
			if j := int64(lo[r]) + wf.offset - 1; j < int64(hi[r]) {
				src = int(j)
			}
		}
		var err error
		switch {
		case src >= 0:
			err = rowkey.AppendFrom(b, arg, src)
		case def != nil:
			err = rowkey.AppendFrom(b, def, 0)
		default:
			b.AppendNull()
		}
		if err != nil {
			return nil, err
		}
	}
	return b.NewArray(), nil
}

// aggregate is an aggregate over each row's frame [lo, hi). Where every
// frame is its whole partition, one accumulator group per partition;
// otherwise a running aggregate that follows the frames: it extends when a
// frame only grows at its end, slides (removes rows at the start) where
// that is exact, and starts over otherwise. Partitions whose frames all
// end at the partition's end and only shrink at the start (… AND
// UNBOUNDED FOLLOWING) run backwards, so they extend too.
func (wf *windowFunc) aggregate(ctx context.Context, mem memory.Allocator, f *frameInfo, lo, hi []int, arg arrow.Array) (arrow.Array, error) {
	b := array.NewBuilder(mem, wf.typ)
	defer b.Release()
	whole := true
	for r := 0; r < f.n && whole; r++ {
		whole = lo[r] == f.part[r] && hi[r] == f.partEnd[r]
	}
	if whole {
		in := arrow.DataType(arrow.Null)
		if arg != nil {
			in = arg.DataType()
		}
		acc, err := agg.New(wf.agg, in, false)
		if err != nil {
			return nil, err
		}
		groups := int(f.partIdx[f.n-1]) + 1
		acc.Grow(groups)
		if err := acc.Update(ctx, f.partIdx, arg); err != nil {
			return nil, err
		}
		res := acc.Result(mem)
		defer res.Release()
		for r := 0; r < f.n; r++ {
			if err := rowkey.AppendFrom(b, res, int(f.partIdx[r])); err != nil {
				return nil, err
			}
		}
		return b.NewArray(), nil
	}
	run, err := newRunning(wf.agg, arg)
	if err != nil {
		return nil, err
	}
	// at[k] is the row whose value the k-th appended value is, where a
	// partition ran backwards; nil while none did.
	var at []int32
	for p := 0; p < f.n; p = f.partEnd[p] {
		pe := f.partEnd[p]
		rows := func(yield func(r int) bool) {
			for r := p; r < pe; r++ {
				if !yield(r) {
					return
				}
			}
		}
		if backward(lo, hi, p, pe) {
			if at == nil {
				at = make([]int32, 0, f.n)
				for r := 0; r < p; r++ {
					at = append(at, int32(r))
				}
			}
			rows = func(yield func(r int) bool) {
				for r := pe - 1; r >= p; r-- {
					if !yield(r) {
						return
					}
				}
			}
		}
		run.reset()
		curLo, curHi := -1, -1
		for r := range rows {
			l, h := lo[r], hi[r]
			switch {
			case l >= h:
				run.reset()
				curLo, curHi = -1, -1
			case curLo == l && h >= curHi:
				run.addRange(curHi, h)
				curHi = h
			case curHi == h && l <= curLo:
				run.addRange(l, curLo)
				curLo = l
			case run.invertible() && curLo >= 0 && l >= curLo && l <= curHi && h >= curHi:
				for i := curLo; i < l; i++ {
					run.remove(i)
				}
				run.addRange(curHi, h)
				curLo, curHi = l, h
			default:
				run.reset()
				run.addRange(l, h)
				curLo, curHi = l, h
			}
			if err := run.appendTo(b); err != nil {
				return nil, err
			}
			if at != nil {
				at = append(at, int32(r))
			}
		}
	}
	out := b.NewArray()
	if at == nil {
		return out, nil
	}
	defer out.Release()
	// Put the values back in row order: row at[k] has value k.
	idx := make([]int32, f.n)
	for k, r := range at {
		idx[r] = int32(k)
	}
	return kernel.Take(ctx, mem, out, idx)
}
