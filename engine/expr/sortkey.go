package expr

// SortKey is one bound sort key: an expression and the direction and null
// placement of an order by it.
type SortKey struct {
	Expr       Expr
	Descending bool
	NullsFirst bool
}
