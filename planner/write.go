package planner

import (
	"context"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/kapot-go/kapot/catalog"
	"github.com/kapot-go/kapot/engine"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/wire"
)

// Statements that write or define tables (PostgreSQL's grammar, plus
// DuckDB's CREATE OR REPLACE TABLE and COPY options):
//
//	CREATE [OR REPLACE] TABLE [IF NOT EXISTS] t (col type [NOT NULL], …)
//	CREATE [OR REPLACE] TABLE [IF NOT EXISTS] t AS query
//	INSERT INTO t [(cols)] VALUES … | query
//	DROP TABLE [IF EXISTS] t
//	CREATE [OR REPLACE] VIEW v AS query / DROP VIEW [IF EXISTS] v
//	COPY (query) | t TO 'path or s3://…' (FORMAT parquet|csv,
//	    PARTITION_BY (cols), COMPRESSION c, HEADER b, OVERWRITE b)

// The statements of this file.
const (
	StmtCreateTable StatementKind = iota + 100
	StmtCreateTableAs
	StmtInsert
	StmtDropTable
	StmtCreateView
	StmtDropView
	StmtCopy
)

// Writes reports whether a statement kind runs a job that writes files.
func (k StatementKind) Writes() bool {
	return k == StmtCreateTableAs || k == StmtInsert || k == StmtCopy
}

// ColumnDef is a column of CREATE TABLE.
type ColumnDef struct {
	Name    string
	Type    arrow.DataType
	NotNull bool
}

// Schema is the columns as an Arrow schema (NOT NULL columns are not
// nullable).
func SchemaOf(cols []ColumnDef) *arrow.Schema {
	fs := make([]arrow.Field, len(cols))
	for i, c := range cols {
		fs[i] = arrow.Field{Name: c.Name, Type: c.Type, Nullable: !c.NotNull}
	}
	return arrow.NewSchema(fs, nil)
}

// WriteStmt is a parsed statement of this file.
type WriteStmt struct {
	Name        string
	Columns     []ColumnDef // CREATE TABLE
	InsertCols  []string    // INSERT's column list
	IfNotExists bool
	IfExists    bool
	OrReplace   bool
	// ViewSQL is a view's query text (CREATE VIEW).
	ViewSQL string
	// Copy is COPY's target.
	Copy *CopyTarget
	// query is the rows to write (CTAS, INSERT, COPY), lists the long IN
	// lists it reads (see longLists).
	query *pg.SelectStmt
	lists map[string]*longList
}

// CopyTarget is where and how COPY writes.
type CopyTarget struct {
	Location    string
	Format      string // parquet or csv
	PartitionBy []string
	Compression string
	Header      bool
	// Overwrite replaces what is at Location.
	Overwrite bool
	// SingleFile: Location names one file (it has the format's extension
	// and no PARTITION_BY); the rows are gathered into one task.
	SingleFile bool
}

