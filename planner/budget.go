package planner

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/kapot-go/kapot/engine"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/wire"
)

// Planning budgets. Planning runs under the statement's context (it stops
// when the client goes away or the scheduler's planning time is up) and
// within a size: a WITH query or a view read in several places is bound
// and lowered once, but the plan the executors run holds a copy of it for
// each reference, so a chain of WITH queries each joining the previous
// one with itself doubles the plan at every level (2^40 operators at 40
// levels). Such a plan is refused, before it is built, with
// "resources exhausted: planning …".

const (
	// DefaultMaxPlanNodes is the default bound on a plan's operators.
	// TPC-H and TPC-DS plans have a few hundred.
	DefaultMaxPlanNodes = 20000
	// DefaultMaxPlanBytes is the default bound on a plan's encoded size
	// (a million-constant IN list is about 4 MB).
	DefaultMaxPlanBytes = 64 << 20
)

// PlanningTimeout is the cause to give a statement's context that ends
// when its planning time, limit, is up (context.WithTimeoutCause):
// planning then fails with it, "resources exhausted: planning …".
func PlanningTimeout(limit time.Duration) error {
	return &SQLError{Pos: -1, Err: engine.ErrResourcesExhausted, Msg: fmt.Sprintf(
		"resources exhausted: planning took more than %s (the scheduler's --max-planning-time)", limit)}
}

// ctxErr is why ctx ended (its cause: PlanningTimeout, say), or nil.
func ctxErr(ctx context.Context) error {
	if ctx.Err() == nil {
		return nil
	}
	return context.Cause(ctx)
}

// tooLarge is the error of a plan over a budget: what it would hold is
// more than limit.
func tooLarge(what string, limit int64) error {
	return &SQLError{Pos: -1, Err: engine.ErrResourcesExhausted, Msg: fmt.Sprintf(
		"resources exhausted: planning: the plan would have more than the %d %s allowed (a WITH query or view read in several places is copied into each reader: read it fewer times, or keep it with CREATE TABLE AS)",
		limit, what)}
}

func (o Options) maxNodes() int64 {
	if o.MaxPlanNodes > 0 {
		return int64(o.MaxPlanNodes)
	}
	return DefaultMaxPlanNodes
}

func (o Options) maxBytes() int64 {
	if o.MaxPlanBytes > 0 {
		return o.MaxPlanBytes
	}
	return DefaultMaxPlanBytes
}

// planSize is the size of a plan tree as the executors get it: a subtree
// the lowering shares between references counts once per reference.
type planSize struct{ nodes, bytes int64 }

// measurePlan measures the tree under root in time linear in its distinct
// nodes.
func measurePlan(root *kapotv1.PhysicalPlanNode) planSize {
	memo := map[*kapotv1.PhysicalPlanNode]planSize{}
	var walk func(n *kapotv1.PhysicalPlanNode) planSize
	walk = func(n *kapotv1.PhysicalPlanNode) planSize {
		if s, ok := memo[n]; ok {
			return s
		}
		// The node's own fields: its inputs detached for the count.
		slots := wire.InputSlots(n)
		kids := make([]*kapotv1.PhysicalPlanNode, len(slots))
		for i, sl := range slots {
			kids[i], *sl = *sl, nil
		}
		s := planSize{nodes: 1, bytes: int64(proto.Size(n))}
		for i, sl := range slots {
			*sl = kids[i]
		}
		for _, k := range kids {
			if k == nil {
				continue
			}
			c := walk(k)
			// An input is a length-delimited field: tag and length.
			s.nodes, s.bytes = satAdd(s.nodes, c.nodes), satAdd(s.bytes, satAdd(c.bytes, 6))
		}
		memo[n] = s
		return s
	}
	return walk(root)
}

// unshare copies the subtrees the lowering shares, so that the plan is a
// tree: whoever rewrites a node (the scheduler cutting stages) rewrites
// one place. It is run on plans within budget.
func unshare(root *kapotv1.PhysicalPlanNode) {
	seen := map[*kapotv1.PhysicalPlanNode]bool{}
	var walk func(slot **kapotv1.PhysicalPlanNode)
	walk = func(slot **kapotv1.PhysicalPlanNode) {
		n := *slot
		if n == nil {
			return
		}
		if seen[n] {
			*slot = proto.Clone(n).(*kapotv1.PhysicalPlanNode)
			return
		}
		seen[n] = true
		for _, c := range wire.InputSlots(n) {
			walk(c)
		}
	}
	walk(&root)
}
