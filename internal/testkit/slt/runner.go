package slt

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Engine is the name the runner answers conditions as: kapot's SQL is
// PostgreSQL's (skipif postgresql skips, onlyif other engines skip).
const Engine = "postgresql"

// DB is what a script runs against.
type DB interface {
	// Exec runs a statement (CREATE TABLE, INSERT, …).
	Exec(ctx context.Context, sql string) error
	// Query runs a query and returns its rows as Go values: nil, int64,
	// float64, string, bool or Decimal.
	Query(ctx context.Context, sql string) ([][]any, error)
}

// Reference is a DB that can also run a query in a reference engine over
// the same data (DuckDB): where the script's answer and kapot's differ but
// the reference agrees with kapot, the script holds SQLite's dialect (its
// dynamic typing: COALESCE(1, 2.5) is the integer 1 there, 1.0 in
// PostgreSQL and DuckDB), not a wrong answer of kapot's.
type Reference interface {
	Reference(ctx context.Context, sql string) ([][]any, error)
}

// Decimal is an exact number as text ("-12.50").
type Decimal string

// ErrSetup marks an Exec failure of a statement the script expects to
// succeed: the data the later queries read is then not the script's.
var ErrSetup = errors.New("set-up statement failed")

// errInconsistent marks a wrong result no dialect explains: the wrong
// number of columns, or two queries labelled alike that disagree.
var errInconsistent = errors.New("inconsistent")

// Outcome is how a record was scored.
type Outcome int

// The outcomes.
const (
	Passed Outcome = iota
	Wrong
	Failed  // the database returned an error (refused or failed)
	Skipped // excluded by a condition, or after a failed set-up
	// Dialect: the answer differs from the script's, but the reference
	// engine (DuckDB) gives kapot's answer: SQLite's semantics, scored as
	// not passed and not wrong.
	Dialect
)

// Result is one scored query.
type Result struct {
	Record  *Record
	Outcome Outcome
	// Err is the database's error (Failed) or what differs (Wrong).
	Err error
}

// FileReport sums the records of one script.
type FileReport struct {
	Name                                    string
	Passed, Wrong, Failed, Skipped, Dialect int
	// Results holds the Wrong, Failed and Dialect results.
	Results []Result
	// SetupErr is the first failed set-up statement, if any.
	SetupErr error
	// Own counts the set-up statements kapot ran itself (CREATE TABLE,
	// INSERT, …), Fallback those that left a table to the reference
	// engine's copy, by reason in FallbackReasons.
	Own, Fallback   int
	FallbackReasons map[string]int
}

// Scored is the number of queries that ran.
func (f *FileReport) Scored() int { return f.Passed + f.Wrong + f.Failed + f.Dialect }

// Options tune a run.
type Options struct {
	// MaxQueries stops a script after this many scored queries (0: all).
	MaxQueries int
	// Slow, when set, is told of every query that took SlowAfter or
	// longer (make slt names them, so a plan that got slow is found).
	Slow      func(r *Record, took time.Duration)
	SlowAfter time.Duration
}

// Run runs the records of one script against db.
func Run(ctx context.Context, name string, recs []Record, db DB, o Options) *FileReport {
	rep := &FileReport{Name: name}
	labels := map[string]string{}
	for i := range recs {
		if err := ctx.Err(); err != nil {
			break
		}
		r := &recs[i]
		if !r.AppliesTo(Engine) {
			if r.Kind == KindQuery {
				rep.Skipped++
			}
			continue
		}
		switch r.Kind {
		case KindHalt:
			return rep
		case KindHashThreshold:
			// Results are compared by hash exactly when the script gives
			// one, so the threshold itself changes nothing here.
			continue
		case KindStatement:
			err := db.Exec(ctx, r.SQL)
			if err != nil && !r.ExpectError && rep.SetupErr == nil {
				rep.SetupErr = fmt.Errorf("line %d: %s: %w", r.Line, oneLine(r.SQL), err)
			}
			continue
		}
		if rep.SetupErr != nil {
			rep.Skipped++
			continue
		}
		if o.MaxQueries > 0 && rep.Scored() >= o.MaxQueries {
			break
		}
		start := time.Now()
		res := runQuery(ctx, r, db, labels)
		if took := time.Since(start); o.Slow != nil && took >= o.SlowAfter {
			o.Slow(r, took)
		}
		switch res.Outcome {
		case Passed:
			rep.Passed++
		case Wrong:
			rep.Wrong++
			rep.Results = append(rep.Results, res)
		case Failed:
			rep.Failed++
			rep.Results = append(rep.Results, res)
		case Dialect:
			rep.Dialect++
			rep.Results = append(rep.Results, res)
		}
	}
	return rep
}

func runQuery(ctx context.Context, r *Record, db DB, labels map[string]string) Result {
	rows, err := db.Query(ctx, r.SQL)
	if err != nil {
		return Result{Record: r, Outcome: Failed, Err: err}
	}
	res := scoreRows(r, rows, labels)
	if res.Outcome != Wrong || errors.Is(res.Err, errInconsistent) {
		return res
	}
	// The reference engine decides whether the difference is SQLite's.
	ref, ok := db.(Reference)
	if !ok {
		return res
	}
	refRows, err := ref.Reference(ctx, r.SQL)
	if err != nil {
		return res
	}
	if sameValues(r, rows, refRows) {
		return Result{Record: r, Outcome: Dialect, Err: fmt.Errorf("%v; DuckDB agrees with kapot", res.Err)}
	}
	return res
}

// sameValues reports whether two results format to the same values under
// the record's types and sort mode.
func sameValues(r *Record, a, b [][]any) bool {
	fa, ok1 := formatRows(r, a)
	fb, ok2 := formatRows(r, b)
	return ok1 && ok2 && slices.Equal(fa, fb)
}