// parseWrite parses the statements of this file; ok is false for others.
func (p *stmtParser) parseWrite() (*Statement, bool, error) {
	sql, lists := p.parsed, p.lists
	w := &WriteStmt{}
	switch {
	case p.word("create") && p.wordAt(1, "or") && p.wordAt(2, "replace") && p.wordAt(3, "table"):
		// PostgreSQL has no CREATE OR REPLACE TABLE: parse it without.
		w.OrReplace = true
		sql = sql[:p.toks[1].GetStart()] + strings.Repeat(" ", int(p.toks[3].GetStart()-p.toks[1].GetStart())) + sql[p.toks[3].GetStart():]
	case p.word("create") && p.wordAt(1, "or") && p.wordAt(2, "replace"):
	case p.word("create") && (p.wordAt(1, "table") || p.wordAt(1, "view") || p.wordAt(1, "temp") || p.wordAt(1, "temporary") || p.wordAt(1, "materialized") || p.wordAt(1, "unlogged")):
	case p.word("insert"), p.word("drop"), p.word("copy"):
	default:
		return nil, false, nil
	}
	res, err := pg.Parse(sql)
	if err == nil && lists != nil && len(res.GetStmts()) == 1 && res.GetStmts()[0].GetStmt().GetViewStmt() != nil {
		// A view keeps its query's text: parse it with its lists.
		sql, lists = p.sql, nil
		res, err = pg.Parse(sql)
	}
	if err != nil {
		return nil, true, &SQLError{Pos: -1, Msg: fmt.Sprintf("syntax error: %v", err), Err: engine.ErrInvalidPlan}
	}
	if lists != nil {
		// The same lists, now with their values for the binder.
		_, w.lists = longLists(p.sql, true)
	}
	if len(res.GetStmts()) != 1 {
		return nil, true, &SQLError{Pos: -1, Msg: fmt.Sprintf("want one statement, got %d", len(res.GetStmts())), Err: engine.ErrInvalidPlan}
	}
	n := res.GetStmts()[0].GetStmt()
	st := &Statement{SQL: strings.TrimSpace(p.sql), Write: w}
	switch {
	case n.GetCreateStmt() != nil:
		c := n.GetCreateStmt()
		if err := plainTable(c.GetRelation(), "CREATE TABLE"); err != nil {
			return nil, true, err
		}
		if c.GetInhRelations() != nil || c.GetPartspec() != nil || c.GetOfTypename() != nil || len(c.GetOptions()) > 0 || c.GetOncommit() != pg.OnCommitAction_ONCOMMIT_NOOP && c.GetOncommit() != pg.OnCommitAction_ON_COMMIT_ACTION_UNDEFINED || c.GetTablespacename() != "" || c.GetAccessMethod() != "" {
			return nil, true, notSupported(-1, "CREATE TABLE clauses other than columns (INHERITS, PARTITION BY, WITH, …)")
		}
		st.Kind, w.Name, w.IfNotExists = StmtCreateTable, c.GetRelation().GetRelname(), c.GetIfNotExists()
		for _, e := range c.GetTableElts() {
			cd := e.GetColumnDef()
			if cd == nil {
				return nil, true, notSupported(-1, "table constraints (PRIMARY KEY, UNIQUE, CHECK, FOREIGN KEY)")
			}
			col, err := columnDef(cd)
			if err != nil {
				return nil, true, err
			}
			for _, o := range w.Columns {
				if strings.EqualFold(o.Name, col.Name) {
					return nil, true, errAt(cd.GetLocation(), engine.ErrInvalidPlan, "column %q specified more than once", col.Name)
				}
			}
			w.Columns = append(w.Columns, col)
		}
		if len(w.Columns) == 0 {
			return nil, true, errAt(-1, engine.ErrInvalidPlan, "CREATE TABLE %s: a table needs at least one column", w.Name)
		}
	case n.GetCreateTableAsStmt() != nil:
		c := n.GetCreateTableAsStmt()
		if c.GetObjtype() != pg.ObjectType_OBJECT_TABLE {
			return nil, true, notSupported(-1, "materialized views")
		}
		into := c.GetInto()
		if err := plainTable(into.GetRel(), "CREATE TABLE AS"); err != nil {
			return nil, true, err
		}
		if len(into.GetColNames()) > 0 || len(into.GetOptions()) > 0 || into.GetSkipData() {
			return nil, true, notSupported(-1, "column names, WITH options or WITH NO DATA in CREATE TABLE AS")
		}
		sel := c.GetQuery().GetSelectStmt()
		if sel == nil {
			return nil, true, notSupported(-1, "CREATE TABLE AS of a statement other than a query")
		}
		st.Kind, w.Name, w.IfNotExists, w.query = StmtCreateTableAs, into.GetRel().GetRelname(), c.GetIfNotExists(), sel
	case n.GetInsertStmt() != nil:
		in := n.GetInsertStmt()
		if err := plainTable(in.GetRelation(), "INSERT"); err != nil {
			return nil, true, err
		}
		if in.GetOnConflictClause() != nil || len(in.GetReturningList()) > 0 || in.GetWithClause() != nil || in.GetOverride() != pg.OverridingKind_OVERRIDING_NOT_SET && in.GetOverride() != pg.OverridingKind_OVERRIDING_KIND_UNDEFINED {
			return nil, true, notSupported(-1, "INSERT with ON CONFLICT, RETURNING, WITH or OVERRIDING")
		}
		if in.GetRelation().GetAlias() != nil {
			return nil, true, notSupported(-1, "an alias of INSERT's table")
		}
		sel := in.GetSelectStmt().GetSelectStmt()
		if sel == nil {
			return nil, true, notSupported(-1, "INSERT … DEFAULT VALUES")
		}
		st.Kind, w.Name, w.query = StmtInsert, in.GetRelation().GetRelname(), sel
		for _, c := range in.GetCols() {
			rt := c.GetResTarget()
			if len(rt.GetIndirection()) > 0 {
				return nil, true, notSupported(rt.GetLocation(), "subscripts or fields in INSERT's column list")
			}
			w.InsertCols = append(w.InsertCols, rt.GetName())
		}
	case n.GetDropStmt() != nil:
		d := n.GetDropStmt()
		switch d.GetRemoveType() {
		case pg.ObjectType_OBJECT_TABLE:
			st.Kind = StmtDropTable
		case pg.ObjectType_OBJECT_VIEW:
			st.Kind = StmtDropView
		default:
			return nil, true, notSupported(-1, "DROP of anything but a table or a view")
		}
		if d.GetBehavior() == pg.DropBehavior_DROP_CASCADE {
			return nil, true, notSupported(-1, "DROP … CASCADE")
		}
		if len(d.GetObjects()) != 1 {
			return nil, true, notSupported(-1, "DROP of several objects in one statement")
		}
		names := d.GetObjects()[0].GetList().GetItems()
		if len(names) != 1 {
			return nil, true, notSupported(-1, "schema-qualified names")
		}
		w.Name, w.IfExists = names[0].GetString_().GetSval(), d.GetMissingOk()
	case n.GetViewStmt() != nil:
		v := n.GetViewStmt()
		if err := plainTable(v.GetView(), "CREATE VIEW"); err != nil {
			return nil, true, err
		}
		if len(v.GetAliases()) > 0 || len(v.GetOptions()) > 0 || v.GetWithCheckOption() != pg.ViewCheckOption_NO_CHECK_OPTION && v.GetWithCheckOption() != pg.ViewCheckOption_VIEW_CHECK_OPTION_UNDEFINED {
			return nil, true, notSupported(-1, "view column names, options or CHECK OPTION")
		}
		sel := v.GetQuery().GetSelectStmt()
		if sel == nil {
			return nil, true, notSupported(-1, "a view of a statement other than a query")
		}
		text, err := deparseSelect(sel, res.GetVersion())
		if err != nil {
			return nil, true, err
		}
		st.Kind, w.Name, w.OrReplace, w.ViewSQL = StmtCreateView, v.GetView().GetRelname(), v.GetReplace(), text
	case n.GetCopyStmt() != nil:
		if err := parseCopy(n.GetCopyStmt(), w); err != nil {
			return nil, true, err
		}
		st.Kind = StmtCopy
	default:
		return nil, false, nil
	}
	return st, true, nil
}

