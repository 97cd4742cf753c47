package engine

import (
	"context"
	"fmt"
	"math/bits"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/kapot-go/kapot/engine/expr"
	"github.com/kapot-go/kapot/engine/rowkey"
)

// The hash join's index of its build side, and the buffers of candidate
// (build, probe) row pairs that probing fills. Both are Go memory, outside
// the Arrow allocator, so both are reserved from the task's pool before
// they are allocated, and the loops that fill them check their context.

// probeCheckRows is how many probe rows a probe loop handles between looks
// at its context, so a cancelled task leaves a long probe batch promptly.
const probeCheckRows = 1024

// buildCheckRows is the same for the loops that index the build side.
const buildCheckRows = 1 << 16

// indexRowBytes is the index memory reserved with each build row before the
// build side is indexed (whether it fits decides on spilling);
// reserveIndex reserves the rest once the index's real size is known. An
// integer-keyed index costs 21 bytes a row and 2 to 4 IntTable slots of
// 16 bytes: 53 to 85.
const indexRowBytes = 72

// mapEntryBytes is about what one key of heads costs beyond its bytes: the
// string header, the value, the map's slot overhead and the key's
// allocation rounding.
const mapEntryBytes = 64

// intKey reports whether the join's first key is integer-like on both
// sides: the build side is then indexed in a rowkey.IntTable, by that key, by two
// keys packed into one, or by a hash of all keys (see buildInt).
func (j *HashJoin) intKey() bool {
	return len(j.leftKeys) > 0 && rowkey.IsIntType(j.leftKeys[0].DataType()) && rowkey.IsIntType(j.rightKeys[0].DataType())
}

// reserveIndex grows the reservation to cover total bytes of build index
// (chains, match flags, hash table), beyond what is already reserved for it.
func (o *hashJoinOp) reserveIndex(total int64) error {
	if total <= o.indexBytes {
		return nil
	}
	if err := o.res.TryGrow(total - o.indexBytes); err != nil {
		return fmt.Errorf("%s index of %d build rows: %w", o.j.kind(), len(o.chain), err)
	}
	o.indexBytes = total
	return nil
}

// intTableBytes is the memory of rowkey.NewIntTable(hint).
func intTableBytes(hint int) int64 {
	slots := int64(1) << bits.Len(uint(max(16, 2*hint)-1))
	return slots * rowkey.IntTableSlotBytes
}

// buildMap indexes the build rows in heads by their encoded keys, the
// index of joins whose first key is not integer-like.
func (o *hashJoinOp) buildMap(ctx context.Context, all arrow.RecordBatch) error {
	n := int(all.NumRows())
	encode, release, err := keyRows(ctx, o.tc, o.j.leftKeys, all)
	if err != nil {
		return err
	}
	defer release()
	total := o.indexBytes
	var key []byte
	for r := n - 1; r >= 0; r-- { // backwards so chains list rows in input order
		if r%buildCheckRows == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		var ok bool
		if key, ok = encode(key[:0], r); !ok {
			o.chain[r] = -1
			continue
		}
		if h, found := o.heads[string(key)]; found {
			o.chain[r] = h
		} else {
			o.chain[r] = -1
			if total += mapEntryBytes + int64(len(key)); total > o.indexBytes+1<<20 {
				if err := o.reserveIndex(total); err != nil {
					return err
				}
			}
		}
		o.heads[string(key)] = int32(r)
	}
	return o.reserveIndex(total)
}

