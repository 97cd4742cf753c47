// Package slt runs sqllogictest scripts (the format of SQLite's
// sqllogictest corpus) against a database and scores every record:
// passed, wrong (a result that differs from the script's), error (the
// database refused or failed) or skipped (a condition excludes it).
package slt
