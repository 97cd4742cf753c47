package tpch

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/csv"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"golang.org/x/sync/errgroup"
)

// Tables lists the TPC-H tables in generation order.
var Tables = []string{"region", "nation", "supplier", "customer", "part", "partsupp", "orders", "lineitem"}

// Dates of the specification, as days since 1970-01-01.
const (
	startDate   = 8035  // 1992-01-01
	currentDate = 9298  // 1995-06-17
	endDate     = 10591 // 1998-12-31
)

var money = &arrow.Decimal128Type{Precision: 15, Scale: 2}

// Options says what to generate.
type Options struct {
	// SF is the scale factor (0.01, 0.1, 1, 10, …).
	SF float64
	// Dir receives DIR/<table>/part-<i>.<ext>.
	Dir string
	// Format is "parquet" (default) or "csv".
	Format string
	// Partitions is the number of files per large table (region and nation
	// always have one); 0 means one.
	Partitions int
	// Compression is the Parquet codec: "snappy" (default), "lz4" (LZ4_RAW),
	// "zstd", "gzip" or "none".
	Compression string
	// Tables limits generation to these tables; empty means all.
	Tables []string
	// Progress, if set, is called as rows are written (safe for concurrent
	// calls): the table, rows written so far and the table's total.
	Progress func(table string, done, total int64)
}

// counts are the table cardinalities of a scale factor.
type counts struct {
	supplier, part, customer, orders, clerks int64
}

func cardinalities(sf float64) counts {
	n := func(base float64) int64 { return max(1, int64(sf*base)) }
	return counts{supplier: n(10_000), part: n(200_000), customer: n(150_000), orders: n(1_500_000), clerks: n(1_000)}
}

// Rows returns the number of rows table has at scale factor sf (lineitem's
// is not fixed by the scale factor alone; Rows returns orders × 4, its
// expectation).
func Rows(table string, sf float64) int64 {
	c := cardinalities(sf)
	switch table {
	case "region":
		return 5
	case "nation":
		return 25
	case "supplier":
		return c.supplier
	case "customer":
		return c.customer
	case "part":
		return c.part
	case "partsupp":
		return 4 * c.part
	case "orders":
		return c.orders
	case "lineitem":
		return 4 * c.orders
	}
	return 0
}

// Schema returns a table's Arrow schema: keys int64, money decimal(15,2),
// dates date32, small counts int32.
func Schema(table string) *arrow.Schema {
	i64, i32, str, date := arrow.PrimitiveTypes.Int64, arrow.PrimitiveTypes.Int32, arrow.BinaryTypes.String, arrow.FixedWidthTypes.Date32
	f := func(name string, t arrow.DataType) arrow.Field { return arrow.Field{Name: name, Type: t} }
	var fs []arrow.Field
	switch table {
	case "region":
		fs = []arrow.Field{f("r_regionkey", i64), f("r_name", str), f("r_comment", str)}
	case "nation":
		fs = []arrow.Field{f("n_nationkey", i64), f("n_name", str), f("n_regionkey", i64), f("n_comment", str)}
	case "supplier":
		fs = []arrow.Field{f("s_suppkey", i64), f("s_name", str), f("s_address", str), f("s_nationkey", i64), f("s_phone", str), f("s_acctbal", money), f("s_comment", str)}
	case "customer":
		fs = []arrow.Field{f("c_custkey", i64), f("c_name", str), f("c_address", str), f("c_nationkey", i64), f("c_phone", str), f("c_acctbal", money), f("c_mktsegment", str), f("c_comment", str)}
	case "part":
		fs = []arrow.Field{f("p_partkey", i64), f("p_name", str), f("p_mfgr", str), f("p_brand", str), f("p_type", str), f("p_size", i32), f("p_container", str), f("p_retailprice", money), f("p_comment", str)}
	case "partsupp":
		fs = []arrow.Field{f("ps_partkey", i64), f("ps_suppkey", i64), f("ps_availqty", i32), f("ps_supplycost", money), f("ps_comment", str)}
	case "orders":
		fs = []arrow.Field{f("o_orderkey", i64), f("o_custkey", i64), f("o_orderstatus", str), f("o_totalprice", money), f("o_orderdate", date), f("o_orderpriority", str), f("o_clerk", str), f("o_shippriority", i32), f("o_comment", str)}
	case "lineitem":
		fs = []arrow.Field{f("l_orderkey", i64), f("l_partkey", i64), f("l_suppkey", i64), f("l_linenumber", i32), f("l_quantity", money), f("l_extendedprice", money), f("l_discount", money), f("l_tax", money), f("l_returnflag", str), f("l_linestatus", str), f("l_shipdate", date), f("l_commitdate", date), f("l_receiptdate", date), f("l_shipinstruct", str), f("l_shipmode", str), f("l_comment", str)}
	default:
		return nil
	}
	return arrow.NewSchema(fs, nil)
}

