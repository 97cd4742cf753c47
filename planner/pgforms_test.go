package planner

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/kapot-go/kapot/errs"
)

// TestPostgresFormErrors: the PostgreSQL forms of issue 38 (DISTINCT ON,
// string_agg(DISTINCT), row values, LATERAL) give PostgreSQL's errors where
// PostgreSQL refuses them, and name the shape kapot does not plan yet.
func TestPostgresFormErrors(t *testing.T) {
	cat := tpchCatalog(t)
	for _, c := range []struct {
		sql, msg string
		class    error
		sqlstate string
	}{
		{`select distinct on (n_regionkey) n_name from nation order by n_name`,
			"SELECT DISTINCT ON expressions must match initial ORDER BY expressions", errs.ErrInvalidColumnReference, "42P10"},
		{`select distinct on (n_regionkey, n_nationkey) n_name from nation order by n_regionkey, n_name`,
			"SELECT DISTINCT ON expressions must match initial ORDER BY expressions", errs.ErrInvalidColumnReference, "42P10"},
		{`select distinct on (n_regionkey) n_name from nation order by n_name, n_regionkey`,
			"SELECT DISTINCT ON expressions must match initial ORDER BY expressions", errs.ErrInvalidColumnReference, "42P10"},
		{`select distinct on (3) n_name from nation`, "position 3 is not in the select list", errs.ErrInvalidPlan, "42000"},
		{`select string_agg(distinct r_name, ',' order by r_regionkey) from region`,
			"in an aggregate with DISTINCT, ORDER BY expressions must appear in argument list", errs.ErrInvalidColumnReference, "42P10"},
		{`select string_agg(distinct r_name, ',' order by r_name, r_regionkey) from region`,
			"in an aggregate with DISTINCT, ORDER BY expressions must appear in argument list", errs.ErrInvalidColumnReference, "42P10"},
		{`select string_agg(distinct r_name, ',') over () from region`,
			"not supported yet: FILTER, DISTINCT or ORDER BY in a window function call", ErrNotSupported, "0A000"},
	} {
		_, err := PlanQuery(context.Background(), cat, c.sql, Options{TargetPartitions: 2})
		if err == nil || !strings.Contains(err.Error(), c.msg) || !errors.Is(err, c.class) || errs.SQLState(err) != c.sqlstate {
			t.Errorf("%s:\n got %v (%s)\nwant %q (%s)", c.sql, err, errs.SQLState(err), c.msg, c.sqlstate)
		}
	}
	// PostgreSQL accepts the DISTINCT ON keys in any order at the start of
	// the ORDER BY, or the ORDER BY a prefix of them.
	for _, sql := range []string{
		`select distinct on (n_regionkey, n_nationkey) n_name from nation order by n_nationkey, n_regionkey, n_name`,
		`select distinct on (n_regionkey, n_nationkey) n_name from nation order by n_regionkey`,
	} {
		if _, err := PlanQuery(context.Background(), cat, sql, Options{TargetPartitions: 2}); err != nil {
			t.Errorf("%s: %v", sql, err)
		}
	}
}
