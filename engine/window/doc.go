// Package window is the window operator: it computes window functions
// (row_number, rank, ntile, lag/lead, first/last/nth value and aggregates
// over frames of ROWS, RANGE or GROUPS) over each partition of its input,
// which arrives sorted by partition and order keys, streaming one chunk of
// whole partitions at a time. Aggregates over frames use the accumulators
// of engine/agg, or running sums where a frame only grows or slides.
package window