// plainTable refuses schema-qualified and temporary tables.
func plainTable(rv *pg.RangeVar, what string) error {
	if rv == nil || rv.GetRelname() == "" {
		return errAt(-1, engine.ErrInvalidPlan, "%s needs a table name", what)
	}
	if rv.GetSchemaname() != "" || rv.GetCatalogname() != "" {
		return notSupported(rv.GetLocation(), "schema-qualified names")
	}
	if rv.GetRelpersistence() == "t" {
		return notSupported(rv.GetLocation(), "temporary tables")
	}
	return nil
}

// columnDef reads one column of CREATE TABLE.
func columnDef(cd *pg.ColumnDef) (ColumnDef, error) {
	out := ColumnDef{Name: cd.GetColname()}
	if cd.GetCollClause() != nil || cd.GetRawDefault() != nil || cd.GetIdentity() != "" || cd.GetGenerated() != "" {
		return out, notSupported(cd.GetLocation(), "COLLATE, DEFAULT, identity and generated columns")
	}
	t, err := sqlType(cd.GetTypeName(), cd.GetLocation())
	if err != nil {
		return out, err
	}
	if out.Type, err = wire.TypeFromProto(t); err != nil {
		return out, err
	}
	for _, c := range cd.GetConstraints() {
		switch c.GetConstraint().GetContype() {
		case pg.ConstrType_CONSTR_NOTNULL:
			out.NotNull = true
		case pg.ConstrType_CONSTR_NULL:
		default:
			return out, notSupported(c.GetConstraint().GetLocation(), "column constraints other than NOT NULL (PRIMARY KEY, UNIQUE, CHECK, DEFAULT, REFERENCES)")
		}
	}
	return out, nil
}

