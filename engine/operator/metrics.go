package operator

import (
	"context"
	"maps"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// OperatorMetrics counts what one plan node did in one task.
type OperatorMetrics struct {
	NodeID   int
	ParentID int // -1 for the root
	Name     string
	// OutputRows and OutputBatches count what the node returned.
	OutputRows    int64
	OutputBatches int64
	// Elapsed is the time spent in the node's Execute, Next and Close calls,
	// its children's included; ElapsedCompute in Proto subtracts them.
	Elapsed      time.Duration
	SpilledBytes int64
	SpillCount   int64
	// Counters are operator-specific counts by name.
	Counters map[string]int64
}

// AddCounter adds n to the named counter of node id.
func (m *Metrics) AddCounter(id int, name string, n int64) {
	if m == nil {
		return
	}
	om := m.node(id, -1, "")
	m.mu.Lock()
	if om.Counters == nil {
		om.Counters = map[string]int64{}
	}
	om.Counters[name] += n
	m.mu.Unlock()
}

// Metrics collects the metrics of a task's operators. It is safe for
// concurrent use.
type Metrics struct {
	mu    sync.Mutex
	nodes map[int]*OperatorMetrics
}

func (m *Metrics) node(id, parent int, name string) *OperatorMetrics {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.nodes == nil {
		m.nodes = map[int]*OperatorMetrics{}
	}
	om, ok := m.nodes[id]
	if !ok {
		om = &OperatorMetrics{NodeID: id, ParentID: parent, Name: name}
		m.nodes[id] = om
	}
	return om
}

func (m *Metrics) add(om *OperatorMetrics, rows, batches int64, d time.Duration) {
	m.mu.Lock()
	om.OutputRows += rows
	om.OutputBatches += batches
	om.Elapsed += d
	m.mu.Unlock()
}

// AddOutput records that node id (named name, under node parent) returned
// rows in batches and took d: for a node that meters itself (the shuffle
// writer, a stage's root).
func (m *Metrics) AddOutput(id, parent int, name string, rows, batches int64, d time.Duration) {
	m.add(m.node(id, parent, name), rows, batches, d)
}

// AddSpill records that node id wrote bytes to a spill file.
func (m *Metrics) AddSpill(id int, bytes int64) { m.AddSpills(id, 1, bytes) }

// AddSpills records count spill files of bytes in total for node id.
func (m *Metrics) AddSpills(id int, count, bytes int64) {
	om := m.node(id, -1, "")
	m.mu.Lock()
	om.SpilledBytes += bytes
	om.SpillCount += count
	m.mu.Unlock()
}

// Snapshot returns the metrics of every node seen, by node id.
func (m *Metrics) Snapshot() []OperatorMetrics {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]OperatorMetrics, 0, len(m.nodes))
	for _, om := range m.nodes {
		c := *om
		if om.Counters != nil {
			c.Counters = maps.Clone(om.Counters)
		}
		out = append(out, c)
	}
	sortByNode(out)
	return out
}

func sortByNode(ms []OperatorMetrics) {
	for i := 1; i < len(ms); i++ {
		for j := i; j > 0 && ms[j].NodeID < ms[j-1].NodeID; j-- {
			ms[j], ms[j-1] = ms[j-1], ms[j]
		}
	}
}

// Proto converts a snapshot to its wire form, with each node's compute time
// net of its children's.
func (m *Metrics) Proto() []*kapotv1.OperatorMetrics {
	snap := m.Snapshot()
	childTime := map[int]time.Duration{}
	for _, om := range snap {
		if om.ParentID >= 0 {
			childTime[om.ParentID] += om.Elapsed
		}
	}
	out := make([]*kapotv1.OperatorMetrics, len(snap))
	for i, om := range snap {
		p := &kapotv1.OperatorMetrics{NodeId: uint32(om.NodeID), Name: om.Name, OutputRows: om.OutputRows, OutputBatches: om.OutputBatches,
			ElapsedComputeNs: max(int64(om.Elapsed-childTime[om.NodeID]), 0), SpilledBytes: om.SpilledBytes, SpillCount: om.SpillCount, Counters: om.Counters}
		if om.ParentID >= 0 {
			parent := uint32(om.ParentID)
			p.ParentId = &parent
		}
		out[i] = p
	}
	return out
}

// Metered wraps a plan node so that every operator it opens counts rows,
// batches and time into the task's Metrics under the node's id.
type Metered struct {
	ExecutionPlan
	id, parent int
}

// NewMetered wraps p, node id of its plan under node parent (-1 for the
// root).
func NewMetered(p ExecutionPlan, id, parent int) *Metered {
	return &Metered{ExecutionPlan: p, id: id, parent: parent}
}

// SetParent makes the node report to node parent in the metrics tree.
func (m *Metered) SetParent(parent int) { m.parent = parent }

// Unwrap returns the node inside the metering wrapper.
func (m *Metered) Unwrap() ExecutionPlan { return m.ExecutionPlan }

// NodeID is the node's pre-order position in its plan.
func (m *Metered) NodeID() int { return m.id }

// Execute opens partition p of the wrapped node, metered.
func (m *Metered) Execute(ctx context.Context, p int, tc *TaskContext) (Operator, error) {
	start := time.Now()
	op, err := m.ExecutionPlan.Execute(ctx, p, tc)
	if err != nil || tc == nil || tc.Metrics == nil {
		return op, err
	}
	om := tc.Metrics.node(m.id, m.parent, m.ExecutionPlan.String())
	tc.Metrics.add(om, 0, 0, time.Since(start))
	return &meteredOp{Operator: op, m: tc.Metrics, om: om}, nil
}

type meteredOp struct {
	Operator
	m  *Metrics
	om *OperatorMetrics
}

func (o *meteredOp) Next(ctx context.Context) (arrow.RecordBatch, error) {
	start := time.Now()
	b, err := o.Operator.Next(ctx)
	var rows, batches int64
	if err == nil && b != nil {
		rows, batches = b.NumRows(), 1
	}
	o.m.add(o.om, rows, batches, time.Since(start))
	return b, err
}

func (o *meteredOp) Close() error {
	start := time.Now()
	err := o.Operator.Close()
	o.m.add(o.om, 0, 0, time.Since(start))
	return err
}

// Unwrap strips metering wrappers from a plan node.
func Unwrap(p ExecutionPlan) ExecutionPlan {
	for {
		m, ok := p.(*Metered)
		if !ok {
			return p
		}
		p = m.ExecutionPlan
	}
}
