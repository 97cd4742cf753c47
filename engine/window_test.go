package engine

import (
	"slices"
	"testing"
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