// Generate writes the tables Options asks for.
func Generate(ctx context.Context, o Options) error {
	if o.SF <= 0 {
		return fmt.Errorf("tpch: scale factor %v must be positive", o.SF)
	}
	if o.Format == "" {
		o.Format = "parquet"
	}
	if o.Format != "parquet" && o.Format != "csv" {
		return fmt.Errorf("tpch: format %q: want parquet or csv", o.Format)
	}
	if _, err := Codec(o.Compression); err != nil {
		return err
	}
	parts := max(o.Partitions, 1)
	tables := o.Tables
	if len(tables) == 0 {
		tables = Tables
	}
	for _, t := range tables {
		if Schema(t) == nil {
			return fmt.Errorf("tpch: unknown table %q (want one of %s)", t, strings.Join(Tables, ", "))
		}
	}
	c := cardinalities(o.SF)
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for _, t := range tables {
		dir := filepath.Join(o.Dir, t)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("tpch: %w", err)
		}
		total, n := rowsToGenerate(t, c), parts
		if t == "region" || t == "nation" {
			n = 1
		}
		var done atomic.Int64
		for p := 0; p < n; p++ {
			lo, hi := total*int64(p)/int64(n), total*int64(p+1)/int64(n)
			path := filepath.Join(dir, fmt.Sprintf("part-%d.%s", p, o.Format))
			g.Go(func() error {
				return writePart(ctx, o, t, c, lo, hi, path, func(rows int64) {
					if o.Progress != nil {
						o.Progress(t, done.Add(rows), Rows(t, o.SF))
					}
				})
			})
		}
	}
	return g.Wait()
}

// Codec is the Parquet compression codec a name stands for ("" is snappy).
func Codec(name string) (compress.Compression, error) {
	switch strings.ToLower(name) {
	case "", "snappy":
		return compress.Codecs.Snappy, nil
	case "lz4", "lz4_raw":
		return compress.Codecs.Lz4Raw, nil
	case "zstd":
		return compress.Codecs.Zstd, nil
	case "gzip":
		return compress.Codecs.Gzip, nil
	case "none", "uncompressed":
		return compress.Codecs.Uncompressed, nil
	}
	return 0, fmt.Errorf("tpch: compression %q: want snappy, lz4, zstd, gzip or none", name)
}

// rowsToGenerate is the number of generator rows of a table: for lineitem,
// orders (each order makes its lines).
func rowsToGenerate(t string, c counts) int64 {
	switch t {
	case "region":
		return 5
	case "nation":
		return 25
	case "supplier":
		return c.supplier
	case "customer":
		return c.customer
	case "part", "partsupp":
		return c.part
	case "orders", "lineitem":
		return c.orders
	}
	return 0
}

const batchRows = 1 << 16

