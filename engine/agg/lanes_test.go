package agg

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/decimal128"
)

// TestLanesMatchRowOrder: counts and exact sums in lanes equal the sums
// in row order for every batch length (the tail after the last four rows
// included), for one group to laneGroups, groups left unmet staying
// invalid, values that wrap included.
func TestLanesMatchRowOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, groupsN := range []int{1, 2, 5, laneGroups} {
		for _, rows := range []int{0, 1, 3, 4, 7, 1000, 1027} {
			groups := make([]uint32, rows)
			ints := make([]int64, rows)
			decs := make([]decimal128.Num, rows)
			for r := range rows {
				groups[r] = uint32(rng.IntN(groupsN))
				if groupsN > 2 && groups[r] == 2 {
					groups[r] = 1 // group 2 is never met
				}
				ints[r] = rng.Int64() // sums wrap
				decs[r] = decimal128.New(rng.Int64N(10), rng.Uint64())
			}
			wantC, gotC := make([]int64, groupsN), make([]int64, groupsN)
			wantS, gotS := make([]int64, groupsN), make([]int64, groupsN)
			wantD, gotD := make([]decimal128.Num, groupsN), make([]decimal128.Num, groupsN)
			wantV, gotV, gotDV := make([]bool, groupsN), make([]bool, groupsN), make([]bool, groupsN)
			for g := range groupsN { // earlier batches' totals
				wantC[g], gotC[g] = 5, 5
				wantS[g], gotS[g] = 7, 7
			}
			for r, g := range groups {
				wantC[g]++
				wantS[g] += ints[r]
				wantD[g] = wantD[g].Add(decs[r])
				wantV[g] = true
			}
			countLanes(gotC, groups)
			sumIntLanes(gotS, gotV, groups, ints)
			sumDecimalLanes(gotD, gotDV, groups, decs)
			if !slices.Equal(gotC, wantC) || !slices.Equal(gotS, wantS) || !slices.Equal(gotD, wantD) ||
				!slices.Equal(gotV, wantV) || !slices.Equal(gotDV, wantV) {
				t.Fatalf("%d groups, %d rows: counts %v want %v, sums %v want %v, valid %v/%v want %v",
					groupsN, rows, gotC, wantC, gotS, wantS, gotV, gotDV, wantV)
			}
		}
	}
}
