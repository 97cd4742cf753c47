// Package planner turns SQL into distributed physical plans. A query goes
// through four stages, each in files named after it:
//
//   - parse (parse.go, limits.go, statements.go, write.go): statements are
//     read with PostgreSQL's own grammar (pg_query_go) and told apart;
//     kapot's own statements (CREATE EXTERNAL TABLE, SHOW, DESCRIBE,
//     EXPLAIN) are parsed from PostgreSQL's tokens.
//   - bind (bind*.go; the logical plan's relations in rel.go, expressions
//     in expr.go): names and types are resolved against a catalog
//     (package catalog) into a logical plan, printed by logical_print.go.
//     The FROM list's inner joins are left as written, a join graph.
//   - optimise (optimize*.go, cost.go): join graphs become trees of joins
//     ordered by estimated cost (a fact met by a repartitioned join meets
//     its filtered dimensions below it: sinkDimensions), scans of sorted files keep the key-range
//     splits their joins and groupings use, joins with an aggregate
//     side are marked for reduction by a semi join, windows whose ranking
//     a filter bounds learn the bound (a TopNRanking under them), and
//     aggregates over a join aggregate its fact side first where that
//     pays (eager aggregation). Uncorrelated scalar subqueries aggregating
//     the same rows of one table are merged as they are bound
//     (bind_subquery_merge.go); a ROLLUP's set of every key is its
//     pre-aggregate's groups, beside the other sets' re-aggregation
//     (bind_groupingsets.go).
//   - lower (physical*.go): the logical plan becomes the engine's plan
//     nodes, with exchanges where the plan must be repartitioned and
//     broadcasts of small join sides.
//
// pipeline.go strings the stages together (PlanQuery, ExplainLogical);
// local.go runs a plan inside this process.
package planner
