//go:build !noduckdb

package slt

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	duckdb "github.com/duckdb/duckdb-go/v2" // the set-up database and the reference
	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/kapot-go/kapot/catalog"
	"github.com/kapot-go/kapot/engine"
	"github.com/kapot-go/kapot/engine/alloc"
	"github.com/kapot-go/kapot/engine/expr"
	"github.com/kapot-go/kapot/internal/security"
	"github.com/kapot-go/kapot/internal/testkit/oracle/duck"
	"github.com/kapot-go/kapot/internal/testkit/report"
	"github.com/kapot-go/kapot/objstore"
	"github.com/kapot-go/kapot/planner"
	"github.com/kapot-go/kapot/warehouse"
)

// KapotDB runs a script in kapot, in this process. Its statements make
// tables with kapot's own CREATE TABLE, INSERT, CREATE TABLE AS, DROP and
// views (managed tables in a warehouse under dir). Every statement also
// runs in DuckDB, the reference engine: a table that a statement kapot
// does not run touches (UPDATE, DELETE, a PRIMARY KEY, SQLite's INSERT OR
// REPLACE) is read from DuckDB's copy from then on, written to Parquet
// before the next query. Integers are 64-bit and floats double, as
// SQLite's are.
type KapotDB struct {
	duck   *sql.DB
	dir    string
	gen    int
	cat    *catalog.Catalog
	tables *warehouse.Tables
	// fallback names the tables read from DuckDB; dirty says that one of
	// them changed since it was last written to Parquet.
	fallback map[string]bool
	dirty    bool
	// Own counts the statements kapot ran itself, Fallback those it left
	// to DuckDB; Reasons counts why, by error class.
	Own, Fallback int
	Reasons       map[string]int
	// Options are the planner's options for every query.
	Options planner.Options
	// Run executes a planned query; nil runs it in this process with a
	// checked, poisoning allocator (a leak is an error).
	Run func(ctx context.Context, p *planner.Plan) ([]arrow.RecordBatch, func() error, error)
}

// NewKapotDB opens an empty database whose files live under dir.
func NewKapotDB(dir string) (*KapotDB, error) {
	duck, err := sql.Open("duckdb", "")
	if err != nil {
		return nil, err
	}
	duck.SetMaxOpenConns(1)
	cat := catalog.New()
	store := objstore.Default()
	return &KapotDB{duck: duck, dir: dir, cat: cat, fallback: map[string]bool{}, Reasons: map[string]int{},
		tables:  &warehouse.Tables{Catalog: cat, Store: store, Warehouse: &warehouse.Warehouse{Root: filepath.Join(dir, "warehouse"), Store: store}},
		Options: planner.Options{TargetPartitions: 2}}, nil
}

// Close closes the set-up database.
func (k *KapotDB) Close() error { return k.duck.Close() }

// Exec implements DB: the statement runs in DuckDB, then in kapot.
func (k *KapotDB) Exec(ctx context.Context, stmt string) error {
	if _, err := k.duck.ExecContext(ctx, stmt); err != nil {
		return err
	}
	return k.exec(ctx, stmt)
}

// exec runs a statement DuckDB accepted in kapot, or moves what it
// touches to DuckDB's copy. An error is a set-up failure of kapot's
// (a leak, a table it cannot export).
func (k *KapotDB) exec(ctx context.Context, stmt string) error {
	st, err := planner.ParseStatement(stmt)
	if err != nil || st.Write == nil {
		return k.other(stmt, err)
	}
	name := strings.ToLower(st.Write.Name)
	switch st.Kind {
	case planner.StmtDropTable, planner.StmtDropView:
		if k.fallback[name] {
			delete(k.fallback, name)
			k.cat.Drop(name)
			k.Fallback++
			return nil
		}
	case planner.StmtInsert:
		if k.fallback[name] {
			k.dirty = true
			k.Fallback++
			return nil
		}
	case planner.StmtCreateTable:
		for i, c := range st.Write.Columns {
			switch c.Type.ID() {
			case arrow.INT32:
				st.Write.Columns[i].Type = arrow.PrimitiveTypes.Int64
			case arrow.FLOAT32:
				st.Write.Columns[i].Type = arrow.PrimitiveTypes.Float64
			}
		}
		delete(k.fallback, name)
	case planner.StmtCreateTableAs, planner.StmtCreateView:
		delete(k.fallback, name)
	}
	if _, err := k.Catalog(ctx); err != nil {
		return err
	}
	if err := k.own(ctx, st); err != nil {
		if errors.Is(err, errLeak) {
			return err
		}
		k.toFallback(name, err)
		return nil
	}
	k.Own++
	return nil
}

var errLeak = errors.New("Arrow memory leaked")