func (o *hashJoinOp) buildInt(ctx context.Context, all arrow.RecordBatch) error {
	col, err := o.j.leftKeys[0].Eval(ctx, o.tc.Mem, all)
	if err != nil {
		return fmt.Errorf("hash join key: %w", err)
	}
	defer col.Release()
	vals, _ := rowkey.IntValues(col)
	for _, k := range o.j.leftKeys[1:] {
		c, err := k.Eval(ctx, o.tc.Mem, all)
		if err != nil {
			return fmt.Errorf("hash join key: %w", err)
		}
		o.buildRest = append(o.buildRest, c)
	}
	// Chains and match flags (5 bytes a row), the widened first key and
	// the hashes of buildHashed (16), and the table.
	if err := o.reserveIndex(21*int64(len(vals)) + intTableBytes(len(vals))); err != nil {
		return err
	}
	o.heads64 = rowkey.NewIntTable(len(vals))
	if keys, ok := o.packBuildKeys(col, vals); ok {
		// Two integer keys that fit one: TPC-H Q9's (suppkey, partkey)
		// would otherwise chain every build row of a supplier and compare
		// partkeys one by one.
		for r := len(keys) - 1; r >= 0; r-- {
			rowkey.TouchBackAt(o.heads64, keys, r)
			o.chain[r] = -1
			if keys[r] < 0 {
				continue
			}
			if h, found := o.heads64.Swap(keys[r], int32(r)); found {
				o.chain[r] = h
			}
		}
		return nil
	}
	if len(o.buildRest) > 0 {
		if ok, err := o.buildHashed(ctx, col); ok || err != nil {
			return err
		}
	}
	if len(o.buildRest) == 0 && o.buildDense(col, vals) {
		return nil
	}
	valid := rowkey.ValidityOf(col)
	for r := len(vals) - 1; r >= 0; r-- { // backwards so chains list rows in input order
		rowkey.TouchBackAt(o.heads64, vals, r)
		if valid.Null(r) {
			o.chain[r] = -1
			continue
		}
		if h, found := o.heads64.Swap(vals[r], int32(r)); found {
			o.chain[r] = h
		} else {
			o.chain[r] = -1
		}
	}
	return nil
}

// denseSpan is the widest range of build keys indexed by an array (see
// hashJoinOp.dense) for n build rows: 4 bytes a key value, at most as
// much as the IntTable it replaces (16-byte slots, 2 to 4 a row).
func denseSpan(n int) int64 { return int64(max(4*n, 1024)) }

// buildDense indexes a single integer key's build rows in o.dense when
// their keys span at most denseSpan values, and reports whether it did.
func (o *hashJoinOp) buildDense(col arrow.Array, vals []int64) bool {
	valid := rowkey.ValidityOf(col)
	lo, hi, any := int64(0), int64(0), false
	for r, v := range vals {
		if valid.Null(r) {
			continue
		}
		if !any || v < lo {
			lo = v
		}
		if !any || v > hi {
			hi = v
		}
		any = true
	}
	if !any || hi-lo < 0 || hi-lo >= denseSpan(len(vals)) {
		return false
	}
	dense := make([]int32, hi-lo+1)
	for r := len(vals) - 1; r >= 0; r-- { // backwards so chains list rows in input order
		o.chain[r] = -1
		if valid.Null(r) {
			continue
		}
		i := vals[r] - lo
		o.chain[r] = dense[i] - 1
		dense[i] = int32(r) + 1
	}
	o.dense, o.denseMin = dense, lo
	return true
}

// buildHashed indexes the build rows of a join on several keys that do not
// pack into one integer by a hash of all their keys; probing compares every
// key of the candidates (a hash is not a key). Indexing such a join by its
// first key alone made every build row with that key a candidate of every
// probe row with it: TPC-DS q78 joins on (year, item, customer), and each
// probe row of a year drew all ~14,000 build rows of that year, billions of
// candidate pairs per probe batch. It reports false, indexing nothing, when
// a key's type has no row hash. On success buildRest holds every key.
func (o *hashJoinOp) buildHashed(ctx context.Context, first arrow.Array) (bool, error) {
	cols := append([]arrow.Array{first}, o.buildRest...)
	hashes := make([]uint64, first.Len())
	if rowkey.HashColumns(cols, hashes) != nil {
		return false, nil
	}
	for r := len(hashes) - 1; r >= 0; r-- { // backwards so chains list rows in input order
		if r%buildCheckRows == 0 {
			if err := ctx.Err(); err != nil {
				return true, err
			}
		}
		o.chain[r] = -1
		if anyNull(cols, r) {
			continue // null keys match nothing
		}
		if h, found := o.heads64.Swap(int64(hashes[r]), int32(r)); found {
			o.chain[r] = h
		}
	}
	first.Retain()
	o.buildRest, o.hashed = cols, true
	return true, nil
}

// anyNull reports whether row r is null in any of cols.
func anyNull(cols []arrow.Array, r int) bool {
	for _, c := range cols {
		if c.IsNull(r) {
			return true
		}
	}
	return false
}

