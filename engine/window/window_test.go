package window

import (
	"context"
	"errors"
	"io"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kapot-go/kapot/engine/internal/optest"
	"github.com/kapot-go/kapot/engine/internal/wiretest"
	"github.com/kapot-go/kapot/engine/operator"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

func TestNtile(t *testing.T) {
	// PostgreSQL: 10 rows in 4 buckets are 3, 3, 2, 2.
	var got []int64
	for i := int64(0); i < 10; i++ {
		got = append(got, ntile(i, 10, 4))
	}
	if want := []int64{1, 1, 1, 2, 2, 2, 3, 3, 4, 4}; !slices.Equal(got, want) {
		t.Fatalf("ntile(4) over 10 rows: %v, want %v", got, want)
	}
	got = got[:0]
	for i := int64(0); i < 3; i++ {
		got = append(got, ntile(i, 3, 5))
	}
	if want := []int64{1, 2, 3}; !slices.Equal(got, want) {
		t.Fatalf("ntile(5) over 3 rows: %v, want %v", got, want)
	}
}

func TestWindowFrames(t *testing.T) {
	// Two partitions: rows 0-3 (peers 1-2) and rows 4-5.
	newPart := []bool{true, false, false, false, true, false}
	newPeer := []bool{true, true, false, true, true, true}
	f := frames(newPart, newPeer, true)
	if want := []int{0, 0, 0, 0, 4, 4}; !slices.Equal(f.part, want) {
		t.Errorf("part %v, want %v", f.part, want)
	}
	if want := []int{4, 4, 4, 4, 6, 6}; !slices.Equal(f.partEnd, want) {
		t.Errorf("partEnd %v, want %v", f.partEnd, want)
	}
	if want := []int{1, 3, 3, 4, 5, 6}; !slices.Equal(f.frameEnd, want) {
		t.Errorf("frameEnd (to the last peer) %v, want %v", f.frameEnd, want)
	}
	if want := []int{0, 1, 1, 3, 4, 5}; !slices.Equal(f.peerStart, want) {
		t.Errorf("peerStart %v, want %v", f.peerStart, want)
	}
	if u := frames(newPart, newPeer, false); !slices.Equal(u.frameEnd, u.partEnd) {
		t.Errorf("without order keys the frame is the partition: %v", u.frameEnd)
	}
}

// TestWindowStreamsPartitions: over input sorted by partition key and far
// larger than one chunk, the window computes chunk by chunk with every
// partition whole (row_number restarts, the partition's sum is complete,
// running sums and lag stay within it), for partitions much smaller and
// much larger than a chunk, and frees every buffer.
func TestWindowStreamsPartitions(t *testing.T) {
	for _, tc := range []struct {
		name          string
		rows, perPart int
	}{
		{"small partitions", 3*windowChunkRows + 17, 7},
		{"partitions across chunks", 3*windowChunkRows + 5, windowChunkRows/2 + 3},
		{"one partition larger than two chunks", 2*windowChunkRows + 100, 1 << 30},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			schema := arrow.NewSchema([]arrow.Field{{Name: "k", Type: arrow.PrimitiveTypes.Int64}, {Name: "v", Type: arrow.PrimitiveTypes.Int64}}, nil)
			src := optest.NewSource(schema)
			for done := 0; done < tc.rows; done += 1000 {
				b := array.NewRecordBuilder(mem, schema)
				for i := done; i < min(done+1000, tc.rows); i++ {
					b.Field(0).(*array.Int64Builder).Append(int64(i / tc.perPart))
					b.Field(1).(*array.Int64Builder).Append(int64(i % 5))
				}
				src.Batches = append(src.Batches, b.NewRecordBatch())
				b.Release()
			}
			defer func() {
				for _, b := range src.Batches {
					b.Release()
				}
			}()
			agg := func(fn kapotv1.AggregateFunction) *kapotv1.WindowFunctionNode {
				return &kapotv1.WindowFunctionNode{Fn: kapotv1.WindowFunction_WINDOW_FUNCTION_AGGREGATE, Aggregate: fn, Arg: wiretest.Col("v")}
			}
			whole := agg(kapotv1.AggregateFunction_AGGREGATE_FUNCTION_SUM)
			whole.Frame = &kapotv1.WindowFrame{Units: kapotv1.WindowFrameUnits_WINDOW_FRAME_UNITS_ROWS,
				Start: &kapotv1.WindowFrameBound{Kind: kapotv1.WindowFrameBoundKind_WINDOW_FRAME_BOUND_KIND_UNBOUNDED_PRECEDING},
				End:   &kapotv1.WindowFrameBound{Kind: kapotv1.WindowFrameBoundKind_WINDOW_FRAME_BOUND_KIND_UNBOUNDED_FOLLOWING}}
			running := agg(kapotv1.AggregateFunction_AGGREGATE_FUNCTION_SUM)
			running.Frame = &kapotv1.WindowFrame{Units: kapotv1.WindowFrameUnits_WINDOW_FRAME_UNITS_ROWS,
				Start: &kapotv1.WindowFrameBound{Kind: kapotv1.WindowFrameBoundKind_WINDOW_FRAME_BOUND_KIND_UNBOUNDED_PRECEDING},
				End:   &kapotv1.WindowFrameBound{Kind: kapotv1.WindowFrameBoundKind_WINDOW_FRAME_BOUND_KIND_CURRENT_ROW}}
			w, err := New(src, &kapotv1.WindowNode{
				PartitionBy: []*kapotv1.PhysicalExprNode{wiretest.Col("k")},
				Functions: []*kapotv1.WindowFunctionNode{
					{Fn: kapotv1.WindowFunction_WINDOW_FUNCTION_ROW_NUMBER, Name: "rn"},
					whole, running,
					{Fn: kapotv1.WindowFunction_WINDOW_FUNCTION_LAG, Arg: wiretest.Col("v"), Offset: 1, Name: "lag"},
				}})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			op, err := w.Execute(ctx, 0, &operator.TaskContext{Mem: mem, BatchSize: 4096, Properties: map[string]string{}})
			if err != nil {
				t.Fatal(err)
			}
			defer op.Close()
			// The expected values, from the rows' definitions.
			partSum := map[int64]int64{}
			for i := 0; i < tc.rows; i++ {
				partSum[int64(i/tc.perPart)] += int64(i % 5)
			}
			row := 0
			var run int64
			for {
				b, err := op.Next(ctx)
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				k, v := b.Column(0).(*array.Int64), b.Column(1).(*array.Int64)
				rn, sum, rs, lag := b.Column(2).(*array.Int64), b.Column(3).(*array.Int64), b.Column(4).(*array.Int64), b.Column(5).(*array.Int64)
				for i := 0; i < int(b.NumRows()); i++ {
					pos := row % tc.perPart
					if tc.perPart > tc.rows {
						pos = row
					}
					if pos == 0 {
						run = 0
					}
					run += v.Value(i)
					switch {
					case k.Value(i) != int64(row/tc.perPart) || v.Value(i) != int64(row%5):
						t.Fatalf("row %d: input (%d, %d) out of order", row, k.Value(i), v.Value(i))
					case rn.Value(i) != int64(pos+1):
						t.Fatalf("row %d: row_number %d, want %d", row, rn.Value(i), pos+1)
					case sum.Value(i) != partSum[k.Value(i)]:
						t.Fatalf("row %d: partition sum %d, want %d", row, sum.Value(i), partSum[k.Value(i)])
					case rs.Value(i) != run:
						t.Fatalf("row %d: running sum %d, want %d", row, rs.Value(i), run)
					case pos == 0 && lag.IsValid(i), pos > 0 && lag.Value(i) != int64((row-1)%5):
						t.Fatalf("row %d: lag %v", row, lag.GetOneForMarshal(i))
					}
					row++
				}
				b.Release()
			}
			if row != tc.rows {
				t.Fatalf("%d rows out, want %d", row, tc.rows)
			}
		})
	}
}
