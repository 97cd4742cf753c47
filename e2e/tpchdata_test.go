package e2e

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/kapot-go/kapot/internal/testkit/oracle/duck"
	"github.com/kapot-go/kapot/tpch"
)

// tpchSet is TPC-H data generated once per test binary for one scale
// factor and file count, and shared by every test that asks for it: the
// tests read it (tables over dir, DuckDB over dir) and never write into
// it; TestMain fails the run if a file in it changed. Generating SF 0.1
// takes 5 to 15 s on a 2-core machine; eight tests and the chaos suite
// used to do it each. DuckDB's answers to the TPC-H queries over it are
// computed once too.
type tpchSet struct {
	dir  string
	db   *duck.DB // the oracle over dir; shared, so no test closes it
	list string   // the files of dir as generated (checkTPCHSets)

	mu      sync.Mutex
	answers map[int][]string // TPC-H query number → DuckDB's rows
}

type tpchKey struct {
	sf    float64
	parts int
}

type tpchEntry struct {
	once sync.Once
	set  *tpchSet
	err  error
}

var tpchSets = struct {
	sync.Mutex
	root  string // the temporary directory of every set, removed by TestMain
	byKey map[tpchKey]*tpchEntry
}{byKey: map[tpchKey]*tpchEntry{}}

// sharedTPCH returns the TPC-H data at scale factor sf in parts files per
// table (region and nation have one), generated on first use.
func sharedTPCH(t testing.TB, sf float64, parts int) *tpchSet {
	t.Helper()
	k := tpchKey{sf, parts}
	tpchSets.Lock()
	e := tpchSets.byKey[k]
	if e == nil {
		e = &tpchEntry{}
		tpchSets.byKey[k] = e
	}
	if tpchSets.root == "" {
		root, err := os.MkdirTemp("", "kapot-e2e-tpch-")
		if err != nil {
			tpchSets.Unlock()
			t.Fatal(err)
		}
		tpchSets.root = root
	}
	root := tpchSets.root
	tpchSets.Unlock()
	e.once.Do(func() {
		e.set, e.err = generateTPCH(filepath.Join(root, fmt.Sprintf("sf%g-files%d", sf, parts)), sf, parts)
	})
	if e.err != nil {
		t.Fatal(e.err)
	}
	return e.set
}

func generateTPCH(dir string, sf float64, parts int) (*tpchSet, error) {
	if err := tpch.Generate(context.Background(), tpch.Options{SF: sf, Dir: dir, Partitions: parts}); err != nil {
		return nil, err
	}
	list, err := listFiles(dir)
	if err != nil {
		return nil, err
	}
	db, err := duck.OpenTPCH(dir)
	if err != nil {
		return nil, err
	}
	return &tpchSet{dir: dir, db: db, list: list, answers: map[int][]string{}}, nil
}

// answer is DuckDB's answer to TPC-H query n over the set.
func (s *tpchSet) answer(t testing.TB, n int) []string {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if rows, ok := s.answers[n]; ok {
		return rows
	}
	text, err := tpch.Query(n)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := s.db.Rows(text)
	if err != nil {
		t.Fatalf("q%d oracle: %v", n, err)
	}
	s.answers[n] = rows
	return rows
}

// listFiles lists every file under dir with its size and modification
// time, one a line.
func listFiles(dir string) (string, error) {
	var b strings.Builder
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fmt.Fprintf(&b, "%s %v %d %d\n", rel, info.Mode(), info.Size(), info.ModTime().UnixNano())
		return nil
	})
	return b.String(), err
}

// checkTPCHSets closes the shared sets' oracles, fails if a test changed
// a set's files (they are shared: a test that writes must copy), and
// removes them.
func checkTPCHSets() error {
	tpchSets.Lock()
	defer tpchSets.Unlock()
	var errs []string
	for k, e := range tpchSets.byKey {
		if e.set == nil {
			continue
		}
		e.set.db.Close()
		now, err := listFiles(e.set.dir)
		if err != nil {
			errs = append(errs, err.Error())
		} else if now != e.set.list {
			errs = append(errs, fmt.Sprintf("a test changed the shared TPC-H data SF %g in %d files (%s):\nas generated:\n%safter the tests:\n%s",
				k.sf, k.parts, e.set.dir, e.set.list, now))
		}
	}
	if tpchSets.root != "" {
		os.RemoveAll(tpchSets.root)
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return nil
}
