package pqflat

import (
	"encoding/binary"
	"errors"
	"fmt"
	mathbits "math/bits"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow/bitutil"
)

// errCorrupt marks data a page cannot hold.
var errCorrupt = errors.New("corrupt Parquet page")

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errCorrupt}, args...)...)
}

// hybrid decodes Parquet's RLE / bit-packed hybrid encoding of values of
// bw bits (definition levels, dictionary indexes): a sequence of runs,
// each a repeated value or groups of 8 bit-packed values.
type hybrid struct {
	data []byte
	pos  int // the next run's header
	bw   int
	// The current run: left values; an RLE run repeats val, a bit-packed
	// run's next value starts at bit offset bit of data.
	left   int
	packed bool
	val    uint32
	bit    int
}

func (h *hybrid) reset(data []byte, bw int) { *h = hybrid{data: data, bw: bw} }

// maxRun bounds a run's length: a page holds at most 2^31 values.
const maxRun = 1 << 31

// run reads the next run's header.
func (h *hybrid) run() error {
	if h.pos >= len(h.data) {
		return corrupt("fewer values than the page declares")
	}
	hdr, n := binary.Uvarint(h.data[h.pos:])
	if n <= 0 {
		return corrupt("bad run header")
	}
	h.pos += n
	if hdr&1 == 1 {
		groups := hdr >> 1
		if groups > maxRun/8 {
			return corrupt("bit-packed run of %d groups", groups)
		}
		count, size := int(groups)*8, int(groups)*h.bw
		if avail := len(h.data) - h.pos; size > avail {
			// A page's last run may stop short of its padding.
			size, count = avail, avail*8/h.bw
		}
		h.packed, h.bit, h.left = true, h.pos*8, count
		h.pos += size
		return nil
	}
	count := hdr >> 1
	if count > maxRun {
		return corrupt("RLE run of %d values", count)
	}
	nb := (h.bw + 7) / 8
	if h.pos+nb > len(h.data) {
		return corrupt("truncated RLE run")
	}
	var v uint32
	for i := range nb {
		v |= uint32(h.data[h.pos+i]) << (8 * i)
	}
	h.pos += nb
	h.packed, h.val, h.left = false, v, int(count)
	return nil
}

// gather fills out with the values of dict at the next len(out) indexes.
func gather[T any](h *hybrid, dict []T, out []T) error {
	for len(out) > 0 {
		if h.left == 0 {
			if err := h.run(); err != nil {
				return err
			}
			continue
		}
		m := min(h.left, len(out))
		if h.packed {
			if err := unpackGather(h.data, h.bit, h.bw, dict, out[:m]); err != nil {
				return err
			}
			h.bit += m * h.bw
		} else {
			if int64(h.val) >= int64(len(dict)) {
				return badIndex(uint64(h.val), len(dict))
			}
			v := dict[h.val]
			for i := range out[:m] {
				out[i] = v
			}
		}
		h.left -= m
		out = out[m:]
	}
	return nil
}

// unpackGather reads len(out) indexes of bw bits (at most 32) from data,
// starting at bit offset bit, least significant bit first, and stores
// the values of dict they select in out.
func unpackGather[T any](data []byte, bit, bw int, dict []T, out []T) error {
	mask := uint64(1)<<bw - 1
	i := 0
	for ; i < len(out); i++ {
		b := bit >> 3
		if b+8 > len(data) {
			break
		}
		x := binary.LittleEndian.Uint64(data[b:]) >> (bit & 7) & mask
		if x >= uint64(len(dict)) {
			return badIndex(x, len(dict))
		}
		out[i] = dict[x]
		bit += bw
	}
	for ; i < len(out); i++ {
		var w uint64
		b := bit >> 3
		for k := 0; k < 8 && b+k < len(data); k++ {
			w |= uint64(data[b+k]) << (8 * k)
		}
		x := w >> (bit & 7) & mask
		if x >= uint64(len(dict)) {
			return badIndex(x, len(dict))
		}
		out[i] = dict[x]
		bit += bw
	}
	return nil
}

// gatherAt consumes the next m indexes and fills out[i] with the value
// of dict at the index at offset pos[i] (ascending, each below m): a
// bit-packed index is read where it lies, the others are skipped.
func gatherAt[T any](h *hybrid, dict []T, out []T, pos []int32, m int) error {
	base, i := 0, 0
	for m > 0 {
		if h.left == 0 {
			if err := h.run(); err != nil {
				return err
			}
			continue
		}
		k := min(h.left, m)
		j := i
		for j < len(pos) && int(pos[j]) < base+k {
			j++
		}
		switch {
		case i == j:
		case h.packed:
			mask := uint64(1)<<h.bw - 1
			for q := i; q < j; q++ {
				x := bitsAt(h.data, h.bit+(int(pos[q])-base)*h.bw) & mask
				if x >= uint64(len(dict)) {
					return badIndex(x, len(dict))
				}
				out[q] = dict[x]
			}
		default:
			if int64(h.val) >= int64(len(dict)) {
				return badIndex(uint64(h.val), len(dict))
			}
			v := dict[h.val]
			for q := i; q < j; q++ {
				out[q] = v
			}
		}
		if h.packed {
			h.bit += k * h.bw
		}
		h.left -= k
		m -= k
		base += k
		i = j
	}
	if i < len(pos) {
		return fmt.Errorf("pqflat: position %d past the %d values read", pos[i], base)
	}
	return nil
}

// bitsAt is the 64 bits of data from bit offset bit on, least
// significant first (zeros past its end).
func bitsAt(data []byte, bit int) uint64 {
	b := bit >> 3
	if b+8 <= len(data) {
		return binary.LittleEndian.Uint64(data[b:]) >> (bit & 7)
	}
	var w uint64
	for k := 0; k < 8 && b+k < len(data); k++ {
		w |= uint64(data[b+k]) << (8 * k)
	}
	return w >> (bit & 7)
}

// popcount is the number of 1 bits of x.
func popcount(x uint64) int { return mathbits.OnesCount64(x) }

// load is the little-endian value of T's width at the start of b.
func load[T uint32 | uint64](b []byte) T {
	var zero T
	if unsafe.Sizeof(zero) == 4 {
		return T(binary.LittleEndian.Uint32(b))
	}
	return T(binary.LittleEndian.Uint64(b))
}

func badIndex(x uint64, n int) error {
	return corrupt("dictionary index %d of a dictionary of %d values", x, n)
}

// levels writes the next m values, definition levels of bit width 1, as
// bits of the Arrow validity bitmap dst from bit off, and returns how many
// are 1 (values present).
func (h *hybrid) levels(dst []byte, off, m int) (int, error) {
	ones := 0
	for m > 0 {
		if h.left == 0 {
			if err := h.run(); err != nil {
				return 0, err
			}
			continue
		}
		k := min(h.left, m)
		if h.packed {
			bitutil.CopyBitmap(h.data, h.bit, k, dst, off)
			ones += bitutil.CountSetBits(h.data, h.bit, k)
			h.bit += k
		} else {
			if h.val > 1 {
				return 0, corrupt("definition level %d above 1", h.val)
			}
			bitutil.SetBitsTo(dst, int64(off), int64(k), h.val == 1)
			ones += k * int(h.val)
		}
		h.left -= k
		off += k
		m -= k
	}
	return ones, nil
}
