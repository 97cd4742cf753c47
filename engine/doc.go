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
//
// The operators live here, one per file grouped by family (scans: scan,
// parquet*, csv, ipc; joins: join, hash_join*, nested_loop_join;
// aggregation: aggregate*; sorts: sort, merge, topn_ranking; exchanges:
// repartition, shuffle_*; nested values: unnest), or in a package of their own where the family
// stands alone (window: the window operator). Both build on operator, the
// operator contract (Operator, ExecutionPlan, TaskContext, Metrics, spill
// files), whose names engine's own alias. Below them, packages that know
// no operator:
//
//   - agg: the aggregate function library (accumulators);
//   - expr: scalar expressions, the function library, sort keys and the
//     analyses of a predicate;
//   - kernel: Arrow's kernels guarded against panics, and the gathers;
//   - rowkey: row hashing, key encodings, comparators, the value codec and
//     the integer hash table;
//   - alloc: the allocators and the memory pool.
package engine
