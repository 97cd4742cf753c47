package engine

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kapot-go/kapot/internal/panics"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// panickingFetcher is a shuffle fetcher with a bug.
type panickingFetcher struct{}

func (panickingFetcher) Fetch(context.Context, *kapotv1.PartitionLocation) (io.ReadCloser, error) {
	_ = elementAt(nil, 3) // a runtime error
	return nil, nil
}

// TestShuffleReaderPrefetchPanic: a panic on the goroutine that fetches a
// remote partition ahead fails the reading task with an internal error (not
// a fetch failure that reruns the map task), and the process lives on.
func TestShuffleReaderPrefetchPanic(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	schema := arrow.NewSchema([]arrow.Field{{Name: "a", Type: arrow.PrimitiveTypes.Int64}}, nil)
	loc := &kapotv1.PartitionLocation{JobId: "j", StageId: 1, Executor: &kapotv1.ExecutorMetadata{Id: "peer"}}
	r := &ShuffleReader{stageID: 1, schema: schema, partitions: [][]*kapotv1.PartitionLocation{{loc}}}
	tc := &TaskContext{JobID: "j", ExecutorID: "me", WorkDir: t.TempDir(), Mem: mem, Fetcher: panickingFetcher{}}
	op, err := r.Execute(context.Background(), 0, tc)
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	b, err := op.Next(context.Background())
	if err == nil {
		b.Release()
		t.Fatal("no error")
	}
	if !errors.Is(err, panics.ErrInternal) || !strings.Contains(err.Error(), "internal error: runtime error: index out of range [3] with length 0") {
		t.Fatalf("error %q, want the fetch goroutine's panic as an internal error", err)
	}
}

// elementAt indexes s at run time (a runtime error on demand).
func elementAt(s []int, i int) int { return s[i] }
