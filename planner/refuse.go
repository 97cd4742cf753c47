package planner

import (
	"fmt"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// parseFields lists, for every parse-tree node the binder reads, each of
// its fields: "" for a field the binder handles (or that the parser never
// sets), otherwise the feature it stands for, which is refused as "not
// supported yet: <feature>" whenever the field is set. A field that is
// not listed is refused too, under its own name, and
// TestEveryParseFieldIsClassified fails: a pg_query upgrade that adds a
// field cannot slip past the binder unhandled.
var parseFields = map[string]map[string]string{
	"SelectStmt": {
		"distinct_clause": "", "target_list": "", "from_clause": "", "where_clause": "", "group_clause": "",
		"having_clause": "", "window_clause": "", "values_lists": "", "sort_clause": "", "limit_offset": "",
		"limit_count": "", "limit_option": "", "with_clause": "", "op": "", "all": "", "larg": "", "rarg": "",
		"into_clause": "SELECT INTO", "group_distinct": "GROUP BY DISTINCT", "locking_clause": "FOR UPDATE / FOR SHARE",
	},
	"ResTarget":      {"name": "", "val": "", "location": "", "indirection": "subscripts and field selection"},
	"ColumnRef":      {"fields": "", "location": ""},
	"RangeVar":       {"relname": "", "alias": "", "location": "", "inh": "", "relpersistence": "", "catalogname": "catalog-qualified table names", "schemaname": "schema-qualified table names"},
	"RangeSubselect": {"lateral": "", "subquery": "", "alias": ""},
	"JoinExpr": {"jointype": "", "is_natural": "", "larg": "", "rarg": "", "using_clause": "", "quals": "", "rtindex": "",
		"alias": "an alias on a JOIN", "join_using_alias": "an alias on JOIN USING"},
	"FuncCall": {"funcname": "", "args": "", "agg_order": "", "agg_filter": "", "over": "", "agg_within_group": "",
		"agg_star": "", "agg_distinct": "", "func_variadic": "", "funcformat": "", "location": ""},
	"SortBy":       {"node": "", "sortby_dir": "", "sortby_nulls": "", "location": "", "use_op": "ORDER BY … USING"},
	"A_Expr":       {"kind": "", "name": "", "lexpr": "", "rexpr": "", "location": ""},
	"BoolExpr":     {"xpr": "", "boolop": "", "args": "", "location": ""},
	"NullTest":     {"xpr": "", "arg": "", "nulltesttype": "", "argisrow": "", "location": ""},
	"TypeCast":     {"arg": "", "type_name": "", "location": ""},
	"CaseExpr":     {"xpr": "", "casetype": "", "casecollid": "", "arg": "", "args": "", "defresult": "", "location": ""},
	"CaseWhen":     {"xpr": "", "expr": "", "result": "", "location": ""},
	"MinMaxExpr":   {"xpr": "", "minmaxtype": "", "minmaxcollid": "", "inputcollid": "", "op": "", "args": "", "location": ""},
	"BooleanTest":  {"xpr": "", "arg": "", "booltesttype": "", "location": ""},
	"GroupingSet":  {"kind": "", "content": "", "location": ""},
	"GroupingFunc": {"xpr": "", "args": "", "refs": "", "agglevelsup": "", "location": ""},
	"WindowDef": {"name": "", "refname": "", "partition_clause": "", "order_clause": "", "frame_options": "",
		"start_offset": "", "end_offset": "", "location": ""},
	"SQLValueFunction": {"xpr": "", "op": "", "type": "", "typmod": "", "location": ""},
	"A_Const":          {"ival": "", "fval": "", "boolval": "", "sval": "", "isnull": "", "location": "", "bsval": "bit-string literals"},
	"SubLink":          {"xpr": "", "sub_link_type": "", "sub_link_id": "", "testexpr": "", "oper_name": "", "subselect": "", "location": ""},
	"CoalesceExpr":     {"xpr": "", "coalescetype": "", "coalescecollid": "", "args": "", "location": ""},
	"WithClause":       {"ctes": "", "recursive": "", "location": ""},
	"CommonTableExpr": {"ctename": "", "aliascolnames": "", "ctequery": "", "location": "", "ctematerialized": "",
		"cterecursive": "", "cterefcount": "", "ctecolnames": "", "ctecoltypes": "", "ctecoltypmods": "", "ctecolcollations": "",
		"search_clause": "SEARCH in WITH", "cycle_clause": "CYCLE in WITH"},
	"TypeName": {"names": "", "type_oid": "", "typmods": "", "typemod": "", "location": "",
		"setof": "SETOF types", "pct_type": "%TYPE", "array_bounds": "array types"},
	"Alias":         {"aliasname": "", "colnames": ""},
	"A_Indirection": {"arg": "", "indirection": ""},
	"A_Indices":     {"is_slice": "list slices l[a:b]", "lidx": "list slices l[a:b]", "uidx": ""},
}

// checkFields refuses a parse-tree node that sets a field the binder does
// not handle (see parseFields).
func checkFields(m proto.Message, pos int32) error {
	if m == nil {
		return nil
	}
	r := m.ProtoReflect()
	if !r.IsValid() {
		return nil
	}
	name := string(r.Descriptor().Name())
	fields, known := parseFields[name]
	var err error
	r.Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		f := string(fd.Name())
		feature, ok := fields[f]
		switch {
		case !known:
			return true // a node kind the binder refuses or handles by itself
		case !ok:
			err = notSupported(pos, fmt.Sprintf("%s.%s", name, f))
		case feature != "":
			err = notSupported(pos, feature)
		}
		return err == nil
	})
	return err
}