// packBuildKeys packs a two-key integer join's build keys into one int64
// each (-1 for a row with a null key), when both keys are non-negative and
// their bits fit 62 together; it sets packed, shift and maxKeys and drops
// buildRest.
func (o *hashJoinOp) packBuildKeys(col arrow.Array, first []int64) ([]int64, bool) {
	if len(o.buildRest) != 1 || !rowkey.IsIntType(o.j.rightKeys[1].DataType()) {
		return nil, false
	}
	c2 := o.buildRest[0]
	second, ok := rowkey.IntValues(c2)
	if !ok {
		return nil, false
	}
	valid := func(r int) bool { return col.IsValid(r) && c2.IsValid(r) }
	var max1, max2 int64
	for r := range first {
		if !valid(r) {
			continue
		}
		if first[r] < 0 || second[r] < 0 {
			return nil, false
		}
		max1, max2 = max(max1, first[r]), max(max2, second[r])
	}
	shift := uint(bits.Len64(uint64(max2)))
	if uint(bits.Len64(uint64(max1)))+shift > 62 {
		return nil, false
	}
	keys := make([]int64, len(first))
	for r := range keys {
		keys[r] = -1
		if valid(r) {
			keys[r] = first[r]<<shift | second[r]
		}
	}
	c2.Release()
	o.buildRest = nil
	o.packed, o.shift, o.maxKeys = true, shift, [2]int64{max1, max2}
	return keys, true
}

// probeInt finds the build rows matching each probe row by an integer key.
func (o *hashJoinOp) probeInt(ctx context.Context, b arrow.RecordBatch, bi, pi []int32) ([]int32, []int32, error) {
	if o.hashed {
		return o.probeHashed(ctx, b, bi, pi)
	}
	col, err := o.j.rightKeys[0].Eval(ctx, o.tc.Mem, b)
	if err != nil {
		return nil, nil, fmt.Errorf("hash join key: %w", err)
	}
	defer col.Release()
	vals, keep, _ := rowkey.IntValuesBuf(col, o.probeKeys)
	o.probeKeys = keep
	if o.packed {
		return o.probePacked(ctx, b, col, vals, bi, pi)
	}
	valid := rowkey.ValidityOf(col)
	first := len(bi)
	if o.filter != nil && o.dense == nil {
		if bi, pi, err = o.probeFiltered(ctx, vals, valid.Null, bi, pi); err != nil {
			return nil, nil, err
		}
		return o.keepRest(ctx, b, first, bi, pi)
	}
	touch := o.dense == nil && o.filter == nil
	for r, v := range vals {
		if r%probeCheckRows == 0 {
			if err := ctx.Err(); err != nil {
				return nil, nil, err
			}
		}
		if touch {
			rowkey.TouchAt(o.heads64, vals, r)
		}
		if valid.Null(r) {
			continue
		}
		for m, found := o.lookup(v); found && m >= 0; m = o.chain[m] {
			if len(bi) == cap(bi) {
				if bi, pi, err = o.growMatches(ctx, bi, pi, 0); err != nil {
					return nil, nil, err
				}
			}
			bi, pi = append(bi, m), append(pi, int32(r))
		}
	}
	return o.keepRest(ctx, b, first, bi, pi)
}

// probeFiltered passes a probe batch's keys through the key filter
// first, then looks up in the table the few rows it lets by (but those
// skip says cannot match), and appends the (build, probe) row pairs that
// match.
func (o *hashJoinOp) probeFiltered(ctx context.Context, keys []int64, skip func(int) bool, bi, pi []int32) ([]int32, []int32, error) {
	o.probeRows = o.filter.Select(keys, o.probeRows[:0])
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	var err error
	for _, r32 := range o.probeRows {
		r := int(r32)
		if skip(r) {
			continue
		}
		for m, found := o.heads64.Get(keys[r]); found && m >= 0; m = o.chain[m] {
			if len(bi) == cap(bi) {
				if bi, pi, err = o.growMatches(ctx, bi, pi, 0); err != nil {
					return nil, nil, err
				}
			}
			bi, pi = append(bi, m), append(pi, r32)
		}
	}
	return bi, pi, nil
}

