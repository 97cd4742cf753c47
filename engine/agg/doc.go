// Package agg is the aggregate function library: one Accumulator per
// aggregate call (count, sum, avg, min, max (of nested values too), count
// distinct, string_agg, array_agg, the percentiles, the statistics and
// approx_count_distinct), keeping a
// state per group that it updates from input values, merges from partial
// states (two-phase aggregation, spilled partitions) and turns into
// results. The hash aggregate and the window operator drive it; it knows
// nothing of operators.
package agg