// sqlType maps a SQL type name to the engine's type.
func sqlType(tn *pg.TypeName, loc int32) (*kapotv1.DataType, error) {
	if tn == nil || len(tn.GetNames()) == 0 {
		return nil, errAt(loc, engine.ErrInvalidPlan, "a type is missing")
	}
	if len(tn.GetArrayBounds()) > 0 {
		return nil, notSupported(loc, "array types")
	}
	names := tn.GetNames()
	tname := strings.ToLower(names[len(names)-1].GetString_().GetSval())
	mods := tn.GetTypmods()
	switch tname {
	case "date":
		return &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_DATE32}, nil
	case "int2", "int4", "integer", "int", "smallint", "tinyint":
		return &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_INT32}, nil
	case "int8", "bigint":
		return &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_INT64}, nil
	case "float4", "real":
		return &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_FLOAT32}, nil
	case "float8", "double precision", "double", "float":
		return &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_FLOAT64}, nil
	case "text", "varchar", "bpchar", "char", "string":
		return &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_UTF8}, nil
	case "bool", "boolean":
		return &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_BOOL}, nil
	case "timestamp", "datetime", "timestamptz", "timestamp_ns":
		if len(mods) > 0 {
			// TIMESTAMP(6) is TIMESTAMP and TIMESTAMP(9) TIMESTAMP_NS, as in
			// DuckDB; its milliseconds and seconds types are not kapot's.
			p := mods[0].GetAConst().GetIval().GetIval()
			switch {
			case len(mods) == 1 && tname != "timestamp_ns" && p == 6:
			case len(mods) == 1 && (tname == "timestamp" || tname == "datetime") && p == 9:
				tname = "timestamp_ns"
			default:
				return nil, notSupported(loc, "a precision of "+strings.ToUpper(tname)+" other than 6 or 9 (TIMESTAMP(p))")
			}
		}
		id := map[string]kapotv1.TypeId{"timestamp": kapotv1.TypeId_TYPE_ID_TIMESTAMP_LOCAL_MICROS, "datetime": kapotv1.TypeId_TYPE_ID_TIMESTAMP_LOCAL_MICROS,
			"timestamptz": kapotv1.TypeId_TYPE_ID_TIMESTAMP_MICROS, "timestamp_ns": kapotv1.TypeId_TYPE_ID_TIMESTAMP_LOCAL_NANOS}[tname]
		return &kapotv1.DataType{Id: id}, nil
	case "numeric", "decimal":
		p, s := int32(38), int32(10)
		if len(mods) >= 1 {
			p = mods[0].GetAConst().GetIval().GetIval()
			s = 0
		}
		if len(mods) >= 2 {
			s = mods[1].GetAConst().GetIval().GetIval()
		}
		if p < 1 || p > 38 || s < 0 || s > p {
			return nil, errAt(loc, engine.ErrInvalidPlan, "DECIMAL(%d,%d): want 1 ≤ precision ≤ 38 and 0 ≤ scale ≤ precision", p, s)
		}
		return &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_DECIMAL128, Precision: p, Scale: s}, nil
	}
	return nil, notSupported(loc, "type "+tname)
}