// keepRest keeps, of the candidate pairs from first on, those whose other
// keys match too (a join on several keys probed by its first).
func (o *hashJoinOp) keepRest(ctx context.Context, b arrow.RecordBatch, first int, bi, pi []int32) ([]int32, []int32, error) {
	if len(o.buildRest) == 0 || len(bi) == first {
		return bi, pi, nil
	}
	for i, k := range o.j.rightKeys[1:] {
		c, err := k.Eval(ctx, o.tc.Mem, b)
		if err != nil {
			return nil, nil, fmt.Errorf("hash join key: %w", err)
		}
		bi, pi, err = keepEqual(o.buildRest[i], c, first, bi, pi)
		c.Release()
		if err != nil {
			return nil, nil, err
		}
	}
	return bi, pi, nil
}

// probeHashed is probeInt for a build side indexed by buildHashed.
func (o *hashJoinOp) probeHashed(ctx context.Context, b arrow.RecordBatch, bi, pi []int32) ([]int32, []int32, error) {
	cols := make([]arrow.Array, 0, len(o.j.rightKeys))
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	for _, k := range o.j.rightKeys {
		c, err := k.Eval(ctx, o.tc.Mem, b)
		if err != nil {
			return nil, nil, fmt.Errorf("hash join key: %w", err)
		}
		cols = append(cols, c)
	}
	hashes := make([]uint64, b.NumRows())
	if err := rowkey.HashColumns(cols, hashes); err != nil {
		return nil, nil, fmt.Errorf("hash join key: %w", err)
	}
	first := len(bi)
	var err error
	for r, h := range hashes {
		if r%probeCheckRows == 0 {
			if err := ctx.Err(); err != nil {
				return nil, nil, err
			}
		}
		for m, found := o.lookup(int64(h)); found && m >= 0; m = o.chain[m] {
			if len(bi) == cap(bi) {
				if bi, pi, err = o.growMatches(ctx, bi, pi, 0); err != nil {
					return nil, nil, err
				}
			}
			bi, pi = append(bi, m), append(pi, int32(r))
		}
	}
	// Equal hashes are candidates: keep the pairs whose keys are equal
	// (a probe row with a null key is dropped here too).
	for i, c := range cols {
		if len(bi) == first {
			break
		}
		if bi, pi, err = keepEqual(o.buildRest[i], c, first, bi, pi); err != nil {
			return nil, nil, err
		}
	}
	return bi, pi, nil
}

// probePacked is probeInt for two integer keys packed into one.
func (o *hashJoinOp) probePacked(ctx context.Context, b arrow.RecordBatch, col arrow.Array, vals []int64, bi, pi []int32) ([]int32, []int32, error) {
	c2, err := o.j.rightKeys[1].Eval(ctx, o.tc.Mem, b)
	if err != nil {
		return nil, nil, fmt.Errorf("hash join key: %w", err)
	}
	defer c2.Release()
	second, _ := rowkey.IntValues(c2)
	v1, v2 := rowkey.ValidityOf(col), rowkey.ValidityOf(c2)
	max1, max2 := o.maxKeys[0], o.maxKeys[1]
	// Pack the batch's keys in place of its first key's values (vals is
	// o.probeKeys or the column's own buffer: only the former is ours);
	// a row that cannot match (a null, a key past the build side's
	// largest, negative keys wrap to large unsigned values) packs to -1,
	// which may be a build key too: ok says which rows are real.
	if len(o.packedKeys) < len(vals) {
		o.packedKeys = make([]int64, len(vals))
	}
	packed := o.packedKeys[:len(vals)]
	ok := func(r int) bool {
		return uint64(vals[r]) <= uint64(max1) && uint64(second[r]) <= uint64(max2) && !v1.Null(r) && !v2.Null(r)
	}
	nulls := col.NullN() > 0 || c2.NullN() > 0
	for r, v := range vals {
		w := second[r]
		k := v<<o.shift | w
		if uint64(v) > uint64(max1) || uint64(w) > uint64(max2) || nulls && (v1.Null(r) || v2.Null(r)) {
			k = -1
		}
		packed[r] = k
	}
	if o.filter != nil && o.dense == nil {
		return o.probeFiltered(ctx, packed, func(r int) bool { return packed[r] == -1 && !ok(r) }, bi, pi)
	}
	for r, k := range packed {
		if r%probeCheckRows == 0 {
			if err := ctx.Err(); err != nil {
				return nil, nil, err
			}
		}
		if k == -1 && !ok(r) {
			continue
		}
		for m, found := o.lookup(k); found && m >= 0; m = o.chain[m] {
			if len(bi) == cap(bi) {
				if bi, pi, err = o.growMatches(ctx, bi, pi, 0); err != nil {
					return nil, nil, err
				}
			}
			bi, pi = append(bi, m), append(pi, int32(r))
		}
	}
	return bi, pi, nil
}

