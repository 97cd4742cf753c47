// Package wire converts between the wire contract (proto/kapot/v1) and
// Arrow: data types, schemas and literals, and walks wire plan trees. It
// depends on proto and arrow only, so the thin Go client, the planner, the
// scheduler and the engine share it without importing each other.
package wire

import "github.com/kapot-go/kapot/errs"

// ErrInvalidPlan marks wire plans and types that are malformed
// (errs.ErrInvalidPlan).
var ErrInvalidPlan = errs.ErrInvalidPlan

// ErrNotSupported marks types or values the wire contract cannot carry
// (errs.ErrNotSupported).
var ErrNotSupported = errs.ErrNotSupported
