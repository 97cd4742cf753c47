// Package rowkey is how the engine keys rows: the vectorized row hash of
// hash partitioning (HashColumns; a key's hash depends only on its
// values, so every executor sends it to the same partition), byte
// encodings of key values for grouping and join tables (Encoder, Hash),
// the int64 view of integer-like keys (IntValues) and IntTable, the
// open-addressing table of the joins and aggregates keyed by one integer.
package rowkey