func deparseSelect(sel *pg.SelectStmt, version int32) (string, error) {
	text, err := pg.Deparse(&pg.ParseResult{Version: version, Stmts: []*pg.RawStmt{{Stmt: &pg.Node{Node: &pg.Node_SelectStmt{SelectStmt: sel}}}}})
	if err != nil {
		return "", &SQLError{Pos: -1, Msg: fmt.Sprintf("query: %v", err), Err: engine.ErrInvalidPlan}
	}
	return text, nil
}

// parseCopy reads COPY (query) | table TO 'location' (options).
func parseCopy(c *pg.CopyStmt, w *WriteStmt) error {
	if c.GetIsFrom() {
		return notSupported(-1, "COPY … FROM (create an external table over the files, then INSERT INTO … SELECT)")
	}
	if c.GetIsProgram() || c.GetFilename() == "" {
		return notSupported(-1, "COPY to STDOUT or a program")
	}
	if c.GetWhereClause() != nil || len(c.GetAttlist()) > 0 {
		return notSupported(-1, "COPY with a column list or WHERE (copy a query)")
	}
	switch {
	case c.GetQuery() != nil:
		w.query = c.GetQuery().GetSelectStmt()
		if w.query == nil {
			return notSupported(-1, "COPY of a statement other than a query")
		}
	case c.GetRelation() != nil:
		if err := plainTable(c.GetRelation(), "COPY"); err != nil {
			return err
		}
		res, err := pg.Parse("SELECT * FROM " + catalog.QuoteIdent(c.GetRelation().GetRelname()))
		if err != nil {
			return err
		}
		w.query = res.GetStmts()[0].GetStmt().GetSelectStmt()
	}
	t := &CopyTarget{Location: c.GetFilename()}
	for _, o := range c.GetOptions() {
		d := o.GetDefElem()
		name := strings.ToLower(d.GetDefname())
		arg := d.GetArg()
		str := func() (string, error) {
			switch {
			case arg == nil:
				return "true", nil
			case arg.GetString_() != nil:
				return arg.GetString_().GetSval(), nil
			case arg.GetInteger() != nil:
				return fmt.Sprint(arg.GetInteger().GetIval()), nil
			case arg.GetBoolean() != nil:
				return fmt.Sprint(arg.GetBoolean().GetBoolval()), nil
			}
			return "", errAt(d.GetLocation(), engine.ErrInvalidPlan, "COPY option %s: want a word or a string", name)
		}
		boolean := func() (bool, error) {
			s, err := str()
			if err != nil {
				return false, err
			}
			switch strings.ToLower(s) {
			case "true", "on", "1":
				return true, nil
			case "false", "off", "0":
				return false, nil
			}
			return false, errAt(d.GetLocation(), engine.ErrInvalidPlan, "COPY option %s: want true or false", name)
		}
		var err error
		switch name {
		case "format":
			var f string
			if f, err = str(); err == nil {
				t.Format = strings.ToLower(f)
			}
		case "partition_by":
			switch {
			case arg.GetList() != nil:
				for _, it := range arg.GetList().GetItems() {
					t.PartitionBy = append(t.PartitionBy, it.GetString_().GetSval())
				}
			case arg.GetString_() != nil:
				t.PartitionBy = append(t.PartitionBy, arg.GetString_().GetSval())
			default:
				err = errAt(d.GetLocation(), engine.ErrInvalidPlan, "PARTITION_BY: want (col, …)")
			}
		case "compression", "codec":
			t.Compression, err = str()
		case "header":
			t.Header, err = boolean()
		case "overwrite", "overwrite_or_ignore":
			t.Overwrite, err = boolean()
		default:
			return notSupported(d.GetLocation(), "COPY option "+name)
		}
		if err != nil {
			return err
		}
	}
	ext := strings.ToLower(strings.TrimPrefix(path.Ext(strings.TrimSuffix(t.Location, "/")), "."))
	if t.Format == "" {
		switch ext {
		case "csv":
			t.Format = "csv"
		default:
			t.Format = "parquet"
		}
	}
	if t.Format != "parquet" && t.Format != "csv" {
		return notSupported(-1, "COPY to format "+t.Format+" (want parquet or csv)")
	}
	if t.Format == "csv" && t.Compression != "" {
		return notSupported(-1, "compressed CSV")
	}
	t.SingleFile = len(t.PartitionBy) == 0 && ext == t.Format && !strings.HasSuffix(t.Location, "/")
	w.Copy = t
	return nil
}

