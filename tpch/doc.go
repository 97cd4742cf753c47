// Package tpch generates the eight TPC-H tables for any scale factor,
// following the specification's generation rules (cardinalities, key
// layouts, value ranges, dependent columns such as o_totalprice and
// l_returnflag, and the comment text grammar). It is deterministic: a
// scale factor always yields the same rows, whatever the partitioning.
// Output streams in bounded batches, so memory stays flat as the scale
// factor grows.
package tpch
