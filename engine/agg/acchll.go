package agg

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kapot-go/kapot/engine/rowkey"
	"github.com/kapot-go/kapot/errs"
)

// HyperLogLog for approx_count_distinct: 2^14 registers (a standard error
// of about 0.8 %), kept sparse (the distinct hashes themselves, exact)
// until a group has seen hllSparseMax of them. Values are hashed from
// their key encoding, the same on every executor, so partial sketches
// merge.
const (
	hllP         = 14
	hllM         = 1 << hllP
	hllSparseMax = 1024
)

type hll struct {
	sparse map[uint64]struct{}
	regs   []uint8 // nil while sparse
}

func (h *hll) add(x uint64) {
	if h.regs == nil {
		if h.sparse == nil {
			h.sparse = map[uint64]struct{}{}
		}
		h.sparse[x] = struct{}{}
		if len(h.sparse) <= hllSparseMax {
			return
		}
		h.regs = make([]uint8, hllM)
		for y := range h.sparse {
			h.addDense(y)
		}
		h.sparse = nil
		return
	}
	h.addDense(x)
}

func (h *hll) addDense(x uint64) {
	idx := x >> (64 - hllP)
	rho := uint8(bits.LeadingZeros64(x<<hllP|1<<(hllP-1))) + 1
	if rho > h.regs[idx] {
		h.regs[idx] = rho
	}
}

func (h *hll) estimate() int64 {
	if h.regs == nil {
		return int64(len(h.sparse))
	}
	sum, zeros := 0.0, 0
	for _, r := range h.regs {
		sum += math.Ldexp(1, -int(r))
		if r == 0 {
			zeros++
		}
	}
	m := float64(hllM)
	e := 0.7213 / (1 + 1.079/m) * m * m / sum
	if e <= 2.5*m && zeros > 0 {
		e = m * math.Log(m/float64(zeros))
	}
	return int64(math.Round(e))
}

// encode is the partial state: 0 and the sparse hashes, or 1 and the
// registers.
func (h *hll) encode(buf []byte) []byte {
	if h.regs != nil {
		return append(append(buf, 1), h.regs...)
	}
	buf = append(buf, 0)
	for x := range h.sparse {
		buf = binary.LittleEndian.AppendUint64(buf, x)
	}
	return buf
}

func (h *hll) mergeEncoded(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	switch {
	case b[0] == 0 && (len(b)-1)%8 == 0:
		for i := 1; i < len(b); i += 8 {
			h.add(binary.LittleEndian.Uint64(b[i:]))
		}
	case b[0] == 1 && len(b) == 1+hllM:
		if h.regs == nil {
			h.regs = make([]uint8, hllM)
			for y := range h.sparse {
				h.addDense(y)
			}
			h.sparse = nil
		}
		for i, r := range b[1:] {
			h.regs[i] = max(h.regs[i], r)
		}
	default:
		return fmt.Errorf("approx_count_distinct state of %d bytes is malformed: %w", len(b), errs.ErrInvalidPlan)
	}
	return nil
}

type hllAcc struct {
	sketches []hll
}

func (a *hllAcc) Grow(n int) { a.sketches = growTo(a.sketches, n) }

func (a *hllAcc) Update(_ context.Context, groups []uint32, arg arrow.Array) error {
	if arg == nil {
		return fmt.Errorf("approx_count_distinct needs an argument: %w", errs.ErrInvalidPlan)
	}
	enc, err := rowkey.NewEncoder(arg)
	if err != nil {
		return err
	}
	var key []byte
	for i, g := range groups {
		if arg.IsNull(i) {
			continue
		}
		key = enc(key[:0], i)
		a.sketches[g].add(rowkey.Mix64(rowkey.Hash(key)))
	}
	return nil
}

func (a *hllAcc) Merge(_ context.Context, groups []uint32, states []arrow.Array) error {
	st, ok := states[0].(*array.Binary)
	if !ok {
		return fmt.Errorf("approx_count_distinct state is %s, not binary: %w", states[0].DataType(), errs.ErrInvalidPlan)
	}
	for i, g := range groups {
		if st.IsNull(i) {
			continue
		}
		if err := a.sketches[g].mergeEncoded(st.Value(i)); err != nil {
			return err
		}
	}
	return nil
}

func (a *hllAcc) StateTypes() []arrow.DataType { return []arrow.DataType{arrow.BinaryTypes.Binary} }

func (a *hllAcc) State(mem memory.Allocator) []arrow.Array {
	b := array.NewBinaryBuilder(mem, arrow.BinaryTypes.Binary)
	defer b.Release()
	var buf []byte
	for i := range a.sketches {
		buf = a.sketches[i].encode(buf[:0])
		b.Append(buf)
	}
	return []arrow.Array{b.NewArray()}
}

func (a *hllAcc) ResultType() arrow.DataType { return arrow.PrimitiveTypes.Int64 }

func (a *hllAcc) Result(mem memory.Allocator) arrow.Array {
	b := array.NewInt64Builder(mem)
	defer b.Release()
	for i := range a.sketches {
		b.Append(a.sketches[i].estimate())
	}
	return b.NewArray()
}
