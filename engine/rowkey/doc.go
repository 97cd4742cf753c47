// Package rowkey is how the engine keys, orders and encodes row values:
// the vectorized row hash of hash partitioning (HashColumns; a key's hash
// depends only on its values, so every executor sends it to the same
// partition), byte encodings of key values for grouping and join tables
// (Encoder, Hash) and for ordering (OrderedEncoder: bytes that compare as
// the values do), row comparators under a direction and null placement
// (NewComparator), nested values (LIST, STRUCT, MAP) in all of these in
// DuckDB's order (nested.go), the value codec of aggregate states (EncodeValue,
// DecodeValue), the int64 view of integer-like keys (IntValues) and
// IntTable, the open-addressing table of the joins and aggregates keyed by
// one integer.
package rowkey