// keepEqual keeps the candidate pairs from first on whose build row in
// build and probe row in probe hold equal, non-null keys.
func keepEqual(build, probe arrow.Array, first int, bi, pi []int32) ([]int32, []int32, error) {
	eq, err := keysEqual(build, probe)
	if err != nil {
		return nil, nil, err
	}
	keep := first
	for k := first; k < len(bi); k++ {
		if eq(int(bi[k]), int(pi[k])) {
			bi[keep], pi[keep] = bi[k], pi[k]
			keep++
		}
	}
	return bi[:keep], pi[:keep], nil
}

// keysEqual returns a comparison of l's row i with r's row j that is true
// when both are non-null and equal (join keys: null matches nothing).
func keysEqual(l, r arrow.Array) (func(i, j int) bool, error) {
	lv, lok := rowkey.IntValues(l)
	rv, rok := rowkey.IntValues(r)
	if lok && rok {
		if l.NullN() == 0 && r.NullN() == 0 {
			return func(i, j int) bool { return lv[i] == rv[j] }, nil
		}
		return func(i, j int) bool { return l.IsValid(i) && r.IsValid(j) && lv[i] == rv[j] }, nil
	}
	le, err := rowkey.NewEncoder(l)
	if err != nil {
		return nil, err
	}
	re, err := rowkey.NewEncoder(r)
	if err != nil {
		return nil, err
	}
	var a, b []byte
	return func(i, j int) bool {
		if l.IsNull(i) || r.IsNull(j) {
			return false
		}
		a, b = le(a[:0], i), re(b[:0], j)
		return string(a) == string(b)
	}, nil
}

// keyRows evaluates key expressions over b and returns an encoder of row
// keys; ok is false for rows with a null key (which never match).
func keyRows(ctx context.Context, tc *TaskContext, keys []expr.Expr, b arrow.RecordBatch) (func([]byte, int) ([]byte, bool), func(), error) {
	cols := make([]arrow.Array, len(keys))
	release := func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}
	encs := make([]rowkey.Encoder, len(keys))
	for i, k := range keys {
		c, err := k.Eval(ctx, tc.Mem, b)
		if err != nil {
			release()
			return nil, nil, fmt.Errorf("hash join key: %w", err)
		}
		cols[i] = c
		if encs[i], err = rowkey.NewEncoder(c); err != nil {
			release()
			return nil, nil, err
		}
	}
	return func(buf []byte, r int) ([]byte, bool) {
		for i, enc := range encs {
			if cols[i].IsNull(r) {
				return buf, false
			}
			buf = enc(buf, r)
		}
		return buf, true
	}, release, nil
}

// filterMinKeys is the build keys from which a join may filter its
// probes (see rowkey.KeyFilter): below, the table's 12 bytes a slot fit the
// caches anyway.
const filterMinKeys = 1 << 16

// filterTrialProbes is how many probes of a large build side go to the
// table first: if fewer than half of them found their key, the filter is
// built for the rest (a pass over the table's slots, wasted on a join
// whose probe rows mostly match).
const filterTrialProbes = 1 << 16

// lookup is heads64.Get, behind the key filter once the trial probes
// showed that most probe keys miss.
func (o *hashJoinOp) lookup(k int64) (int32, bool) {
	if o.dense != nil {
		i := uint64(k - o.denseMin)
		if i >= uint64(len(o.dense)) {
			return 0, false
		}
		m := o.dense[i]
		return m - 1, m != 0
	}
	if o.filter != nil {
		if !o.filter.MayContain(k) {
			return 0, false
		}
		return o.heads64.Get(k)
	}
	if o.filterProbes < 0 {
		return o.heads64.Get(k)
	}
	m, found := o.heads64.Get(k)
	if found {
		o.filterHits++
	}
	if o.filterProbes++; o.filterProbes == filterTrialProbes {
		o.filterProbes = -1 // decided
		if o.heads64.Len() >= filterMinKeys && 2*o.filterHits < filterTrialProbes {
			f := rowkey.NewKeyFilter(o.heads64)
			if o.reserveIndex(o.indexBytes+f.Bytes()) == nil {
				o.filter = f
			}
		}
	}
	return m, found
}
