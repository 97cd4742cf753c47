package agg

import "github.com/apache/arrow-go/v18/arrow/decimal128"

// Few groups, long chains: an aggregate of a handful of groups (TPC-H
// Q1's four, a global aggregate's one) adds row after row into the same
// few counters, each add waiting on the store of the one before it (a
// load, an add and a store of one memory word: 5 to 6 cycles a row for
// each aggregate, whatever the processor could do at once). Spread over
// four lanes, consecutive rows add into different words and the chains
// run side by side; the lanes are summed into the groups at the end of
// the batch. Only exact sums take lanes (counts, integers and decimals,
// whose wrapping adds give the same total in any order): a float sum
// stays in row order.

// laneGroups is the most groups an accumulator sums in lanes (a power
// of two: a group id masked by laneGroups-1 needs no bounds check).
const laneGroups = 16

// countLanes adds, for each row, one to counts[groups[r]]; every group
// id is below len(counts) <= laneGroups.
func countLanes(counts []int64, groups []uint32) {
	var l [4][laneGroups]int64
	n := len(groups) &^ 3
	for r := 0; r < n; r += 4 {
		l[0][groups[r]&(laneGroups-1)]++
		l[1][groups[r+1]&(laneGroups-1)]++
		l[2][groups[r+2]&(laneGroups-1)]++
		l[3][groups[r+3]&(laneGroups-1)]++
	}
	for r := n; r < len(groups); r++ {
		l[0][groups[r]&(laneGroups-1)]++
	}
	for g := range counts {
		counts[g] += l[0][g] + l[1][g] + l[2][g] + l[3][g]
	}
}

// sumIntLanes adds, for each row, vals[r] to sums[groups[r]] and marks
// the group valid; every group id is below len(sums) <= laneGroups.
func sumIntLanes(sums []int64, valid []bool, groups []uint32, vals []int64) {
	var l [4][laneGroups]int64
	var seen [laneGroups]bool
	n := len(groups) &^ 3
	for r := 0; r < n; r += 4 {
		g0, g1, g2, g3 := groups[r]&(laneGroups-1), groups[r+1]&(laneGroups-1), groups[r+2]&(laneGroups-1), groups[r+3]&(laneGroups-1)
		l[0][g0] += vals[r]
		l[1][g1] += vals[r+1]
		l[2][g2] += vals[r+2]
		l[3][g3] += vals[r+3]
		seen[g0], seen[g1], seen[g2], seen[g3] = true, true, true, true
	}
	for r := n; r < len(groups); r++ {
		g := groups[r] & (laneGroups - 1)
		l[0][g] += vals[r]
		seen[g] = true
	}
	for g := range sums {
		sums[g] += l[0][g] + l[1][g] + l[2][g] + l[3][g]
		valid[g] = valid[g] || seen[g]
	}
}

// sumDecimalLanes is sumIntLanes of decimals.
func sumDecimalLanes(sums []decimal128.Num, valid []bool, groups []uint32, vals []decimal128.Num) {
	var l [4][laneGroups]decimal128.Num
	var seen [laneGroups]bool
	n := len(groups) &^ 3
	for r := 0; r < n; r += 4 {
		g0, g1, g2, g3 := groups[r]&(laneGroups-1), groups[r+1]&(laneGroups-1), groups[r+2]&(laneGroups-1), groups[r+3]&(laneGroups-1)
		l[0][g0] = l[0][g0].Add(vals[r])
		l[1][g1] = l[1][g1].Add(vals[r+1])
		l[2][g2] = l[2][g2].Add(vals[r+2])
		l[3][g3] = l[3][g3].Add(vals[r+3])
		seen[g0], seen[g1], seen[g2], seen[g3] = true, true, true, true
	}
	for r := n; r < len(groups); r++ {
		g := groups[r] & (laneGroups - 1)
		l[0][g] = l[0][g].Add(vals[r])
		seen[g] = true
	}
	for g := range sums {
		sums[g] = sums[g].Add(l[0][g]).Add(l[1][g]).Add(l[2][g]).Add(l[3][g])
		valid[g] = valid[g] || seen[g]
	}
}
