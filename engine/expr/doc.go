// Package expr is the engine's scalar expressions: binding a wire
// expression (plan.proto's PhysicalExprNode) to a schema (FromProto),
// type checking it, and evaluating it over record batches (Expr.Eval).
//
// It holds the expression nodes (columns, literals, casts, CASE, IN,
// LIKE, arithmetic with kapot's own decimal, date and interval kernels),
// the scalar function library in one registry built by a constructor
// (newFunctions; FunctionNames lists it), the text form of values
// (FormatValue) and the analyses operators make of a bound predicate:
// whether it can fail (CannotFail), its conjuncts (AndTerms), the one
// column it reads (OnlyColumn), and which Parquet row groups it rules out
// by their statistics (RowGroupPruner).
package expr
