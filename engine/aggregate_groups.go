package engine

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute/exec"

	"github.com/kapot-go/kapot/engine/operator"
	"github.com/kapot-go/kapot/engine/rowkey"
)

// noShortKey marks a row whose keys do not pack into 8 bytes.
const noShortKey = ^uint64(0)

// packShortKeys packs, for every row, the string key columns cols into a
// uint64: each value as its length byte followed by its bytes, all values
// in 8 bytes at most (TPC-H Q1's return flag and line status, Q12's ship
// mode), so that a group is found by one open-addressing probe instead of a
// byte-encoded key and a Go map. Rows with a null or longer keys get
// noShortKey. It returns nil when a column is not a string array without
// nulls, or fewer than half the rows pack.
func packShortKeys(cols []arrow.Array, out []uint64) []uint64 {
	strs := make([]strColumn, len(cols))
	for i, c := range cols {
		s, ok := c.(*array.String)
		if !ok || s.NullN() > 0 {
			return nil
		}
		strs[i] = strColumn{s.ValueOffsets(), s.ValueBytes()}
	}
	n := cols[0].Len()
	if out, ok := packFixedKeys(strs, n, out); ok {
		return out
	}
	misses := 0
	for r := range n {
		var k uint64
		shift, ok := uint(0), true
		for _, s := range strs {
			v := s.data[s.offs[r]-s.offs[0] : s.offs[r+1]-s.offs[0]]
			if int(shift)/8+1+len(v) > 8 {
				ok = false
				break
			}
			k |= uint64(len(v)+1) << shift // +1: an empty string is not padding
			shift += 8
			for _, c := range v {
				k |= uint64(c) << shift
				shift += 8
			}
		}
		if !ok || k == noShortKey {
			k = noShortKey
			misses++
		}
		out = append(out, k)
	}
	if 2*misses > n {
		return nil
	}
	return out
}

// strColumn is a string column's offsets (its slice's, from offs[0]) and
// bytes (from offs[0]).
type strColumn struct {
	offs []int32
	data []byte
}

// packFixedKeys is packShortKeys for columns whose values each have one
// length (flags, codes: TPC-H Q1's return flag and line status, one byte
// each), all packing into 8 bytes: column by column, each row's bytes at
// a fixed place, without a loop over each value's bytes (Q1 spent 10 ns a
// row packing two flags). ok is false when they do not qualify.
func packFixedKeys(strs []strColumn, n int, out []uint64) ([]uint64, bool) {
	if n == 0 {
		return out, false
	}
	width := 0
	lens := make([]int, len(strs))
	for i, s := range strs {
		l := int(s.offs[1] - s.offs[0])
		if int(s.offs[n]-s.offs[0]) != l*n {
			return out, false
		}
		for r := 1; r < n; r++ {
			if int(s.offs[r+1]-s.offs[r]) != l {
				return out, false
			}
		}
		lens[i] = l
		width += 1 + l
	}
	if width > 8 {
		return out, false
	}
	start := len(out)
	out = slices.Grow(out, n)[:start+n]
	keys := out[start:]
	clear(keys)
	shift := uint(0)
	for i, s := range strs {
		l := lens[i]
		head := uint64(l+1) << shift // +1: an empty string is not padding
		data := s.data[:l*n]
		switch l {
		case 0:
			for r := range keys {
				keys[r] |= head
			}
		case 1:
			for r := range keys {
				keys[r] |= head | uint64(data[r])<<(shift+8)
			}
		default:
			for r := range keys {
				v := data[r*l : r*l+l]
				k := head
				for j, c := range v {
					k |= uint64(c) << (shift + 8 + 8*uint(j))
				}
				keys[r] |= k
			}
		}
		shift += uint(8 * (1 + l))
	}
	for _, k := range keys {
		if k == noShortKey {
			return out[:start], false
		}
	}
	return out, true
}

// groupIntPairs assigns group ids for two integer-like key columns
// (TPC-H Q20's l_partkey, l_suppkey): the first key indexes the open
// addressing table, which points at the newest group with that key; groups
// sharing a first key are chained, and the second key picks among them.
// Rows with a null key take the byte-encoded path (byKey), whose groups
// never equal these.
func (o *hashAggOp) groupIntPairs(cols []arrow.Array, v0, v1 []int64, ids []uint32, byKey func(int) (uint32, error)) ([]uint32, int64, error) {
	var grown int64
	if narrowInt(cols[0]) && narrowInt(cols[1]) {
		ids, err := pairRows(cols, v0, v1, ids, byKey, func(r int, a, b int64) uint32 {
			return o.packedPairGroup(r, a, b, &grown)
		})
		return ids, grown, err
	}
	if o.pairHeads == nil {
		o.pairHeads = rowkey.NewIntTable(0)
	}
	ids, err := pairRows(cols, v0, v1, ids, byKey, func(r int, a, b int64) uint32 {
		return o.chainedPairGroup(r, a, b, &grown)
	})
	return ids, grown, err
}

