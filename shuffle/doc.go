// Package shuffle stores and finds map-task output on an executor's disk.
//
// Each map task writes ONE file holding its output partitions, each a
// complete Arrow IPC stream (schema, batches, end-of-stream), then the
// index of their offsets, lengths and counts, then the index's offset (8
// bytes, little-endian). A partition is stored contiguously, or, when the
// task spilled, as the chunks it spilled then its rest, listed in order by
// a chunked index (see FileWriter). The file is written under a
// temporary name and renamed into place whole, so a partition is visible
// only once the whole map output is. Layout under the work dir:
//
//	<work-dir>/<job-id>/<stage-id>-<map-partition>.data
//
// Paths are always derived from ids that were validated here; nothing from the
// wire is used as a path.
package shuffle
