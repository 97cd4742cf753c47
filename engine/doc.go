// Package engine runs stages of kapot physical plans: it turns a plan.proto
// tree into ExecutionPlan nodes and streams Arrow record batches through
// vectorized operators.
//
// The operator contract (see Operator) follows arrow-go and cockroach's colexec:
// Next returns a batch the caller owns and must Release, io.EOF ends the
// stream, Close is idempotent and safe without a prior Next. Allocators are
// passed explicitly through TaskContext, never taken from a global.
package engine
