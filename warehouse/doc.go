// Package warehouse keeps managed tables and commits what write jobs wrote.
//
// A managed table is a directory of the warehouse (a path or an s3://
// prefix) holding Parquet files under data/ and a manifest per version
// under _manifest/ (v00000001.json, …): the table's schema and the files
// of that version with their row counts. The highest version that reads
// back is the table; writing a new manifest (one atomic object put) is a
// commit. Readers plan with one manifest's file list, so they never see
// half of an INSERT.
//
// Write jobs write under a staging directory private to the write (tasks
// of every attempt name their files apart); the commit moves only the
// files of the attempts the scheduler accepted into place and removes the
// staging directory, and an aborted write removes it whole. Staging
// directories start with "_" or ".", which listings of tables skip.
package warehouse