// pairRows appends the group of each row of two integer-like key columns
// (values v0, v1) to ids: a row with a null key's through byKey, the
// others' through group.
func pairRows(cols []arrow.Array, v0, v1 []int64, ids []uint32, byKey func(int) (uint32, error), group func(r int, a, b int64) uint32) ([]uint32, error) {
	nulls := cols[0].NullN() > 0 || cols[1].NullN() > 0
	for r, a := range v0 {
		if nulls && (cols[0].IsNull(r) || cols[1].IsNull(r)) {
			id, err := byKey(r)
			if err != nil {
				return nil, err
			}
			ids = append(ids, id)
			continue
		}
		ids = append(ids, group(r, a, v1[r]))
	}
	return ids, nil
}

// chainedPairGroup is the group of keys (a, b) of row r in the pair
// table, a new one if none (its bytes added to grown).
func (o *hashAggOp) chainedPairGroup(r int, a, b int64, grown *int64) uint32 {
	// The table is keyed by a hash of both keys (one key alone can
	// have few values, making long chains); the chain compares both.
	h := int64(rowkey.Mix64(uint64(a)*0x9e3779b97f4a7c15 ^ uint64(b)))
	head, found := o.pairHeads.Get(h)
	g := head
	if !found {
		g = -1
	}
	for g >= 0 && (o.pairKey1[g] != b || o.pairKey0[g] != a) {
		g = o.pairNext[g]
	}
	if g < 0 {
		g = int32(o.n)
		*grown += o.addGroup(r, 24)
		// Groups the byte-encoded path made have no pair entries.
		for len(o.pairNext) < int(g) {
			o.pairNext, o.pairKey0, o.pairKey1 = append(o.pairNext, -1), append(o.pairKey0, 0), append(o.pairKey1, 0)
		}
		if !found {
			head = -1
		}
		o.pairNext, o.pairKey0, o.pairKey1 = append(o.pairNext, head), append(o.pairKey0, a), append(o.pairKey1, b)
		o.pairHeads.Swap(h, g)
	}
	return uint32(g)
}

// narrowInt reports whether an integer-like column's values fit in 32
// bits (every type rowkey.IntValues widens but INT64).
func narrowInt(col arrow.Array) bool { return col.DataType().ID() != arrow.INT64 }

// packedPairGroup is the group of keys (a, b) of 32 bits or fewer of row
// r (TPC-DS's surrogate keys, dates): both packed into one int64, the key
// of index64, so a row costs one probe of a table that holds its keys in
// its slots (the chained pair table costs a probe, the chain's keys and a
// second probe to insert: 265 against ~110 ns a row at a million groups).
// The key types are the aggregate's, so every batch takes this path.
func (o *hashAggOp) packedPairGroup(r int, a, b int64, grown *int64) uint32 {
	k := int64(uint64(uint32(a))<<32 | uint64(uint32(b)))
	id, ok := o.index64.GetOrPut(k, int32(o.n))
	if !ok {
		*grown += o.addGroup(r, 16)
	}
	return uint32(id)
}

// groupInts assigns group ids for one integer-like key column: while the
// keys come in a few ascending runs, without a hash table (sortedRuns;
// Q18's partial aggregate by l_orderkey spent 19 ns a row probing a table
// larger than the caches for keys it could not hold, its final aggregate
// 73), then through index64.
func (o *hashAggOp) groupInts(col arrow.Array, vals []int64, ids []uint32) ([]uint32, int64, error) {
	var grown int64
	nulls := col.NullN() > 0
	for r, v := range vals {
		if o.sorted == nil {
			rowkey.TouchAt(o.index64, vals, r)
		}
		if nulls && col.IsNull(r) {
			if o.nullGroup < 0 {
				o.nullGroup = int64(o.n)
				grown += o.addGroup(r, 8)
			}
			ids = append(ids, uint32(o.nullGroup))
			continue
		}
		if o.sorted != nil {
			id, isNew, ok := o.sorted.group(v, int32(o.n))
			if ok {
				ids = append(ids, uint32(id))
				if isNew {
					grown += o.addGroup(r, 8)
				}
				continue
			}
			o.unsort()
		}
		id32, ok := o.index64.GetOrPut(v, int32(o.n))
		id := uint32(id32)
		if !ok {
			grown += o.addGroup(r, 8)
		}
		ids = append(ids, id)
	}
	return ids, grown, nil
}

