package engine

import (
	"context"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/compute/exec"

	"github.com/kapot-go/kapot/engine/expr"
	"github.com/kapot-go/kapot/engine/operator"
	"github.com/kapot-go/kapot/engine/rowkey"
)

// graceFanout is how many partitions a spilling hash join splits into.
const graceFanout = 16

// maxGraceLevel bounds re-partitioning of a partition that still does not
// fit.
const maxGraceLevel = 2

// newGraceFiles creates one spill file per grace partition.
func (o *hashJoinOp) newGraceFiles(schema *arrow.Schema) ([]*operator.SpillFile, error) {
	files := make([]*operator.SpillFile, graceFanout)
	for i := range files {
		f, err := operator.NewSpillFile(o.tc, schema, o.j.kind())
		if err != nil {
			for _, g := range files[:i] {
				g.Abort()
			}
			return nil, err
		}
		files[i] = f
	}
	return files, nil
}

// partitionTo writes the rows of b to files by a hash of keys. The bits
// used differ from the shuffle's and between levels, so a partition that is
// split again actually splits.
func (o *hashJoinOp) partitionTo(ctx context.Context, b arrow.RecordBatch, keys []expr.Expr, files []*operator.SpillFile) error {
	ectx := exec.WithAllocator(ctx, o.tc.Mem)
	cols := make([]arrow.Array, len(keys))
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	for i, k := range keys {
		c, err := k.Eval(ectx, o.tc.Mem, b)
		if err != nil {
			return fmt.Errorf("%s key: %w", o.j.kind(), err)
		}
		cols[i] = c
	}
	hashes := make([]uint64, b.NumRows())
	if err := rowkey.HashColumns(cols, hashes); err != nil {
		return err
	}
	shift := 32 + 8*o.level
	targets := make([]int32, len(hashes))
	for i, h := range hashes {
		targets[i] = int32((h >> shift) % graceFanout)
	}
	return scatter(ectx, o.tc.Mem, b, targets, graceFanout, func(t int, part arrow.RecordBatch) error {
		return files[t].Write(part)
	})
}

// spillProbe partitions the whole probe side like the build side and
// queues the pairs of files for sub-joins.
func (o *hashJoinOp) spillProbe(ctx context.Context, build []*operator.SpillFile) error {
	abort := func(fs []*operator.SpillFile) {
		for _, f := range fs {
			if f != nil {
				f.Abort()
			}
		}
	}
	probeFiles, err := o.newGraceFiles(o.j.right.Schema())
	if err != nil {
		abort(build)
		return err
	}
	err = func() error {
		var op Operator
		var err error
		if o.probeFrom != nil {
			op, err = o.probeFrom.Open(o.tc)
		} else {
			op, err = o.j.right.Execute(ctx, o.part, o.tc)
		}
		if err != nil {
			return err
		}
		return operator.ForEachBatch(ctx, op, func(b arrow.RecordBatch) error { return o.partitionTo(ctx, b, o.j.rightKeys, probeFiles) })
	}()
	if err != nil {
		abort(build)
		abort(probeFiles)
		return err
	}
	var count, bytes int64
	for i := range build {
		for _, f := range []*operator.SpillFile{build[i], probeFiles[i]} {
			n, err := f.Finish()
			if err != nil {
				return fmt.Errorf("%s: %w", o.j.kind(), err)
			}
			count, bytes = count+1, bytes+n
		}
		o.grace = append(o.grace, [2]*operator.SpillFile{build[i], probeFiles[i]})
	}
	if o.tc.Metrics != nil {
		o.tc.Metrics.AddSpills(o.j.nodeID, count, bytes)
	}
	o.res.Close() // leave the pool: the sub-joins get the whole share
	return nil
}

// nextGrace returns the next batch of the sub-joins of spilled partitions.
func (o *hashJoinOp) nextGrace(ctx context.Context) (arrow.RecordBatch, error) {
	for {
		if o.sub == nil {
			if len(o.grace) == 0 {
				return nil, io.EOF
			}
			pair := o.grace[0]
			o.grace = o.grace[1:]
			o.sub = newHashJoinOp(o.j, o.tc, o.part, o.tc.Pool.NewReservation(fmt.Sprintf("%s[partition %d, spilled part]", o.j.kind(), o.part)))
			o.sub.level, o.sub.buildFrom, o.sub.probeFrom = o.level+1, pair[0], pair[1]
		}
		b, err := o.sub.Next(ctx)
		if err != io.EOF {
			return b, err
		}
		o.sub.Close()
		o.sub = nil
	}
}
