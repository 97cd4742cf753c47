package planner

import (
	"context"
	"errors"
	"strings"
	"testing"

	pg "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// TestEveryParseFieldIsClassified walks the parser's node types the binder
// reads: every field must be listed in parseFields as handled or as a
// refused feature, so that a field a newer parser adds is noticed here
// instead of being ignored by the binder.
func TestEveryParseFieldIsClassified(t *testing.T) {
	pkg := (&pg.SelectStmt{}).ProtoReflect().Descriptor().ParentFile().Package()
	for name, fields := range parseFields {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(string(pkg) + "." + name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		md := d.(protoreflect.MessageDescriptor)
		for i := 0; i < md.Fields().Len(); i++ {
			f := string(md.Fields().Get(i).Name())
			if _, ok := fields[f]; !ok {
				t.Errorf("%s.%s is new: handle it in the binder or name the feature it refuses in parseFields", name, f)
			}
		}
		for f := range fields {
			if md.Fields().ByName(protoreflect.Name(f)) == nil {
				t.Errorf("parseFields lists %s.%s, which the parser does not have", name, f)
			}
		}
	}
}

// TestUnhandledSyntaxIsRefused: each refused field, set, gives "not
// supported yet: <feature>".
func TestUnhandledSyntaxIsRefused(t *testing.T) {
	cat := tpchCatalog(t)
	for sql, feature := range map[string]string{
		`select n_name into x from nation`:                                       "SELECT INTO",
		`select n_name from nation for update`:                                   "FOR UPDATE / FOR SHARE",
		`select n_regionkey from nation group by distinct n_regionkey`:           "GROUP BY DISTINCT",
		`select n_name from public.nation`:                                       "schema-qualified table names",
		`select n_name from nation order by n_name using <`:                      "ORDER BY … USING",
		`select n_name from nation order by n_name fetch first 3 rows with ties`: "WITH TIES",
		`select x.a from nation as x(a, b)`:                                      "column aliases on a table",
		`select * from (nation join region on n_regionkey = r_regionkey) as j`:   "an alias on a JOIN",
		`select cast(n_name as text[]) from nation`:                              "array types",
		`select public.nation.n_name from nation`:                                "schema-qualified column names",
		`with recursive r as (select 1) select * from r`:                         "WITH RECURSIVE",
	} {
		_, err := PlanQuery(context.Background(), cat, sql, Options{TargetPartitions: 2})
		if !errors.Is(err, ErrNotSupported) || !strings.Contains(err.Error(), feature) {
			t.Errorf("%s: got %v, want not supported yet: %s", sql, err, feature)
		}
	}
}
