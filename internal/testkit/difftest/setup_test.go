package difftest

import "testing"

// TestSameUnordered: rows compare as multisets with numbers canonical
// (1.50 is 1.5, -0 is 0, wherever they sort), and differing rows still
// differ.
func TestSameUnordered(t *testing.T) {
	got := []string{"-0|b", "0.00|-0", "-2.25|-1.25", "NULL|-0", "1.50|2", "-1|a"}
	want := []string{"-1|a", "-2.25|-1.25", "0|0", "1.5|2", "NULL|0", "0|b"}
	if err := Same(got, want, false); err != nil {
		t.Fatalf("same rows: %v", err)
	}
	if err := Same(got, []string{"-1|a", "-2.25|-1.25", "0|0", "1.5|2", "NULL|1", "0|b"}, false); err == nil {
		t.Fatal("different rows compared equal")
	}
	if err := Same([]string{"-0|1", "0|2"}, []string{"0|2", "0|1"}, true); err == nil {
		t.Fatal("rows in another order compared equal when ordered")
	}
}