// formatRows formats rows as the record's types say, sorted as its mode
// says, flattened; ok is false when a row has the wrong width.
func formatRows(r *Record, rows [][]any) ([]string, bool) {
	vals := make([][]string, len(rows))
	for i, row := range rows {
		if len(row) != len(r.Types) {
			return nil, false
		}
		vals[i] = make([]string, len(row))
		for j, v := range row {
			vals[i][j] = Format(v, r.Types[j])
		}
	}
	if r.Sort == "rowsort" {
		slices.SortFunc(vals, func(a, b []string) int { return slices.Compare(a, b) })
	}
	var flat []string
	for _, row := range vals {
		flat = append(flat, row...)
	}
	if r.Sort == "valuesort" {
		slices.Sort(flat)
	}
	return flat, true
}

// scoreRows compares a query's rows with the record's expected result.
func scoreRows(r *Record, rows [][]any, labels map[string]string) Result {
	for _, row := range rows {
		if len(row) != len(r.Types) {
			return Result{Record: r, Outcome: Wrong, Err: fmt.Errorf("%d columns, the script has %d (%s): %w", len(row), len(r.Types), r.Types, errInconsistent)}
		}
	}
	vals := make([][]string, len(rows))
	for i, row := range rows {
		vals[i] = make([]string, len(row))
		for j, v := range row {
			vals[i][j] = Format(v, r.Types[j])
		}
	}
	var flat []string
	switch r.Sort {
	case "rowsort":
		slices.SortFunc(vals, func(a, b []string) int { return slices.Compare(a, b) })
	}
	for _, row := range vals {
		flat = append(flat, row...)
	}
	if r.Sort == "valuesort" {
		slices.Sort(flat)
	}
	h := md5.New()
	for _, v := range flat {
		h.Write([]byte(v))
		h.Write([]byte{'\n'})
	}
	hash := hex.EncodeToString(h.Sum(nil))
	if r.Label != "" {
		if prev, ok := labels[r.Label]; ok && prev != hash {
			return Result{Record: r, Outcome: Wrong, Err: fmt.Errorf("result differs from an earlier query labelled %s: %w", r.Label, errInconsistent)}
		}
		labels[r.Label] = hash
	}
	if r.Hash != "" {
		if len(flat) != r.HashCount || hash != r.Hash {
			return Result{Record: r, Outcome: Wrong, Err: fmt.Errorf("%d values hashing to %s, the script has %d values hashing to %s (first values: %s)",
				len(flat), hash, r.HashCount, r.Hash, strings.Join(flat[:min(len(flat), 12)], " "))}
		}
		return Result{Record: r, Outcome: Passed}
	}
	want := r.Expected
	if len(want) != len(flat) && len(want) == len(vals) && len(r.Types) > 1 {
		// Results written a row per line, values separated by spaces.
		joined := make([]string, len(vals))
		for i, row := range vals {
			joined[i] = strings.Join(row, " ")
		}
		flat = joined
	}
	if !slices.Equal(flat, want) {
		return Result{Record: r, Outcome: Wrong, Err: fmt.Errorf("got %s, the script has %s", show(flat), show(want))}
	}
	return Result{Record: r, Outcome: Passed}
}

func show(v []string) string {
	if len(v) > 20 {
		return fmt.Sprintf("%q… (%d values)", v[:20], len(v))
	}
	return fmt.Sprintf("%q", v)
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return s
}

// Format prints a value as the format's column type t asks: integers
// (I) in decimal, truncating reals toward zero; reals (R) as %.3f; text
// (T) with an empty string as (empty) and characters outside printable
// ASCII as @; NULL for null.
func Format(v any, t byte) string {
	if v == nil {
		return "NULL"
	}
	switch t {
	case 'I':
		switch x := v.(type) {
		case int64:
			return strconv.FormatInt(x, 10)
		case float64:
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return "NULL"
			}
			return strconv.FormatInt(int64(x), 10)
		case bool:
			if x {
				return "1"
			}
			return "0"
		case Decimal:
			r, ok := new(big.Rat).SetString(string(x))
			if !ok {
				return string(x)
			}
			q := new(big.Int).Quo(r.Num(), r.Denom()) // truncates toward zero
			return q.String()
		case string:
			if n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64); err == nil {
				return strconv.FormatInt(n, 10)
			}
			if f, err := strconv.ParseFloat(strings.TrimSpace(x), 64); err == nil {
				return strconv.FormatInt(int64(f), 10)
			}
			return "0"
		}
	case 'R':
		switch x := v.(type) {
		case int64:
			return fmt.Sprintf("%.3f", float64(x))
		case float64:
			return fmt.Sprintf("%.3f", x)
		case Decimal:
			f, err := strconv.ParseFloat(string(x), 64)
			if err != nil {
				return string(x)
			}
			return fmt.Sprintf("%.3f", f)
		case bool:
			if x {
				return "1.000"
			}
			return "0.000"
		case string:
			f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
			if err != nil {
				return "0.000"
			}
			return fmt.Sprintf("%.3f", f)
		}
	}
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case int64:
		s = strconv.FormatInt(x, 10)
	case float64:
		s = strconv.FormatFloat(x, 'g', -1, 64)
	case Decimal:
		s = string(x)
	case bool:
		s = strconv.FormatBool(x)
	default:
		s = fmt.Sprint(x)
	}
	if s == "" {
		return "(empty)"
	}
	b := []byte(s)
	for i, c := range b {
		if c < ' ' || c > '~' {
			b[i] = '@'
		}
	}
	return string(b)
}
