package slt

import (
	"strings"
	"testing"
)

// FuzzParse: any script text parses to records or an error, never a
// panic, and every record's line is within the text.
func FuzzParse(f *testing.F) {
	f.Add("statement ok\nCREATE TABLE t(a INTEGER)\n\nquery I rowsort\nSELECT a FROM t\n----\n1\n")
	f.Add("hash-threshold 8\n\nskipif mysql # x\nonlyif sqlite\nquery IT nosort label-1\nSELECT 1, 'a'\n----\n2 values hashing to 0123\n\nhalt\n")
	f.Add("query\n")
	f.Add("statement\n")
	f.Add("skipif\n")
	f.Fuzz(func(t *testing.T, text string) {
		recs, err := Parse(strings.NewReader(text))
		if err != nil {
			return
		}
		lines := strings.Count(text, "\n") + 1
		for _, r := range recs {
			if r.Line < 1 || r.Line > lines {
				t.Fatalf("record at line %d of %d", r.Line, lines)
			}
			if r.Kind == KindQuery && r.Types == "" {
				t.Fatalf("query without types at line %d", r.Line)
			}
		}
	})
}