// own runs a statement with kapot's warehouse.Tables.
func (k *KapotDB) own(ctx context.Context, st *planner.Statement) error {
	if !st.Kind.Writes() {
		_, err := k.tables.Define(ctx, st, security.Principal{}, func(q string) error {
			_, err := planner.PlanQuery(ctx, k.cat, q, k.Options)
			return err
		})
		return err
	}
	k.gen++
	w, _, err := k.tables.Prepare(ctx, st, security.Principal{}, fmt.Sprintf("w%d", k.gen), nil, k.Options, false)
	if err != nil || w == nil {
		return err
	}
	checked := memory.NewCheckedAllocator(memory.NewGoAllocator())
	tc := &engine.TaskContext{JobID: "slt", WorkDir: k.dir, Mem: alloc.NewPoisoningAllocator(checked), Properties: map[string]string{}}
	_, err = k.tables.Run(ctx, w, tc)
	tc.End()
	if n := checked.CurrentAlloc(); n != 0 {
		return fmt.Errorf("%s: %w (%d bytes)", st.SQL, errLeak, n)
	}
	return err
}

// other handles a statement that is not one of kapot's writes: a query
// or one that changes no rows is nothing to do; UPDATE and DELETE move
// their table to DuckDB's copy, anything else every table.
func (k *KapotDB) other(stmt string, perr error) error {
	res, err := pg.Parse(stmt)
	if err != nil || len(res.GetStmts()) != 1 {
		k.allToFallback(perr)
		return nil
	}
	n := res.GetStmts()[0].GetStmt()
	switch {
	case n.GetSelectStmt() != nil, n.GetIndexStmt() != nil, n.GetReindexStmt() != nil, n.GetCreateTrigStmt() != nil,
		n.GetDropStmt() != nil && n.GetDropStmt().GetRemoveType() != pg.ObjectType_OBJECT_TABLE && n.GetDropStmt().GetRemoveType() != pg.ObjectType_OBJECT_VIEW:
		return nil
	case n.GetCreateStmt() != nil:
		k.toFallback(strings.ToLower(n.GetCreateStmt().GetRelation().GetRelname()), perr)
	case n.GetInsertStmt() != nil:
		k.toFallback(strings.ToLower(n.GetInsertStmt().GetRelation().GetRelname()), perr)
	case n.GetUpdateStmt() != nil:
		k.toFallback(strings.ToLower(n.GetUpdateStmt().GetRelation().GetRelname()), planner.NotSupported("UPDATE"))
	case n.GetDeleteStmt() != nil:
		k.toFallback(strings.ToLower(n.GetDeleteStmt().GetRelation().GetRelname()), planner.NotSupported("DELETE"))
	default:
		k.allToFallback(perr)
	}
	return nil
}

// toFallback reads table name from DuckDB's copy from now on.
func (k *KapotDB) toFallback(name string, why error) {
	k.fallback[name] = true
	k.dirty = true
	k.cat.Drop(name)
	k.cat.DropView(name)
	k.Fallback++
	if why == nil {
		why = errors.New("a statement kapot does not parse")
	}
	k.Reasons[report.ErrorClass(why.Error())]++
}

func (k *KapotDB) allToFallback(why error) {
	for _, n := range k.cat.Names() {
		if t, ok := k.cat.Lookup(n); ok && t.Managed {
			k.fallback[n] = true
			k.cat.Drop(n)
		}
	}
	k.dirty = true
	k.Fallback++
	if why == nil {
		why = errors.New("a statement kapot does not parse")
	}
	k.Reasons[report.ErrorClass(why.Error())]++
}

// Catalog returns kapot's catalog, after writing the tables read from
// DuckDB to Parquet if a statement changed them.
func (k *KapotDB) Catalog(ctx context.Context) (*catalog.Catalog, error) {
	if !k.dirty {
		return k.cat, nil
	}
	k.gen++
	dir := filepath.Join(k.dir, fmt.Sprintf("gen-%d", k.gen))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	rows, err := k.duck.QueryContext(ctx, `SELECT table_name, column_name, data_type FROM information_schema.columns
		WHERE table_schema = 'main' AND table_name IN (SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE')
		ORDER BY table_name, ordinal_position`)
	if err != nil {
		return nil, err
	}
	cols := map[string][]string{}
	var order []string
	for rows.Next() {
		var t, c, typ string
		if err := rows.Scan(&t, &c, &typ); err != nil {
			rows.Close()
			return nil, err
		}
		if !k.fallback[strings.ToLower(t)] {
			continue
		}
		if _, ok := cols[t]; !ok {
			order = append(order, t)
		}
		q := `"` + strings.ReplaceAll(c, `"`, `""`) + `"`
		switch typ {
		case "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER":
			q = "CAST(" + q + " AS BIGINT) AS " + q
		case "FLOAT", "REAL", "DOUBLE":
			q = "CAST(" + q + " AS DOUBLE) AS " + q
		}
		cols[t] = append(cols[t], q)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, t := range order {
		file := filepath.Join(dir, t+".parquet")
		q := fmt.Sprintf(`COPY (SELECT %s FROM "%s") TO '%s' (FORMAT PARQUET)`, strings.Join(cols[t], ", "), t, file)
		if _, err := k.duck.ExecContext(ctx, q); err != nil {
			return nil, fmt.Errorf("export %s: %w", t, err)
		}
		tab, err := k.cat.ParquetTable(ctx, t, []string{file})
		if err != nil {
			return nil, err
		}
		k.cat.Drop(t)
		if err := k.cat.Register(tab); err != nil {
			return nil, err
		}
	}
	if k.gen > 1 {
		// Parquet of older generations no table names any more.
		old, _ := filepath.Glob(filepath.Join(k.dir, "gen-*"))
		for _, o := range old {
			if o != dir {
				os.RemoveAll(o)
			}
		}
	}
	k.dirty = false
	return k.cat, nil
}

// Query implements DB: the query is planned and run by kapot.
func (k *KapotDB) Query(ctx context.Context, q string) ([][]any, error) {
	cat, err := k.Catalog(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSetup, err)
	}
	p, err := planner.PlanQuery(ctx, cat, q, k.Options)
	if err != nil {
		return nil, err
	}
	run := k.Run
	if run == nil {
		run = k.runLocal
	}
	bs, done, err := run(ctx, p)
	if err != nil {
		return nil, err
	}
	out, err := Rows(bs)
	if derr := done(); err == nil {
		err = derr
	}
	return out, err
}

