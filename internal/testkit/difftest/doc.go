// Package difftest generates random but valid SQL queries over a known
// schema, for differential testing of kapot against DuckDB and for
// metamorphic checks of kapot against itself; and shrinks a query that
// shows a difference to a small reproduction.
package difftest
