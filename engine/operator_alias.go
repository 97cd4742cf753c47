package engine

import "github.com/kapot-go/kapot/engine/operator"

// The operator contract lives in engine/operator, below the operator
// families; these are its names as engine's API has them.

// Operator is operator.Operator: a running stream of record batches for
// one partition.
type Operator = operator.Operator

// ExecutionPlan is operator.ExecutionPlan: a node of a physical plan.
type ExecutionPlan = operator.ExecutionPlan

// TaskContext is operator.TaskContext: what a running task gives its
// operators.
type TaskContext = operator.TaskContext

// Metrics is operator.Metrics: the metrics of a task's operators.
type Metrics = operator.Metrics

// OperatorMetrics is operator.OperatorMetrics: what one plan node did in
// one task.
type OperatorMetrics = operator.OperatorMetrics

// DefaultBatchSize is operator.DefaultBatchSize.
const DefaultBatchSize = operator.DefaultBatchSize

// Unwrap strips metering wrappers from a plan node (see operator.Unwrap).
func Unwrap(p ExecutionPlan) ExecutionPlan { return operator.Unwrap(p) }
