// Package catalog holds the tables and views SQL can name: their
// definitions (ExternalTable, from CREATE EXTERNAL TABLE, a YAML file of
// TableSpec or a directory of Parquet tables), the files behind each
// table with what their footers tell the planner (row counts,
// distinct-value estimates, per-file key ranges, sort order) and Hive
// partition values. The planner binds names against a Catalog; the
// warehouse persists what is registered in it.
package catalog
