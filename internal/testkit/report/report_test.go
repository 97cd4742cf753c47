package report

import (
	"os"
	"path/filepath"
	"testing"
)

func TestTopAndClass(t *testing.T) {
	got := Top(map[string]int{ErrorClass("row 12 of 30 (at position 8)"): 2, "b": 2, "a": 1}, 2)
	if want := "- 2 × b\n- 2 × row N of N\n"; got != want {
		t.Errorf("Top = %q, want %q", got, want)
	}
}

func TestReplaceSection(t *testing.T) {
	p := filepath.Join(t.TempDir(), "doc.md")
	if err := os.WriteFile(p, []byte("a\n<!-- x:begin -->\nold\n<!-- x:end -->\nb\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := ReplaceSection(p, "x", "new"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	if want := "a\n<!-- x:begin -->\nnew\n<!-- x:end -->\nb\n"; string(b) != want {
		t.Errorf("got %q, want %q", b, want)
	}
	if err := ReplaceSection(p, "y", "z"); err == nil {
		t.Error("a missing section is not an error")
	}
}
