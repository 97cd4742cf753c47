// Package shuffle stores and finds map-task output on an executor's disk.
//
// Each map task writes ONE data file holding its output partitions stored
// contiguously, each partition a complete Arrow IPC stream (schema, batches,
// end-of-stream), plus a small index file of offsets, lengths and counts. The
// index is renamed into place last, so a partition is visible only once the
// whole map output is durable. Layout under the work dir:
//
//	<work-dir>/<job-id>/<stage-id>/<map-partition>.data
//	<work-dir>/<job-id>/<stage-id>/<map-partition>.index
//
// Paths are always derived from ids that were validated here; nothing from the
// wire is used as a path.
package shuffle
