// Package operator is the engine's operator contract and what a running
// task gives its operators: Operator (a stream of record batches for one
// partition; its doc comment is the contract every operator keeps),
// ExecutionPlan (a node of a physical plan that opens operators),
// TaskContext (allocator, memory pool, metrics, shared state and clean-up
// of one task), Metrics, and SpillFile (the spill files of operators that
// hold more than their reservation). The operator families (engine, engine/window)
// build on it; it imports none of them.
package operator
