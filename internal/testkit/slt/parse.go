package slt

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Kind is what a record asks.
type Kind int

// The record kinds of the format.
const (
	KindStatement Kind = iota
	KindQuery
	KindHashThreshold
	KindHalt
)

// Record is one record of a script.
type Record struct {
	Kind Kind
	// Line is the 1-based line the record starts on.
	Line int
	// SQL is the statement or query text.
	SQL string
	// ExpectError: a statement that must fail (statement error).
	ExpectError bool
	// Types is one letter per result column: I integer, T text, R real.
	Types string
	// Sort is nosort, rowsort or valuesort.
	Sort string
	// Label, when set, names results that must be equal across queries.
	Label string
	// Expected are the result values one per line, or empty with
	// HashCount/Hash set ("N values hashing to H").
	Expected  []string
	HashCount int
	Hash      string
	// Threshold is the hash-threshold value of a KindHashThreshold.
	Threshold int
	// SkipIf and OnlyIf are the engines named by skipif/onlyif lines.
	SkipIf, OnlyIf []string
}

// AppliesTo reports whether the record's conditions admit engine.
func (r *Record) AppliesTo(engine string) bool {
	for _, e := range r.SkipIf {
		if e == engine {
			return false
		}
	}
	for _, e := range r.OnlyIf {
		if e != engine {
			return false
		}
	}
	return true
}

// Parse reads the records of a script.
func Parse(rd io.Reader) ([]Record, error) {
	sc := bufio.NewScanner(rd)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	var lines []string
	for sc.Scan() {
		lines = append(lines, strings.TrimRight(sc.Text(), "\r"))
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	var out []Record
	for i := 0; i < len(lines); {
		line := strings.TrimSpace(lines[i])
		if line == "" || strings.HasPrefix(line, "#") {
			i++
			continue
		}
		rec := Record{Line: i + 1}
		// Conditions precede the record.
		for {
			f := strings.Fields(stripComment(lines[i]))
			if len(f) >= 2 && (f[0] == "skipif" || f[0] == "onlyif") {
				if f[0] == "skipif" {
					rec.SkipIf = append(rec.SkipIf, f[1])
				} else {
					rec.OnlyIf = append(rec.OnlyIf, f[1])
				}
				i++
				if i >= len(lines) {
					return out, nil
				}
				continue
			}
			break
		}
		f := strings.Fields(stripComment(lines[i]))
		if len(f) == 0 {
			i++
			continue
		}
		rec.Line = i + 1
		switch f[0] {
		case "halt":
			rec.Kind = KindHalt
			out = append(out, rec)
			i++
			continue
		case "hash-threshold":
			if len(f) < 2 {
				return nil, fmt.Errorf("line %d: hash-threshold without a value", i+1)
			}
			n, err := strconv.Atoi(f[1])
			if err != nil {
				return nil, fmt.Errorf("line %d: hash-threshold %q: %w", i+1, f[1], err)
			}
			rec.Kind, rec.Threshold = KindHashThreshold, n
			out = append(out, rec)
			i++
			continue
		case "statement":
			rec.Kind = KindStatement
			if len(f) < 2 || (f[1] != "ok" && f[1] != "error") {
				return nil, fmt.Errorf("line %d: statement must be followed by ok or error", i+1)
			}
			rec.ExpectError = f[1] == "error"
			i++
			var sql []string
			for i < len(lines) && strings.TrimSpace(lines[i]) != "" {
				sql = append(sql, lines[i])
				i++
			}
			rec.SQL = strings.Join(sql, "\n")
		case "query":
			rec.Kind = KindQuery
			if len(f) < 2 {
				return nil, fmt.Errorf("line %d: query without result types", i+1)
			}
			rec.Types, rec.Sort = f[1], "nosort"
			if len(f) >= 3 {
				rec.Sort = f[2]
			}
			if len(f) >= 4 {
				rec.Label = f[3]
			}
			i++
			var sql []string
			for i < len(lines) && strings.TrimSpace(lines[i]) != "" && lines[i] != "----" {
				sql = append(sql, lines[i])
				i++
			}
			rec.SQL = strings.Join(sql, "\n")
			if i < len(lines) && lines[i] == "----" {
				i++
				for i < len(lines) && strings.TrimSpace(lines[i]) != "" {
					rec.Expected = append(rec.Expected, lines[i])
					i++
				}
				if len(rec.Expected) == 1 {
					var n int
					var h string
					if k, err := fmt.Sscanf(rec.Expected[0], "%d values hashing to %s", &n, &h); err == nil && k == 2 {
						rec.Expected, rec.HashCount, rec.Hash = nil, n, h
					}
				}
			}
		default:
			return nil, fmt.Errorf("line %d: unknown record %q", i+1, f[0])
		}
		out = append(out, rec)
	}
	return out, nil
}

func stripComment(s string) string {
	if i := strings.Index(s, "#"); i >= 0 {
		return s[:i]
	}
	return s
}
