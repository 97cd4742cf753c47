package config

import (
	"fmt"
	"strconv"
	"strings"
)

// ByteSize is a data size flag that accepts plain bytes or units: 512k,
// 16m, 1g, 100MiB, 2GB (powers of 1024).
type ByteSize int64

var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
	{"kb", 1 << 10}, {"mb", 1 << 20}, {"gb", 1 << 30}, {"tb", 1 << 40},
	{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"t", 1 << 40}, {"b", 1},
}

// ParseByteSize parses a data size.
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || (n > 0 && n > (1<<62)/mult) {
		return 0, fmt.Errorf("data size %q: want a non-negative number with an optional unit (k, m, g, KiB, MiB, GiB)", s)
	}
	return ByteSize(n * mult), nil
}

// String renders the size in bytes.
func (b *ByteSize) String() string { return strconv.FormatInt(int64(*b), 10) }

// Set parses s into b.
func (b *ByteSize) Set(s string) error {
	v, err := ParseByteSize(s)
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// Type names the flag type in help output.
func (b *ByteSize) Type() string { return "size" }
