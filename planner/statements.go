package planner

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/kapot-go/kapot/catalog"
	"github.com/kapot-go/kapot/engine"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// Classify parses one statement, resolving external tables with the
// default object-store registry (see ClassifyIn).
func Classify(stmt string) (*Statement, error) { return ClassifyIn(catalog.New(), stmt) }

// ClassifyIn parses one statement (ParseStatement) and resolves a CREATE
// EXTERNAL TABLE's definition: its files are listed and their schema read
// through c's store under c's properties (the table is returned, not
// registered).
func ClassifyIn(c *catalog.Catalog, stmt string) (*Statement, error) {
	st, err := ParseStatement(stmt)
	if err != nil || st.Kind != StmtCreateExternalTable {
		return st, err
	}
	if st.Table, err = c.Resolve(context.Background(), st.Def, nil); err != nil {
		return nil, err
	}
	return st, nil
}

// JobName is the name a statement's job gets: its first line, at most 80
// bytes.
func JobName(sql string) string {
	sql = strings.TrimSpace(sql)
	if i := strings.IndexByte(sql, '\n'); i >= 0 {
		sql = sql[:i]
	}
	if len(sql) > 80 {
		sql = sql[:80]
	}
	// A copy: the name outlives the statement (a finished job is kept an
	// hour), and a slice would keep all of its text (megabytes for a long
	// IN list).
	return strings.Clone(sql)
}

// Explain renders a plan's operator tree, one node per line, stages cut
// at the exchanges.
func Explain(p *Plan) (string, error) {
	plan, err := engine.FromProto(p.Root)
	if err != nil {
		return "", err
	}
	var sb strings.Builder
	var walk func(n engine.ExecutionPlan, depth int)
	walk = func(n engine.ExecutionPlan, depth int) {
		fmt.Fprintf(&sb, "%s%s\n", strings.Repeat("  ", depth), engine.Unwrap(n).String())
		for _, c := range n.Children() {
			walk(c, depth+1)
		}
	}
	walk(plan, 0)
	return sb.String(), nil
}

// FormatMetrics renders operator metrics as an indented tree (children
// under their parent), one operator per line.
func FormatMetrics(ms []*kapotv1.OperatorMetrics) string {
	children := map[int64][]*kapotv1.OperatorMetrics{}
	for _, m := range ms {
		parent := int64(-1)
		if m.ParentId != nil {
			parent = int64(m.GetParentId())
		}
		children[parent] = append(children[parent], m)
	}
	var sb strings.Builder
	var walk func(parent int64, depth int)
	walk = func(parent int64, depth int) {
		for _, m := range children[parent] {
			fmt.Fprintf(&sb, "%s%s  rows=%d batches=%d compute=%s", strings.Repeat("  ", depth), m.GetName(), m.GetOutputRows(), m.GetOutputBatches(),
				time.Duration(m.GetElapsedComputeNs()).Round(time.Microsecond))
			if m.GetSpillCount() > 0 {
				fmt.Fprintf(&sb, " spills=%d spilled_bytes=%d", m.GetSpillCount(), m.GetSpilledBytes())
			}
			keys := make([]string, 0, len(m.GetCounters()))
			for k := range m.GetCounters() {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				fmt.Fprintf(&sb, " %s=%d", k, m.GetCounters()[k])
			}
			sb.WriteByte('\n')
			walk(int64(m.GetNodeId()), depth+1)
		}
	}
	walk(-1, 0)
	return sb.String()
}
