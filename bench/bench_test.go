package bench

import (
	"strings"
	"testing"
)

type fakeReference struct{ threads int }

func (f fakeReference) Rows(string) ([]string, error) { return nil, nil }
func (f fakeReference) Threads() int                  { return f.threads }
func (f fakeReference) Close() error                  { return nil }

// The bench refuses a reference with fewer threads than CPUs.
func TestBenchRefusesWeakReference(t *testing.T) {
	err := checkReferenceStrength(fakeReference{threads: 1}, 2)
	if err == nil || !strings.Contains(err.Error(), "1 thread(s) on a machine of 2 CPUs") {
		t.Fatalf("one thread on 2 CPUs: %v, want a refusal", err)
	}
	for _, threads := range []int{2, 4} {
		if err := checkReferenceStrength(fakeReference{threads: threads}, 2); err != nil {
			t.Fatalf("%d threads on 2 CPUs: %v", threads, err)
		}
	}
}
