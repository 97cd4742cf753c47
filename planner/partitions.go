package planner

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/kapot-go/kapot/engine"
)

// PropShufflePartitions is the session property that sets the partition
// count of hash exchanges (joins, grouped aggregates), overriding the one
// taken from the cluster.
const PropShufflePartitions = "kapot.shuffle.partitions"

// MaxAutoPartitions caps the partition count taken from the cluster's task
// slots (PartitionsForSlots); a session property may set more.
const MaxAutoPartitions = 128

// MaxPartitions bounds kapot.shuffle.partitions.
const MaxPartitions = 10000

// PartitionsForSlots is the partition count of hash exchanges on a
// cluster of slots task slots: one reduce task per slot, so each exchange
// uses the whole cluster in one wave, between 2 and MaxAutoPartitions.
func PartitionsForSlots(slots int) int {
	return min(max(slots, 2), MaxAutoPartitions)
}

// PartitionsProperty reads kapot.shuffle.partitions from session
// properties: 0 when it is not set.
func PartitionsProperty(props map[string]string) (int, error) {
	v, ok := props[PropShufflePartitions]
	if !ok {
		return 0, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 1 || n > MaxPartitions {
		return 0, fmt.Errorf("session property %s=%q: want a whole number from 1 to %d: %w", PropShufflePartitions, v, MaxPartitions, engine.ErrInvalidPlan)
	}
	return n, nil
}

// PropScanSplitRows is the session property that sets Options.SplitRows:
// about how many rows a partition of a large Parquet file sorted by a key
// holds when the file is read as key-range partitions (0: the default,
// 4194304; -1: a file per partition).
const PropScanSplitRows = "kapot.scan.split_rows"

// SplitRowsProperty reads kapot.scan.split_rows from session properties:
// 0 when it is not set.
func SplitRowsProperty(props map[string]string) (int64, error) {
	v, ok := props[PropScanSplitRows]
	if !ok {
		return 0, nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n < -1 {
		return 0, fmt.Errorf("session property %s=%q: want a row count, 0 for the default or -1 for a file per partition: %w", PropScanSplitRows, v, engine.ErrInvalidPlan)
	}
	return n, nil
}