// nodeMessage is the message a Node wraps (its oneof value).
func nodeMessage(n *pg.Node) proto.Message {
	if n == nil {
		return nil
	}
	r := n.ProtoReflect()
	od := r.Descriptor().Oneofs().ByName("node")
	if od == nil {
		return nil
	}
	fd := r.WhichOneof(od)
	if fd == nil || fd.Kind() != protoreflect.MessageKind {
		return nil
	}
	return r.Get(fd).Message().Interface()
}

// refuseNode refuses a parse-tree node the binder has no rule for, naming
// it: "not supported yet: <what> ROW(a, b) (RowExpr)", its SQL text as the
// parser's deparser writes it (cut at 80 characters) and its node kind.
func refuseNode(what string, n *pg.Node) error {
	kind := "unknown"
	if m := nodeMessage(n); m != nil {
		kind = string(m.ProtoReflect().Descriptor().Name())
	}
	feature := fmt.Sprintf("%s (%s)", what, kind)
	if text := nodeText(n, what == "FROM item"); text != "" {
		feature = fmt.Sprintf("%s %s (%s)", what, text, kind)
	}
	return notSupported(nodeLocation(n), feature)
}

// nodeText deparses an expression (or, with from, a FROM item) to SQL;
// "" where the deparser cannot.
func nodeText(n *pg.Node, from bool) string {
	sel := &pg.SelectStmt{TargetList: []*pg.Node{{Node: &pg.Node_ResTarget{ResTarget: &pg.ResTarget{Val: n}}}}}
	prefix := "SELECT "
	if from {
		star := &pg.Node{Node: &pg.Node_ColumnRef{ColumnRef: &pg.ColumnRef{Fields: []*pg.Node{{Node: &pg.Node_AStar{AStar: &pg.A_Star{}}}}}}}
		sel = &pg.SelectStmt{TargetList: []*pg.Node{{Node: &pg.Node_ResTarget{ResTarget: &pg.ResTarget{Val: star}}}}, FromClause: []*pg.Node{n}}
		prefix = "SELECT * FROM "
	}
	text, err := deparseSelectText(sel)
	if err != nil || !strings.HasPrefix(text, prefix) {
		return ""
	}
	text = strings.TrimPrefix(text, prefix)
	if r := []rune(text); len(r) > 80 {
		text = string(r[:77]) + "..."
	}
	return text
}

// deparseSelectText is the SQL text of sel, recovering from a deparser
// panic on a tree it does not expect.
func deparseSelectText(sel *pg.SelectStmt) (text string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("deparse: %v", r)
		}
	}()
	// The deparser wants the parser's tree version, which a parse tells.
	one, err := pg.Parse("SELECT 1")
	if err != nil {
		return "", err
	}
	return pg.Deparse(&pg.ParseResult{Version: one.GetVersion(), Stmts: []*pg.RawStmt{{Stmt: &pg.Node{Node: &pg.Node_SelectStmt{SelectStmt: sel}}}}})
}

// nodeLocation is the location field of the message n wraps; -1 without.
func nodeLocation(n *pg.Node) int32 {
	m := nodeMessage(n)
	if m == nil {
		return -1
	}
	r := m.ProtoReflect()
	fd := r.Descriptor().Fields().ByName("location")
	if fd == nil || fd.Kind() != protoreflect.Int32Kind {
		return -1
	}
	return int32(r.Get(fd).Int())
}
