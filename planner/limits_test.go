package planner

import (
	"context"
	"strings"
	"testing"
)

// TestDeepSQLIsRefusedNotACrash: SQL nested deeper than the parser can
// hand over (a 100,000-term sum used to crash the process in C) is refused
// with a clear error, and wide but shallow SQL (long OR chains, long IN
// lists, TPC-H) still plans.
func TestDeepSQLIsRefusedNotACrash(t *testing.T) {
	cat := tpchCatalog(t)
	for _, sql := range []string{
		"select " + strings.Repeat("1+", 100000) + "1",
		"select " + strings.Repeat("(", 50000) + "1" + strings.Repeat(")", 50000),
		"select " + strings.Repeat("- ", 50000) + "1",
		"select n_name from nation where " + strings.Repeat("not ", 50000) + "true",
		"select " + strings.Repeat("1+(", 3000) + "1" + strings.Repeat(")", 3000),
		"select '" + strings.Repeat("x", MaxSQLBytes) + "'",
	} {
		_, err := PlanQuery(context.Background(), cat, sql, Options{TargetPartitions: 2})
		if err == nil || !strings.Contains(err.Error(), "too complex") && !strings.Contains(err.Error(), "more than the") {
			t.Errorf("%.40s… (%d bytes): got %v, want a refusal", sql, len(sql), err)
		}
	}
	for _, sql := range []string{
		"select " + strings.Repeat("1+", 900) + "1",
		"select n_name from nation where " + strings.Repeat("n_nationkey = 1 or ", 20000) + "n_nationkey = 2",
		"select n_name from nation where n_nationkey in (" + strings.Repeat("1, ", 50000) + "2)",
		"select case " + strings.Repeat("when n_nationkey = 1 then 'a' ", 3000) + "else 'b' end from nation",
	} {
		if _, err := PlanQuery(context.Background(), cat, sql, Options{TargetPartitions: 2}); err != nil {
			t.Errorf("%.60s…: %v", sql, err)
		}
	}
}
