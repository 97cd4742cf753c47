package shuffle

import (
	"errors"
	"testing"
)

func TestValidateJobID(t *testing.T) {
	for _, ok := range []string{"a", "job-1", "J_2", "0abc"} {
		if err := ValidateJobID(ok); err != nil {
			t.Errorf("%q rejected: %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "-x", "a/b", "a\\b", "a b", "é", string(make([]byte, 200))} {
		if err := ValidateJobID(bad); !errors.Is(err, ErrInvalidID) {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestIndexRoundTrip(t *testing.T) {
	ix := &Index{Entries: []IndexEntry{{0, 10, 3, 1}, {10, 0, 0, 0}, {10, 5, 1, 1}}}
	got, err := DecodeIndex(ix.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Entries) != 3 || got.Entries[2] != ix.Entries[2] {
		t.Fatalf("got %+v", got)
	}
	b := ix.Encode()
	b[14] ^= 1
	if _, err := DecodeIndex(b); !errors.Is(err, ErrCorruptIndex) {
		t.Fatalf("flipped bit accepted: %v", err)
	}
}

func FuzzDecodeIndex(f *testing.F) {
	f.Add((&Index{Entries: []IndexEntry{{0, 10, 3, 1}}}).Encode())
	f.Add([]byte("KAPOTIX1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ix, err := DecodeIndex(b)
		if err != nil {
			return
		}
		var end int64
		for _, e := range ix.Entries {
			if e.Offset < end || e.Length < 0 {
				t.Fatalf("accepted bad entry %+v", e)
			}
			end = e.Offset + e.Length
		}
	})
}