func (k *KapotDB) runLocal(ctx context.Context, p *planner.Plan) ([]arrow.RecordBatch, func() error, error) {
	checked := memory.NewCheckedAllocator(memory.NewGoAllocator())
	tc := &engine.TaskContext{JobID: "slt", WorkDir: k.dir, Mem: alloc.NewPoisoningAllocator(checked), Properties: map[string]string{}}
	bs, err := planner.RunInProcess(ctx, p, tc, nil)
	if err != nil {
		if n := checked.CurrentAlloc(); n != 0 {
			return nil, nil, fmt.Errorf("%w (and %d bytes of Arrow memory leaked)", err, n)
		}
		return nil, nil, err
	}
	return bs, func() error {
		for _, b := range bs {
			b.Release()
		}
		if n := checked.CurrentAlloc(); n != 0 {
			return fmt.Errorf("%d bytes of Arrow memory leaked", n)
		}
		return nil
	}, nil
}

// Rows converts batches to rows of Go values (see DB.Query).
func Rows(bs []arrow.RecordBatch) ([][]any, error) {
	var out [][]any
	for _, b := range bs {
		for r := 0; r < int(b.NumRows()); r++ {
			row := make([]any, b.NumCols())
			for c := range row {
				v, err := value(b.Column(c), r)
				if err != nil {
					return nil, err
				}
				row[c] = v
			}
			out = append(out, row)
		}
	}
	return out, nil
}

func value(a arrow.Array, i int) (any, error) {
	if a.IsNull(i) {
		return nil, nil
	}
	switch x := a.(type) {
	case *array.Int8:
		return int64(x.Value(i)), nil
	case *array.Int16:
		return int64(x.Value(i)), nil
	case *array.Int32:
		return int64(x.Value(i)), nil
	case *array.Int64:
		return x.Value(i), nil
	case *array.Uint8:
		return int64(x.Value(i)), nil
	case *array.Uint16:
		return int64(x.Value(i)), nil
	case *array.Uint32:
		return int64(x.Value(i)), nil
	case *array.Float32:
		return float64(x.Value(i)), nil
	case *array.Float64:
		return x.Value(i), nil
	case *array.Boolean:
		return x.Value(i), nil
	case *array.String:
		return strings.Clone(x.Value(i)), nil
	case *array.LargeString:
		return strings.Clone(x.Value(i)), nil
	case *array.Decimal128:
		return Decimal(x.Value(i).ToString(x.DataType().(*arrow.Decimal128Type).Scale)), nil
	case *array.Null:
		return nil, nil
	}
	return expr.FormatValue(a, i), nil
}

// Reference implements Reference: the query in DuckDB, over the tables as
// the script made them.
func (k *KapotDB) Reference(ctx context.Context, q string) ([][]any, error) {
	rows, err := k.duck.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	out, err := duck.Scan(rows)
	for _, vals := range out {
		for i, v := range vals {
			vals[i] = goValue(v)
		}
	}
	return out, err
}

// goValue maps a DuckDB driver value to the runner's value kinds.
func goValue(v any) any {
	switch x := v.(type) {
	case nil, int64, float64, string, bool:
		return x
	case int8:
		return int64(x)
	case int16:
		return int64(x)
	case int32:
		return int64(x)
	case uint8:
		return int64(x)
	case uint16:
		return int64(x)
	case uint32:
		return int64(x)
	case float32:
		return float64(x)
	case *big.Int:
		return Decimal(x.String())
	case duckdb.Decimal:
		r := new(big.Rat).SetFrac(x.Value, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(x.Scale)), nil))
		return Decimal(r.FloatString(int(x.Scale)))
	case []byte:
		return string(x)
	}
	return fmt.Sprint(v)
}