// WritePlan is a planned write: the rows to write and how.
type WritePlan struct {
	// Query yields the rows, in the files' column order and types.
	Query *Plan
	// Names are the columns in the files (before PARTITION_BY columns
	// are taken out).
	Names       []string
	Format      string
	Compression string
	Header      bool
	PartitionBy []uint32
	NotNull     []uint32
	// EmptyFile: write a file even without rows (COPY to one file).
	EmptyFile bool
}

// Node is the job's plan: the rows written under location (a staging
// directory) by one Writer per partition.
func (w *WritePlan) Node(location string) *kapotv1.PhysicalPlanNode {
	return &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Writer{Writer: &kapotv1.WriterNode{
		Input: w.Query.Root, Location: location, Format: w.Format, Compression: w.Compression,
		PartitionBy: w.PartitionBy, NotNull: w.NotNull, Names: w.Names, CsvHeader: w.Header, EmptyFile: w.EmptyFile}}}
}

// PlanWrite plans the rows of a CREATE TABLE AS, INSERT or COPY. For
// INSERT, target is the table written to; its columns' types and NOT NULL
// constraints apply. Planning stops with ctx, as PlanQuery's does.
func PlanWrite(ctx context.Context, cat *catalog.Catalog, st *Statement, target *catalog.Table, o Options) (*WritePlan, error) {
	w := st.Write
	if w == nil || w.query == nil {
		return nil, fmt.Errorf("not a write statement: %w", engine.ErrInvalidPlan)
	}
	q, err := planSelect(ctx, cat, w.query, w.lists, o)
	if err != nil {
		return nil, err
	}
	out := &WritePlan{Query: q, Names: q.Columns, Format: "parquet"}
	switch st.Kind {
	case StmtCreateTableAs:
		seen := map[string]bool{}
		for i, f := range q.Schema.Fields() {
			if f.Type.ID() == arrow.NULL {
				return nil, errAt(-1, engine.ErrInvalidPlan, "column %q of CREATE TABLE AS has no type (a bare NULL): cast it", q.Columns[i])
			}
			if seen[strings.ToLower(q.Columns[i])] {
				return nil, errAt(-1, engine.ErrInvalidPlan, "column %q appears twice in CREATE TABLE AS: name the columns apart (AS …)", q.Columns[i])
			}
			seen[strings.ToLower(q.Columns[i])] = true
		}
	case StmtInsert:
		if err := coerceInsert(out, target, w.InsertCols); err != nil {
			return nil, err
		}
	case StmtCopy:
		c := w.Copy
		out.Format, out.Compression, out.Header = c.Format, c.Compression, c.Header
		for _, name := range c.PartitionBy {
			idx := -1
			for i, n := range q.Columns {
				if strings.EqualFold(n, name) {
					if idx >= 0 {
						return nil, errAt(-1, engine.ErrInvalidPlan, "PARTITION_BY column %q is ambiguous", name)
					}
					idx = i
				}
			}
			if idx < 0 {
				return nil, errAt(-1, engine.ErrInvalidPlan, "PARTITION_BY column %q is not a column of the query (have: %s)", name, strings.Join(q.Columns, ", "))
			}
			out.PartitionBy = append(out.PartitionBy, uint32(idx))
		}
		if c.SingleFile {
			q.Root = exchange(q.Root, single)
			out.EmptyFile = true
		}
	default:
		return nil, fmt.Errorf("not a write statement: %w", engine.ErrInvalidPlan)
	}
	for i, f := range q.Schema.Fields() {
		k := nestedKind(f.Type)
		switch {
		case k != "" && out.Format == "csv":
			return nil, notSupported(-1, fmt.Sprintf("writing %s values to CSV (column %q)", k, q.Columns[i]))
		case k != "" && slices.Contains(out.PartitionBy, uint32(i)):
			return nil, notSupported(-1, fmt.Sprintf("PARTITION_BY a %s column (%q)", k, q.Columns[i]))
		}
	}
	return out, nil
}

