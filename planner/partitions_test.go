package planner

import "testing"

func TestPartitionsForSlots(t *testing.T) {
	for _, c := range []struct{ slots, want int }{{0, 2}, {1, 2}, {2, 2}, {8, 8}, {80, 80}, {1000, MaxAutoPartitions}} {
		if got := PartitionsForSlots(c.slots); got != c.want {
			t.Errorf("PartitionsForSlots(%d) = %d, want %d", c.slots, got, c.want)
		}
	}
}

func TestPartitionsProperty(t *testing.T) {
	for _, c := range []struct {
		v    string
		want int
		bad  bool
	}{{"3", 3, false}, {" 16 ", 16, false}, {"0", 0, true}, {"-1", 0, true}, {"x", 0, true}, {"10001", 0, true}} {
		got, err := PartitionsProperty(map[string]string{PropShufflePartitions: c.v})
		if (err != nil) != c.bad || got != c.want {
			t.Errorf("%q: %d, %v", c.v, got, err)
		}
	}
	if n, err := PartitionsProperty(nil); n != 0 || err != nil {
		t.Errorf("unset: %d, %v", n, err)
	}
}

func TestSplitRowsProperty(t *testing.T) {
	for _, c := range []struct {
		v    string
		want int64
		bad  bool
	}{{"1000", 1000, false}, {" 4194304 ", 4194304, false}, {"0", 0, false}, {"-1", -1, false}, {"-2", 0, true}, {"1e6", 0, true}, {"", 0, true}} {
		got, err := SplitRowsProperty(map[string]string{PropScanSplitRows: c.v})
		if (err != nil) != c.bad || got != c.want {
			t.Errorf("%q: %d, %v", c.v, got, err)
		}
	}
	if n, err := SplitRowsProperty(nil); n != 0 || err != nil {
		t.Errorf("unset: %d, %v", n, err)
	}
}
