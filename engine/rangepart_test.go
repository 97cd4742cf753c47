package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kapot-go/kapot/engine/internal/wiretest"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// TestRangePartitioning: rows go to the partition whose range holds their
// key, in any order of the ranges; rows in no range and null keys are
// dropped; bad partitionings are refused.
func TestRangePartitioning(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	schema := arrow.NewSchema([]arrow.Field{{Name: "k", Type: arrow.PrimitiveTypes.Int64, Nullable: true}, {Name: "s", Type: arrow.BinaryTypes.String}}, nil)
	bld := array.NewRecordBuilder(mem, schema)
	for i := int64(-3); i < 45; i++ {
		if i == 12 {
			bld.Field(0).AppendNull()
		} else {
			bld.Field(0).(*array.Int64Builder).Append(i)
		}
		bld.Field(1).(*array.StringBuilder).Append(fmt.Sprint("r", i))
	}
	b := bld.NewRecordBatch()
	bld.Release()
	defer b.Release()
	ranges := []*kapotv1.KeyRange{{Lo: 10, Hi: 19}, {Lo: 0, Hi: 9}, {Lo: 30, Hi: 39}, {Lo: 5, Hi: 1}}
	p, err := newPartitioning(&kapotv1.Partitioning{Scheme: &kapotv1.Partitioning_Range{Range: &kapotv1.RangePartitioning{Expr: wiretest.Col("k"), Ranges: ranges}}}, schema)
	if err != nil {
		t.Fatal(err)
	}
	if p.n != 4 {
		t.Fatalf("%d partitions, want 4", p.n)
	}
	got := make([][]int64, 4)
	err = p.split(context.Background(), mem, b, new(int), func(t int, part arrow.RecordBatch) error {
		k := part.Column(0).(*array.Int64)
		for i := 0; i < k.Len(); i++ {
			got[t] = append(got[t], k.Value(i))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := make([][]int64, 4)
	for i := int64(-3); i < 45; i++ {
		switch {
		case i == 12:
		case i >= 10 && i <= 19:
			want[0] = append(want[0], i)
		case i >= 0 && i <= 9:
			want[1] = append(want[1], i)
		case i >= 30 && i <= 39:
			want[2] = append(want[2], i)
		}
	}
	for i := range want {
		if !slices.Equal(got[i], want[i]) {
			t.Errorf("partition %d: %v, want %v", i, got[i], want[i])
		}
	}
	for _, c := range []struct {
		name string
		r    *kapotv1.RangePartitioning
	}{
		{"overlap", &kapotv1.RangePartitioning{Expr: wiretest.Col("k"), Ranges: []*kapotv1.KeyRange{{Lo: 0, Hi: 10}, {Lo: 10, Hi: 20}}}},
		{"string key", &kapotv1.RangePartitioning{Expr: wiretest.Col("s"), Ranges: ranges}},
		{"no ranges", &kapotv1.RangePartitioning{Expr: wiretest.Col("k")}},
		{"no key", &kapotv1.RangePartitioning{Ranges: ranges}},
	} {
		if _, err := newPartitioning(&kapotv1.Partitioning{Scheme: &kapotv1.Partitioning_Range{Range: c.r}}, schema); !errors.Is(err, ErrInvalidPlan) {
			t.Errorf("%s: %v, want an invalid plan", c.name, err)
		}
	}
}