// unsort moves the groups groupInts found without a table into index64,
// which finds them from then on.
func (o *hashAggOp) unsort() {
	o.index64 = rowkey.NewIntTable(o.sorted.len())
	o.sorted.each(func(k int64, id int32) { o.index64.GetOrPut(k, id) })
	o.sorted = nil
}

// PropPartialAggGroups is the session property bounding the groups a
// PARTIAL hash aggregate holds: past it, the aggregate emits its groups'
// state and starts over with an empty table (the FINAL aggregate merges
// the pieces), as Trino's partial aggregations flush at a memory bound. A
// table that stays small stays in the CPU's caches, so on input in key
// order (a table sorted or clustered by its group key, TPC-H's lineitem by
// l_orderkey) each group is still emitted about once at a fraction of the
// cost; 0 or absent means DefaultPartialAggGroups, -1 no bound.
const PropPartialAggGroups = "kapot.agg.partial_groups"

// DefaultPartialAggGroups is the default of PropPartialAggGroups.
const DefaultPartialAggGroups = 1 << 16

// partialGroupsProperty reads PropPartialAggGroups: the bound, or 0 for
// none.
func partialGroupsProperty(props map[string]string) (int, error) {
	v, ok := props[PropPartialAggGroups]
	if !ok || v == "" || v == "0" {
		return DefaultPartialAggGroups, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < -1 {
		return 0, fmt.Errorf("session property %s=%q: want a group count, 0 for the default or -1 for no bound: %w", PropPartialAggGroups, v, ErrInvalidPlan)
	}
	return max(n, 0), nil
}

// partialGroupsCap is how far a partial aggregate's bound grows (a
// multiple of its base) while its groups reduce the rows poorly.
const partialGroupsCap = 4

// partialFull decides, when a PARTIAL aggregate's table reaches its bound,
// whether to emit the groups and start over (true) or keep going. Input in
// key order or with few groups reduces well (each group took two rows or
// more): emit, the next groups come from the next rows. Otherwise the keys
// are spread: the bound doubles, up to partialGroupsCap times its base, so
// that a table of a few hundred thousand groups in random order still
// reduces, unless the table filled with nearly every row a group of its
// own (see below). At the cap with most rows still groups of their own (more than
// 80 %, DataFusion's and Trino's threshold for skipping partial
// aggregation), the aggregate emits and passes every later row through as
// its own group's state: the FINAL aggregate does the grouping either way,
// and the table only costs.
func (o *hashAggOp) partialFull() bool {
	if o.rowsIn >= 2*int64(o.n) {
		return true
	}
	if 20*int64(o.n) > 19*o.rowsIn {
		// Nearly every row its own group (over 95 %): a table even at
		// the cap would hold too few of the keys to reduce (random keys
		// look so only when they number ten times the table or more),
		// so the rows pass through now rather than at the cap (TPC-DS
		// q78's and q97's aggregates by customer and item, 550 000 rows
		// into 547 000 groups).
		o.passThrough = true
		return true
	}
	if o.maxGroups < partialGroupsCap*o.baseGroups {
		o.maxGroups *= 2
		return false
	}
	if 5*int64(o.n) > 4*o.rowsIn {
		o.passThrough = true
	}
	return true
}

// passBatch turns the rows of b into partial state, each row its own group:
// the group key columns as evaluated and each aggregate's state over one
// row, with no hash table.
func (o *hashAggOp) passBatch(ctx context.Context, b arrow.RecordBatch) (arrow.RecordBatch, error) {
	defer b.Release()
	ctx = exec.WithAllocator(ctx, o.tc.Mem)
	rows := int(b.NumRows())
	ids := make([]uint32, rows)
	for i := range ids {
		ids[i] = uint32(i)
	}
	var cols []arrow.Array
	defer func() { operator.ReleaseAll(cols) }()
	for _, g := range o.h.groups {
		c, err := g.Eval(ctx, o.tc.Mem, b)
		if err != nil {
			return nil, fmt.Errorf("aggregate: %w", err)
		}
		cols = append(cols, c)
	}
	for _, s := range o.h.aggs {
		acc, err := s.newAcc()
		if err != nil {
			return nil, err
		}
		acc.Grow(rows)
		if err := o.feed(ctx, acc, s, b, ids); err != nil {
			return nil, fmt.Errorf("aggregate %s: %w", s.name, err)
		}
		cols = append(cols, acc.State(o.tc.Mem)...)
	}
	return array.NewRecordBatch(o.h.stateSchema, cols, int64(rows)), nil
}
