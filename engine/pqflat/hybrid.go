package pqflat

import (
	"encoding/binary"
	"errors"
	"fmt"

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

// decode fills out with the next len(out) values.
func (h *hybrid) decode(out []uint32) error {
	for len(out) > 0 {
		if h.left == 0 {
			if err := h.run(); err != nil {
				return err
			}
			continue
		}
		m := min(h.left, len(out))
		if h.packed {
			unpack(h.data, h.bit, h.bw, out[:m])
			h.bit += m * h.bw
		} else {
			v := h.val
			for i := range out[:m] {
				out[i] = v
			}
		}
		h.left -= m
		out = out[m:]
	}
	return nil
}

// unpack reads len(out) values of bw bits (at most 32) from data,
// starting at bit offset bit, least significant bit first.
func unpack(data []byte, bit, bw int, out []uint32) {
	mask := uint64(1)<<bw - 1
	i := 0
	for ; i < len(out); i++ {
		b := bit >> 3
		if b+8 > len(data) {
			break
		}
		out[i] = uint32(binary.LittleEndian.Uint64(data[b:]) >> (bit & 7) & mask)
		bit += bw
	}
	for ; i < len(out); i++ {
		var w uint64
		b := bit >> 3
		for k := 0; k < 8 && b+k < len(data); k++ {
			w |= uint64(data[b+k]) << (8 * k)
		}
		out[i] = uint32(w >> (bit & 7) & mask)
		bit += bw
	}
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
