// Package engine runs stages of kapot physical plans: it turns a plan.proto
// tree into ExecutionPlan nodes and streams Arrow record batches through
// vectorized operators.
//
// The operator contract is written out on Operator. In short, it follows
// arrow-go's reference counting (array.RecordReader, compute): Next hands
// the caller a batch it owns and must Release (unlike cockroach's colexec,
// where the operator keeps its batch and reuses it on the next call),
// io.EOF ends the stream, Close is idempotent and safe without a prior
// Next, and cancellation comes through the ctx of Execute and Next.
// Allocators are passed explicitly through TaskContext, never taken from a
// global.
package engine
