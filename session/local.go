package session

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/kapot-go/kapot/catalog"
	"github.com/kapot-go/kapot/internal/security"
	"github.com/kapot-go/kapot/planner"
	"github.com/kapot-go/kapot/warehouse"
)

// Local is the Backend of a process of its own (kapot sql without a
// cluster): its own catalog, and managed tables in Tables (nil: none).
// Its writes come back as a Query without a plan: the process runs
// Write itself (warehouse.Tables.Run).
type Local struct {
	Cat    *catalog.Catalog
	Tables *warehouse.Tables
	// Options are the planning options of its queries.
	Options planner.Options
}

var _ Backend = (*Local)(nil)

// Catalog implements Backend.
func (l *Local) Catalog() *catalog.Catalog { return l.Cat }

// Plan implements Backend.
func (l *Local) Plan(ctx context.Context, sql string, _ map[string]string) (*planner.Plan, error) {
	return planner.PlanQuery(ctx, l.Cat, sql, l.Options)
}

// ExplainLogical implements Backend.
func (l *Local) ExplainLogical(ctx context.Context, sql string, _ map[string]string) (string, error) {
	return planner.ExplainLogical(ctx, l.Cat, sql, l.Options)
}

// CreateExternalTable implements Backend: the table's files are listed
// under the catalog's properties.
func (l *Local) CreateExternalTable(ctx context.Context, def *catalog.ExternalTable, _ map[string]string, _ security.Principal) (string, error) {
	if _, exists := l.Cat.Lookup(def.Name); exists && def.IfNotExists {
		return fmt.Sprintf("table %s exists", def.Name), nil
	}
	t, err := l.Cat.Resolve(ctx, def, nil)
	if err != nil {
		return "", err
	}
	if err := l.Cat.Register(t); err != nil {
		return "", err
	}
	return fmt.Sprintf("created table %s (%d files)", t.Name, len(t.Files)), nil
}

// Define implements Backend.
func (l *Local) Define(ctx context.Context, st *planner.Statement, who security.Principal) (string, error) {
	if l.Tables == nil {
		return "", planner.NotSupported("CREATE and DROP of tables and views without a warehouse")
	}
	return l.Tables.Define(ctx, st, who, func(sql string) error {
		_, err := planner.PlanQuery(ctx, l.Cat, sql, l.Options)
		return err
	})
}

// Write implements Backend.
func (l *Local) Write(ctx context.Context, st *planner.Statement, props map[string]string, who security.Principal) (*Query, string, error) {
	if l.Tables == nil {
		return nil, "", planner.NotSupported("writes without a warehouse")
	}
	w, answer, err := l.Tables.Prepare(ctx, st, who, strings.ReplaceAll(uuid.NewString(), "-", "")[:12], props, l.Options, false)
	if err != nil || w == nil {
		return nil, answer, err
	}
	return &Query{Write: w}, "", nil
}
