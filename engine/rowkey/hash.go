package rowkey

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/kapot-go/kapot/errs"
)

// Vectorized row hashing for hash partitioning. The hash of a row depends
// only on its key values (never on the process), so every executor sends a
// key to the same partition; integers of any width and dates hash by their
// int64 value, so keys of different integer types still meet.

const (
	hashSeed  = 0x9e3779b97f4a7c15
	hashNull  = 0x7a3b9c1d5e2f4a6b
	hashPrime = 0xff51afd7ed558ccd
)

// Mix64 is a 64-bit finalizer (murmur3's fmix64).
func Mix64(h uint64) uint64 {
	h ^= h >> 33
	h *= hashPrime
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

func combine(h, v uint64) uint64 { return Mix64(h ^ (v + hashSeed + (h << 6) + (h >> 2))) }

// hashBytes hashes a byte string 8 bytes at a time.
func hashBytes(b []byte) uint64 {
	h := uint64(len(b)) * hashPrime
	for len(b) >= 8 {
		h = combine(h, binary.LittleEndian.Uint64(b))
		b = b[8:]
	}
	var tail uint64
	for i, c := range b {
		tail |= uint64(c) << (8 * i)
	}
	return combine(h, tail)
}

// HashColumns folds the values of cols into hashes, one per row (hashes
// must have the rows' length and start at the same value for every batch).
func HashColumns(cols []arrow.Array, hashes []uint64) error {
	for _, c := range cols {
		if err := hashColumn(c, hashes); err != nil {
			return err
		}
	}
	return nil
}

func hashInts[T int8 | int16 | int32 | int64 | uint8 | uint16 | uint32 | uint64 | arrow.Date32](vals []T, arr arrow.Array, hashes []uint64) {
	if arr.NullN() == 0 {
		for i, v := range vals {
			hashes[i] = combine(hashes[i], uint64(int64(v)))
		}
		return
	}
	for i, v := range vals {
		if arr.IsNull(i) {
			hashes[i] = combine(hashes[i], hashNull)
		} else {
			hashes[i] = combine(hashes[i], uint64(int64(v)))
		}
	}
}

func hashColumn(arr arrow.Array, hashes []uint64) error {
	each := func(f func(i int) uint64) {
		for i := range hashes {
			if arr.IsNull(i) {
				hashes[i] = combine(hashes[i], hashNull)
			} else {
				hashes[i] = combine(hashes[i], f(i))
			}
		}
	}
	switch a := arr.(type) {
	case *array.Int8:
		hashInts(a.Int8Values(), arr, hashes)
	case *array.Int16:
		hashInts(a.Int16Values(), arr, hashes)
	case *array.Int32:
		hashInts(a.Int32Values(), arr, hashes)
	case *array.Int64:
		hashInts(a.Int64Values(), arr, hashes)
	case *array.Uint8:
		hashInts(a.Uint8Values(), arr, hashes)
	case *array.Uint16:
		hashInts(a.Uint16Values(), arr, hashes)
	case *array.Uint32:
		hashInts(a.Uint32Values(), arr, hashes)
	case *array.Uint64:
		hashInts(a.Uint64Values(), arr, hashes)
	case *array.Date32:
		hashInts(a.Date32Values(), arr, hashes)
	case *array.Timestamp:
		each(func(i int) uint64 { return uint64(a.Value(i)) })
	case *array.MonthDayNanoInterval:
		// Normalized, as the key encoding: equal intervals meet.
		each(func(i int) uint64 {
			m, d, us := NormalizeInterval(a.Value(i))
			return combine(combine(uint64(m), uint64(d)), uint64(us))
		})
	case *array.Boolean:
		each(func(i int) uint64 {
			if a.Value(i) {
				return 1
			}
			return 0
		})
	case *array.Float32:
		each(func(i int) uint64 { return math.Float64bits(normFloat64(float64(a.Value(i)))) })
	case *array.Float64:
		each(func(i int) uint64 { return math.Float64bits(normFloat64(a.Value(i))) })
	case *array.Decimal128:
		each(func(i int) uint64 {
			v := a.Value(i)
			return combine(v.LowBits(), uint64(v.HighBits()))
		})
	case *array.String:
		each(func(i int) uint64 { return hashBytes([]byte(a.Value(i))) })
	case *array.LargeString:
		each(func(i int) uint64 { return hashBytes([]byte(a.Value(i))) })
	case *array.Binary:
		each(func(i int) uint64 { return hashBytes(a.Value(i)) })
	case *array.Null:
		for i := range hashes {
			hashes[i] = combine(hashes[i], hashNull)
		}
	case *array.List, *array.Map, *array.Struct:
		// By the key encoding: values that group together meet.
		k, err := nestedKey(arr)
		if err != nil {
			return err
		}
		var buf []byte
		each(func(i int) uint64 {
			buf = k(buf[:0], i)
			return hashBytes(buf)
		})
	default:
		return fmt.Errorf("hash partitioning by %s: %w", arr.DataType(), errs.ErrNotSupported)
	}
	return nil
}
