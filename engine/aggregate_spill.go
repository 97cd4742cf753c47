package engine

import (
	"context"
	"fmt"

	"github.com/kapot-go/kapot/engine/kernel"
	"github.com/kapot-go/kapot/engine/operator"
	"github.com/kapot-go/kapot/engine/rowkey"
)

// maxAggSpillLevel bounds how often spilled state is re-partitioned and
// spilled again before the aggregate gives up.
const maxAggSpillLevel = 3

// aggSpillPartitions is how many files an aggregate's state spills into.
const aggSpillPartitions = 16

// spill writes the hash table's state to the spill partitions (by a hash of
// the group key that depends on the spill level) and empties the table.
func (o *hashAggOp) spill(ctx context.Context) error {
	if o.level >= maxAggSpillLevel {
		return fmt.Errorf("aggregate: state does not fit in memory after %d levels of spilling: %w", o.level, ErrResourcesExhausted)
	}
	state, err := o.emit(true)
	if err != nil {
		return err
	}
	defer state.Release()
	if o.spills == nil {
		for i := 0; i < aggSpillPartitions; i++ {
			f, err := operator.NewSpillFile(o.tc, o.h.stateSchema, "aggregate")
			if err != nil {
				return err
			}
			o.spills = append(o.spills, f)
		}
	}
	rows := int(state.NumRows())
	encs := make([]rowkey.Encoder, o.h.numGroups)
	for i := range encs {
		if encs[i], err = rowkey.NewEncoder(state.Column(i)); err != nil {
			return err
		}
	}
	idx := make([][]int32, len(o.spills))
	var key []byte
	shift := 20 + 4*o.level // bits unrelated to the shuffle's hash mod n
	for r := 0; r < rows; r++ {
		key = key[:0]
		for _, enc := range encs {
			key = enc(key, r)
		}
		t := int((rowkey.Hash(key) >> shift) % uint64(len(o.spills)))
		idx[t] = append(idx[t], int32(r))
	}
	for t, rowsOf := range idx {
		if len(rowsOf) == 0 {
			continue
		}
		sub, err := kernel.TakeRows(ctx, o.tc.Mem, state, rowsOf)
		if err != nil {
			return err
		}
		err = o.spills[t].Write(sub)
		sub.Release()
		if err != nil {
			return fmt.Errorf("aggregate: %w", err)
		}
	}
	return o.reset()
}

// finishSpills closes the spill files and queues them for aggregation.
func (o *hashAggOp) finishSpills() error {
	for _, f := range o.spills {
		n, err := f.Finish()
		if err != nil {
			return fmt.Errorf("aggregate: %w", err)
		}
		if o.tc.Metrics != nil {
			o.tc.Metrics.AddSpill(o.h.nodeID, n)
		}
		if f.Rows() > 0 {
			o.merging = append(o.merging, f)
		}
	}
	o.spills = nil
	return nil
}

// openMerge starts aggregating the next spilled partition.
func (o *hashAggOp) openMerge() error {
	f := o.merging[0]
	o.merging = o.merging[1:]
	r, err := f.Open(o.tc)
	if err != nil {
		return fmt.Errorf("aggregate: %w", err)
	}
	op, err := newHashAggOp(o.h.merge, r, o.tc, o.level+1, o.res.Name()+" spill")
	if err != nil {
		r.Close()
		return err
	}
	o.res.Free() // the table is empty; let the partition use the share
	o.cur = op
	return nil
}
