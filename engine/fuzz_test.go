package engine

import (
	"testing"

	"google.golang.org/protobuf/proto"
)

func FuzzDecodePlan(f *testing.F) {
	seed, _ := proto.Marshal(aggNode(salesCSV([]string{"testdata/sales.csv"}), 3))
	f.Add(seed)
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		// Any bytes: an error or a plan, never a panic.
		p, err := DecodePlan(b)
		if err == nil && p == nil {
			t.Fatal("nil plan without error")
		}
	})
}
