package warehouse

import (
	"context"
	"fmt"
	"os"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kapot-go/kapot/engine"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// Compaction: every INSERT adds a file or more to a managed table, and a
// table filled by many small INSERTs would be read as many small files
// (each opened, its footer parsed). When more than MaxSmallFiles of a
// version's files are smaller than SmallFileBytes, the commit that made
// them rewrites them as one file: a new version with the same rows.
const (
	SmallFileBytes = 8 << 20
	MaxSmallFiles  = 8
)

// needsCompaction reports whether m has too many small files.
func needsCompaction(m *Manifest) bool {
	n := 0
	for _, f := range m.Files {
		if f.Bytes < SmallFileBytes {
			n++
		}
	}
	return n > MaxSmallFiles
}

// compact rewrites m's small files (at most MaxSmallFiles × SmallFileBytes
// of them) as one, in this process, and commits the result as the next
// version; the small files go after the commit.
func (w *Warehouse) compact(ctx context.Context, dir, write string, m *Manifest) (*Manifest, error) {
	var small []string // locations of the small files
	var keep []File
	locs := m.Locations(dir)
	for i, f := range m.Files {
		if f.Bytes < SmallFileBytes {
			small = append(small, locs[i])
			continue
		}
		keep = append(keep, f)
	}
	id := write + "-compact"
	staging := StagingDir(dir, id)
	scan := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_ParquetScan{ParquetScan: &kapotv1.ParquetScanNode{
		FileGroups: []*kapotv1.FileGroup{{Paths: small}}}}}
	node := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Writer{Writer: &kapotv1.WriterNode{Input: scan, Location: staging, Format: "parquet"}}}
	plan, err := engine.FromProtoWith(node, engine.BuildOptions{Ctx: ctx, Store: w.Store, Properties: w.Props})
	if err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp("", "kapot-compact-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	tc := &engine.TaskContext{JobID: "compact", WorkDir: work, Mem: memory.NewGoAllocator(), Properties: map[string]string{}}
	bs, err := engine.ExecuteCollect(ctx, plan, tc)
	for _, b := range bs {
		b.Release()
	}
	tc.End()
	if err != nil {
		_ = w.Abort(ctx, staging)
		return nil, err
	}
	base := *m
	base.Files, base.Rows = keep, 0
	for _, f := range keep {
		base.Rows += f.Rows
	}
	next, err := w.commit(ctx, dir, &base, id, tc.Written(), false)
	if err != nil {
		_ = w.Abort(ctx, staging)
		return nil, err
	}
	if next.Rows != m.Rows {
		return nil, fmt.Errorf("compaction of %s: %d rows became %d", m.Table, m.Rows, next.Rows)
	}
	// Readers that planned with an older version may still be reading
	// them: they are retired (see Reclaimer), or removed now without one.
	for _, loc := range small {
		_ = w.retire(ctx, loc)
	}
	return next, nil
}
