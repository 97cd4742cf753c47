//go:build !noduckdb

package slt

import (
	"context"
	"database/sql"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	duckdb "github.com/duckdb/duckdb-go/v2" // the set-up database and the reference

	"github.com/kapot-go/kapot/engine"
	"github.com/kapot-go/kapot/internal/oracle/duck"
	"github.com/kapot-go/kapot/planner"
)

// KapotDB runs a script's queries in kapot, in this process. kapot has no
// CREATE TABLE or INSERT yet: statements run in DuckDB, and before each
// query that follows a change the tables are written to Parquet files that
// a fresh kapot catalog reads. Integers are widened to BIGINT and floats
// to DOUBLE on the way, as SQLite's are 64-bit.
type KapotDB struct {
	duck  *sql.DB
	dir   string
	gen   int
	dirty bool
	cat   *planner.Catalog
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
	return &KapotDB{duck: duck, dir: dir, dirty: true, Options: planner.Options{TargetPartitions: 2}}, nil
}

// Close closes the set-up database.
func (k *KapotDB) Close() error { return k.duck.Close() }

// Exec implements DB: the statement runs in DuckDB.
func (k *KapotDB) Exec(ctx context.Context, stmt string) error {
	if _, err := k.duck.ExecContext(ctx, stmt); err != nil {
		return err
	}
	k.dirty = true
	return nil
}

// Catalog returns the kapot catalog of the current tables, exporting
// them first if a statement changed them.
func (k *KapotDB) Catalog(ctx context.Context) (*planner.Catalog, error) {
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
	cat := planner.NewCatalog()
	for _, t := range order {
		file := filepath.Join(dir, t+".parquet")
		q := fmt.Sprintf(`COPY (SELECT %s FROM "%s") TO '%s' (FORMAT PARQUET)`, strings.Join(cols[t], ", "), t, file)
		if _, err := k.duck.ExecContext(ctx, q); err != nil {
			return nil, fmt.Errorf("export %s: %w", t, err)
		}
		tab, err := cat.ParquetTable(ctx, t, []string{file})
		if err != nil {
			return nil, err
		}
		if err := cat.Register(tab); err != nil {
			return nil, err
		}
	}
	if k.gen > 1 {
		os.RemoveAll(filepath.Join(k.dir, fmt.Sprintf("gen-%d", k.gen-1)))
	}
	k.cat, k.dirty = cat, false
	return cat, nil
}

// Query implements DB: the query is planned and run by kapot.
func (k *KapotDB) Query(ctx context.Context, q string) ([][]any, error) {
	cat, err := k.Catalog(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSetup, err)
	}
	p, err := planner.PlanQuery(cat, q, k.Options)
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
	tc := &engine.TaskContext{JobID: "slt", WorkDir: k.dir, Mem: engine.NewPoisoningAllocator(checked), Properties: map[string]string{}}
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
	return engine.FormatValue(a, i), nil
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