// writePart writes generator rows [lo, hi) of table t to path.
func writePart(ctx context.Context, o Options, t string, c counts, lo, hi int64, path string, progress func(int64)) error {
	schema := Schema(t)
	mem := memory.NewGoAllocator()
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("tpch: %w", err)
	}
	defer func() {
		f.Close()
		os.Remove(tmp)
	}()
	var write func(arrow.RecordBatch) error
	var closeW func() error
	if o.Format == "parquet" {
		codec, _ := Codec(o.Compression)
		props := []parquet.WriterProperty{parquet.WithCompression(codec), parquet.WithStoreDecimalAsInteger(true),
			parquet.WithMaxRowGroupLength(1 << 17)}
		for _, fl := range schema.Fields() {
			if fl.Type.ID() != arrow.STRING {
				props = append(props, parquet.WithDictionaryFor(fl.Name, false))
			}
		}
		w, err := pqarrow.NewFileWriter(schema, f, parquet.NewWriterProperties(props...), pqarrow.DefaultWriterProps())
		if err != nil {
			return fmt.Errorf("tpch: %s: %w", t, err)
		}
		write, closeW = w.Write, w.Close
	} else {
		w := csv.NewWriter(f, schema, csv.WithHeader(true))
		write, closeW = w.Write, func() error { w.Flush(); return w.Error() }
	}
	gen := generator(t, c)
	bld := array.NewRecordBuilder(mem, schema)
	defer bld.Release()
	rows := 0
	flush := func() error {
		if rows == 0 {
			return nil
		}
		rec := bld.NewRecordBatch()
		defer rec.Release()
		if err := write(rec); err != nil {
			return fmt.Errorf("tpch: write %s: %w", path, err)
		}
		progress(int64(rows))
		rows = 0
		return nil
	}
	for i := lo; i < hi; i++ {
		rows += gen(bld, i)
		if rows >= batchRows {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	if err := closeW(); err != nil {
		return fmt.Errorf("tpch: close %s: %w", path, err)
	}
	if o.Format == "csv" {
		if err := f.Close(); err != nil {
			return fmt.Errorf("tpch: close %s: %w", path, err)
		}
	}
	return os.Rename(tmp, path)
}

// generator returns the function that appends the rows of generator row i
// (one row, or for partsupp and lineitem several) and returns how many.
func generator(t string, c counts) func(b *array.RecordBuilder, i int64) int {
	switch t {
	case "region":
		return func(b *array.RecordBuilder, i int64) int {
			r := rowRand{1, i}
			appendRow(b, i, regions[i], text(r.stream(0), 31, 115))
			return 1
		}
	case "nation":
		return func(b *array.RecordBuilder, i int64) int {
			r := rowRand{2, i}
			appendRow(b, i, nations[i].name, nations[i].region, text(r.stream(0), 31, 114))
			return 1
		}
	case "supplier":
		return func(b *array.RecordBuilder, i int64) int {
			key, r := i+1, rowRand{3, i}
			nk := r.intn(0, 0, 24)
			appendRow(b, key, fmt.Sprintf("Supplier#%09d", key), vstring(r.stream(1), 10, 40), nk, phone(r, 2, nk),
				cents(r.intn(3, -99_999, 999_999)), supplierComment(r))
			return 1
		}
	case "customer":
		return func(b *array.RecordBuilder, i int64) int {
			key, r := i+1, rowRand{4, i}
			nk := r.intn(0, 0, 24)
			appendRow(b, key, fmt.Sprintf("Customer#%09d", key), vstring(r.stream(1), 10, 40), nk, phone(r, 2, nk),
				cents(r.intn(3, -99_999, 999_999)), r.pick(4, segments), text(r.stream(5), 29, 116))
			return 1
		}
	case "part":
		return func(b *array.RecordBuilder, i int64) int {
			key, r := i+1, rowRand{5, i}
			m := r.intn(1, 1, 5)
			appendRow(b, key, partName(r.stream(0)), fmt.Sprintf("Manufacturer#%d", m), fmt.Sprintf("Brand#%d%d", m, r.intn(2, 1, 5)),
				r.pick(3, typeSyl1)+" "+r.pick(4, typeSyl2)+" "+r.pick(5, typeSyl3), int32(r.intn(6, 1, 50)),
				r.pick(7, containerSyl1)+" "+r.pick(8, containerSyl2), cents(retailPrice(key)), text(r.stream(9), 5, 22))
			return 1
		}
	case "partsupp":
		return func(b *array.RecordBuilder, i int64) int {
			key := i + 1
			for j := int64(0); j < 4; j++ {
				r := rowRand{6, i*4 + j}
				appendRow(b, key, partSupplier(key, j, c.supplier), int32(r.intn(0, 1, 9999)), cents(r.intn(1, 100, 100_000)), text(r.stream(2), 49, 198))
			}
			return 4
		}
	case "orders":
		return func(b *array.RecordBuilder, i int64) int {
			o := makeOrder(i, c)
			appendRow(b, o.key, o.custkey, o.status, cents(o.totalCents), o.date, o.priority, o.clerk, int32(0), o.comment)
			return 1
		}
	case "lineitem":
		return func(b *array.RecordBuilder, i int64) int {
			o := makeOrder(i, c)
			for _, l := range o.lines {
				appendRow(b, o.key, l.partkey, l.suppkey, l.number, cents(l.quantity*100), cents(l.extCents), cents(l.discount), cents(l.tax),
					l.returnflag, l.linestatus, l.ship, l.commit, l.receipt, l.instruct, l.mode, l.comment)
			}
			return len(o.lines)
		}
	}
	return nil
}

type cents int64

// appendRow appends one value per column, by Go type.
func appendRow(b *array.RecordBuilder, vals ...any) {
	for i, v := range vals {
		switch x := v.(type) {
		case int64:
			b.Field(i).(*array.Int64Builder).Append(x)
		case int32:
			b.Field(i).(*array.Int32Builder).Append(x)
		case string:
			b.Field(i).(*array.StringBuilder).Append(x)
		case cents:
			b.Field(i).(*array.Decimal128Builder).Append(decimal128.FromI64(int64(x)))
		case arrow.Date32:
			b.Field(i).(*array.Date32Builder).Append(x)
		default:
			panic(fmt.Sprintf("tpch: column %d: unexpected %T", i, v))
		}
	}
}

func phone(r rowRand, col int, nationkey int64) string {
	return fmt.Sprintf("%02d-%03d-%03d-%04d", nationkey+10, r.intn(col, 100, 999), r.intn(col+100, 100, 999), r.intn(col+200, 1000, 9999))
}

// retailPrice is P_RETAILPRICE of a part key, in cents.
func retailPrice(partkey int64) int64 {
	return 90_000 + (partkey/10)%20_001 + 100*(partkey%1_000)
}

// partSupplier is the supplier key of the j-th (0..3) supplier of a part.
func partSupplier(partkey, j, suppliers int64) int64 {
	return (partkey+j*(suppliers/4+(partkey-1)/suppliers))%suppliers + 1
}

func partName(g interface{ IntN(int) int }) string {
	idx := make([]int, len(colors))
	for i := range idx {
		idx[i] = i
	}
	words := make([]string, 5)
	for k := 0; k < 5; k++ { // partial Fisher-Yates: five distinct colors
		j := k + g.IntN(len(idx)-k)
		idx[k], idx[j] = idx[j], idx[k]
		words[k] = colors[idx[k]]
	}
	return strings.Join(words, " ")
}

// supplierComment is S_COMMENT; 5 in 10 000 suppliers mention customer
// complaints and 5 customer recommendations, as the specification requires.
func supplierComment(r rowRand) string {
	g := r.stream(10)
	s := text(g, 25, 100)
	var tag string
	switch r.u64(11) % 10_000 {
	case 0, 1, 2, 3, 4:
		tag = "Complaints"
	case 5, 6, 7, 8, 9:
		tag = "Recommends"
	default:
		return s
	}
	ins := "Customer " + tag
	if len(s) <= len(ins) {
		return ins
	}
	at := g.IntN(len(s) - len(ins) + 1)
	return s[:at] + ins + s[at+len(ins):]
}

type order struct {
	key, custkey, totalCents int64
	status, priority, clerk  string
	comment                  string
	date                     arrow.Date32
	lines                    []line
}

type line struct {
	partkey, suppkey, quantity, extCents, discount, tax int64
	number                                              int32
	returnflag, linestatus, instruct, mode, comment     string
	ship, commit, receipt                               arrow.Date32
}

// makeOrder builds order i (0-based) with its line items: both tables call
// it, so o_totalprice and o_orderstatus agree with the lines.
func makeOrder(i int64, c counts) order {
	r := rowRand{7, i}
	o := order{key: (i/8)*32 + i%8 + 1}
	nonMult3 := c.customer - c.customer/3 // customer keys not divisible by 3
	j := r.intn(0, 0, max(nonMult3, 1)-1)
	o.custkey = j/2*3 + j%2 + 1
	o.date = arrow.Date32(r.intn(1, startDate, endDate-151))
	o.priority = r.pick(2, priorities)
	o.clerk = fmt.Sprintf("Clerk#%09d", r.intn(3, 1, c.clerks))
	o.comment = text(r.stream(4), 19, 78)
	n := int(r.intn(5, 1, 7))
	allF, allO := true, true
	for k := 0; k < n; k++ {
		lr := rowRand{8, i*8 + int64(k)}
		l := line{number: int32(k + 1)}
		l.partkey = lr.intn(0, 1, c.part)
		l.suppkey = partSupplier(l.partkey, lr.intn(1, 0, 3), c.supplier)
		l.quantity = lr.intn(2, 1, 50)
		l.extCents = l.quantity * retailPrice(l.partkey)
		l.discount = lr.intn(3, 0, 10)
		l.tax = lr.intn(4, 0, 8)
		l.ship = o.date + arrow.Date32(lr.intn(5, 1, 121))
		l.commit = o.date + arrow.Date32(lr.intn(6, 30, 90))
		l.receipt = l.ship + arrow.Date32(lr.intn(7, 1, 30))
		if l.receipt <= currentDate {
			l.returnflag = []string{"R", "A"}[lr.u64(8)%2]
		} else {
			l.returnflag = "N"
		}
		if l.ship > currentDate {
			l.linestatus, allF = "O", false
		} else {
			l.linestatus, allO = "F", false
		}
		l.instruct = lr.pick(9, instructions)
		l.mode = lr.pick(10, shipModes)
		l.comment = text(lr.stream(11), 10, 43)
		// extendedprice × (1 + tax) × (1 - discount), in cents, rounded.
		v := l.extCents * (100 + l.tax) * (100 - l.discount)
		o.totalCents += (v + 5_000) / 10_000
		o.lines = append(o.lines, l)
	}
	switch {
	case allF:
		o.status = "F"
	case allO:
		o.status = "O"
	default:
		o.status = "P"
	}
	return o
}

// Files lists the data files of a table under dir, sorted.
func Files(dir, table string) ([]string, error) {
	var out []string
	for _, pattern := range []string{filepath.Join(dir, table, "*.parquet"), filepath.Join(dir, table, "*.csv"), filepath.Join(dir, table+".parquet")} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			return nil, err
		}
		out = append(out, m...)
	}
	sort.Strings(out)
	if len(out) == 0 {
		return nil, fmt.Errorf("tpch: no files for table %s under %s", table, dir)
	}
	return out, nil
}
