// Package pqflat decodes flat numeric Parquet columns (INT32, INT64,
// FLOAT and DOUBLE leaves outside any LIST, STRUCT or MAP, required or
// optional) from their pages straight into Arrow arrays of the task's
// allocator: PLAIN and dictionary-encoded data pages, versions 1 and 2;
// string or binary columns whose every data page is dictionary encoded,
// as Arrow dictionaries (strings.go); and string or binary columns read
// as themselves, PLAIN or dictionary encoded (bytes.go).
//
// pqarrow's record reader decodes the same pages run by run, with an
// allocation on every call (a 4 KiB index buffer, the dictionary grown
// value by value, level buffers): 16-24 ns a value for the nullable,
// dictionary-encoded keys of files DuckDB, Spark and pyarrow write, a
// fifth of the CPU of a TPC-DS run. Here dictionary indexes and
// definition levels unpack in bulk into scratch space the reader keeps.
//
// A Reader is also Selective: it reads only the rows a scan's prefilters
// chose of a batch, each value where it lies, and skips the others.
//
// Columns it does not cover (other types, encodings such as
// DELTA_BINARY_PACKED, nested columns) stay with pqarrow: Supported says
// which. A Reader yields batches of exactly the rows pqarrow's would (its
// batch size, across row groups), so the two mix in one scan.
package pqflat