// coerceInsert puts the query's columns in the table's order and types:
// named columns take the query's values in order, the others NULL; each
// value is cast to its column's type (a value that does not fit fails the
// job); NOT NULL columns are checked as rows are written.
func coerceInsert(w *WritePlan, t *catalog.Table, cols []string) error {
	q := w.Query
	fields := t.Schema.Fields()
	src := make([]int, len(fields)) // query column of each table column, -1: NULL
	if len(cols) == 0 {
		if len(q.Columns) != len(fields) {
			return errAt(-1, engine.ErrInvalidPlan, "INSERT INTO %s: the table has %d columns, the query gives %d", t.Name, len(fields), len(q.Columns))
		}
		for i := range src {
			src[i] = i
		}
	} else {
		if len(cols) != len(q.Columns) {
			return errAt(-1, engine.ErrInvalidPlan, "INSERT INTO %s: %d columns named, the query gives %d", t.Name, len(cols), len(q.Columns))
		}
		for i := range src {
			src[i] = -1
		}
		for j, c := range cols {
			i := t.Schema.FieldIndices(c)
			if len(i) == 0 {
				for k, f := range fields {
					if strings.EqualFold(f.Name, c) {
						i = []int{k}
					}
				}
			}
			if len(i) == 0 {
				return errAt(-1, engine.ErrInvalidPlan, "INSERT INTO %s: no column %q", t.Name, c)
			}
			if src[i[0]] >= 0 {
				return errAt(-1, engine.ErrInvalidPlan, "INSERT INTO %s: column %q named twice", t.Name, c)
			}
			src[i[0]] = j
		}
	}
	exprs := make([]*kapotv1.PhysicalExprNode, len(fields))
	names := make([]string, len(fields))
	outFields := make([]arrow.Field, len(fields))
	for i, f := range fields {
		names[i] = f.Name
		outFields[i] = arrow.Field{Name: f.Name, Type: f.Type, Nullable: true}
		pt, err := wire.TypeToProto(f.Type)
		if err != nil {
			return err
		}
		if !f.Nullable {
			w.NotNull = append(w.NotNull, uint32(i))
		}
		if src[i] < 0 {
			if !f.Nullable {
				return errAt(-1, engine.ErrInvalidPlan, "INSERT INTO %s: NOT NULL column %q needs a value", t.Name, f.Name)
			}
			exprs[i] = &kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_Literal{Literal: &kapotv1.ScalarValue{Type: pt}}}
			continue
		}
		col := &kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_Column{Column: &kapotv1.ColumnExpr{Index: uint32(src[i])}}}
		if arrow.TypeEqual(q.Schema.Field(src[i]).Type, f.Type) {
			exprs[i] = col
			continue
		}
		exprs[i] = &kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_Cast{Cast: &kapotv1.CastExpr{Expr: col, Type: pt}}}
	}
	q.Root = &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Projection{Projection: &kapotv1.ProjectionNode{Input: q.Root, Exprs: exprs, Names: names}}}
	q.Columns, q.Schema = names, arrow.NewSchema(outFields, nil)
	w.Names = names
	return nil
}
