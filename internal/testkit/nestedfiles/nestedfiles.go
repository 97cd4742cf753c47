package nestedfiles

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// duckDBRows are the rows DuckDB writes to the nested-types file:
// k, a TIMESTAMP, LIST<INT>, LIST<VARCHAR>, STRUCT<a INT, b VARCHAR> and
// MAP<VARCHAR, INT>, with empty lists and maps, NULL lists, structs and
// maps, NULL elements, fields and values, and strings that DuckDB quotes
// inside a nested value.
const duckDBRows = `
	(1, timestamp '2024-01-01 10:00:00', [1, 2, 3], ['a', 'b c'], {'a': 1, 'b': 'hello'}, map {'x': 1, 'y': 2}),
	(2, timestamp '2024-01-02 11:30:00.5', []::INTEGER[], []::VARCHAR[], {'a': NULL, 'b': 'x,y'}, map {}::MAP(VARCHAR, INTEGER)),
	(3, NULL, NULL, NULL, NULL, NULL),
	(4, timestamp '2024-01-03 00:00:00', [NULL, 5], ['', NULL, 'NULL'], {'a': 4, 'b': NULL}, map {'x': NULL}),
	(5, timestamp '2024-01-04 23:59:59', [7], ['it''s', ' pad'], {'a': 1, 'b': 'hello'}, map {'z': 3, 'x': 9}),
	(6, timestamp '2024-01-05 12:00:00', [2, 2, 9, 1], ['a'], {'a': NULL, 'b': NULL}, map {'y': 5})`

// DuckDBFile has DuckDB (db) write n.parquet under dir: k INTEGER, ts
// TIMESTAMP, li INTEGER[], ls VARCHAR[], s STRUCT(a INTEGER, b VARCHAR), m
// MAP(VARCHAR, INTEGER).
func DuckDBFile(db *sql.DB, dir string) (string, error) {
	path := filepath.Join(dir, "n.parquet")
	q := fmt.Sprintf(`copy (select k::INTEGER as k, ts, li::INTEGER[] as li, ls::VARCHAR[] as ls, s::STRUCT(a INTEGER, b VARCHAR) as s, m::MAP(VARCHAR, INTEGER) as m
		from (values %s) v(k, ts, li, ls, s, m)) to '%s' (format parquet)`, duckDBRows, path)
	if _, err := db.Exec(q); err != nil {
		return "", fmt.Errorf("duckdb: %w", err)
	}
	return path, nil
}

// ArrowFile writes g.parquet under dir with arrow-go: k BIGINT, ll LIST<LIST<BIGINT>>,
// st STRUCT<x DOUBLE, y LIST<VARCHAR>, z DATE>, mm MAP<BIGINT, VARCHAR>.
func ArrowFile(dir string) (string, error) {
	stType := arrow.StructOf(arrow.Field{Name: "x", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		arrow.Field{Name: "y", Type: arrow.ListOf(arrow.BinaryTypes.String), Nullable: true},
		arrow.Field{Name: "z", Type: arrow.FixedWidthTypes.Date32, Nullable: true})
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "k", Type: arrow.PrimitiveTypes.Int64},
		{Name: "ll", Type: arrow.ListOf(arrow.ListOf(arrow.PrimitiveTypes.Int64)), Nullable: true},
		{Name: "st", Type: stType, Nullable: true},
		{Name: "mm", Type: arrow.MapOf(arrow.PrimitiveTypes.Int64, arrow.BinaryTypes.String), Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	k := b.Field(0).(*array.Int64Builder)
	ll := b.Field(1).(*array.ListBuilder)
	inner := ll.ValueBuilder().(*array.ListBuilder)
	ints := inner.ValueBuilder().(*array.Int64Builder)
	st := b.Field(2).(*array.StructBuilder)
	x := st.FieldBuilder(0).(*array.Float64Builder)
	y := st.FieldBuilder(1).(*array.ListBuilder)
	ys := y.ValueBuilder().(*array.StringBuilder)
	z := st.FieldBuilder(2).(*array.Date32Builder)
	mm := b.Field(3).(*array.MapBuilder)
	mk := mm.KeyBuilder().(*array.Int64Builder)
	mv := mm.ItemBuilder().(*array.StringBuilder)
	for i := int64(1); i <= 5; i++ {
		k.Append(i)
		switch i {
		case 3:
			ll.AppendNull()
			st.AppendNull()
			mm.AppendNull()
			continue
		case 4:
			ll.Append(true)
		default:
			ll.Append(true)
			for j := int64(0); j < i%3+1; j++ {
				if j == 1 && i == 5 {
					inner.AppendNull()
					continue
				}
				inner.Append(true)
				for v := int64(0); v <= j; v++ {
					ints.Append(i*10 + v)
				}
			}
		}
		st.Append(true)
		if i == 2 {
			x.AppendNull()
		} else {
			x.Append(float64(i) * 1.5)
		}
		if i == 4 {
			y.AppendNull()
		} else {
			y.Append(true)
			for v := int64(0); v < i; v++ {
				ys.Append(fmt.Sprintf("s%d", v))
			}
		}
		z.Append(arrow.Date32(19700 + i))
		mm.Append(true)
		for v := int64(0); v < i%3; v++ {
			mk.Append(v * i)
			mv.Append(fmt.Sprintf("v%d", v))
		}
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	tbl := array.NewTableFromRecords(schema, []arrow.RecordBatch{rec})
	defer tbl.Release()
	path := filepath.Join(dir, "g.parquet")
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	defer f.Close() // (WriteTable closes it when it succeeds)
	if err := pqarrow.WriteTable(tbl, f, 1024, parquet.NewWriterProperties(), pqarrow.DefaultWriterProps()); err != nil {
		return "", err
	}
	return path, nil
}

// Queries are checked against DuckDB over the same files (n and g), in
// process (planner) and on a cluster (e2e).
func Queries() []string {
	return append(append(append(accessQueries(), makeQueries()...), orderQueries()...), jsonQueries()...)
}

// accessQueries read nested columns: projection, access, lengths,
// list_contains, IS NULL, counts, and nested values carried through joins.
func accessQueries() []string {
	return []string{
		`select * from n order by k`,
		`select k, li, ls from n order by k`,
		`select k, s, m from n order by k`,
		`select * from g order by k`,
		`select k, ts, s from n where k > 2 order by k`,
		// struct fields
		`select k, s.a, s.b from n order by k`,
		`select k, (s).a, s['b'], n.s.b from n order by k`,
		`select k, s.a + 1, upper(s.b), length(s.b) from n order by k`,
		`select k from n where s.a = 1 order by k`,
		`select k from n where s.b is null order by k`,
		`select k from n where s.b like 'h%' or s.a > 3 order by k`,
		`select s.b, count(*), sum(s.a) from n group by s.b order by 1 nulls first`,
		`select count(s), count(s.a), count(s.b), count(*) from n`,
		`select k, st.x, st.y, st.z, st.y[2] from g order by k`,
		// list elements and lengths
		`select k, li[1], li[2], li[3], li[4], li[0], li[-1], li[-4], li[-5] from n order by k`,
		`select k, ls[1], ls[2], ls[3] from n order by k`,
		`select k, len(li), array_length(ls), length(li) from n order by k`,
		`select k, li[k - 2] from n order by k`,
		`select k from n where li[1] = 1 or ls[1] = 'a' order by k`,
		`select k from n where len(li) = 0 order by k`,
		`select sum(len(li)), max(li[1]), min(ls[1]) from n`,
		`select k, ll, ll[1], ll[2], ll[2][1], len(ll[1]), ll[-1][-1] from g order by k`,
		// list_contains
		`select k, list_contains(li, 2), list_contains(ls, 'a'), list_contains(li, k) from n order by k`,
		`select k from n where list_contains(li, 5) order by k`,
		`select k, array_contains(li, 9), list_has(ls, ''), list_contains(li, null) from n order by k`,
		`select k, list_contains(st.y, 's1') from g order by k`,
		// maps
		`select k, m['x'], m['y'], m['zz'] from n order by k`,
		`select k from n where m['x'] > 1 order by k`,
		`select k, mm[0], mm[2], mm[4], mm[k] from g order by k`,
		// IS NULL on nested values
		`select k, li is null, ls is not null, s is null, m is null from n order by k`,
		`select k, ll is null, st is null, mm is not null from g order by k`,
		// counts, filters, joins on extracted values
		`select count(li), count(m), count(*) from n`,
		`select count(*) from n where li is not null and s.a is not null`,
		`select a.k, b.k from n a join n b on a.s.a = b.li[1] order by 1, 2`,
		`select n.k, g.k from n join g on n.li[1] = g.ll[1][1] - 9 order by 1, 2`,
		`select a.k, b.k from n a join n b on a.s.b = b.ls[1] order by 1, 2`,
		`select k, li, s from n where k in (select k from g where st.x > 3) order by k`,
		`select cast(li as varchar), cast(s as varchar), cast(m as varchar) from n order by k`,
		`select k, coalesce(s.a, li[1], -1), case when m['x'] is null then 'none' else 'x' end from n order by k`,
		`select * from (select k, s from n union all select k, s from n) u order by k limit 4`,
		`select k, li from n order by k desc limit 2`,
		// nested columns carried through joins, sorts and filters
		`select a.k, a.li, b.s, b.m from n a join n b on a.k = b.k order by 1`,
		`select a.k, b.li, b.s, b.m from n a left join n b on a.k = b.k + 3 order by 1`,
		`select g.k, g.ll, g.st, g.mm, n.ls from g full join n on g.k = n.k + 4 order by g.k nulls first, n.k`,
		`select k, li, s, m from n where k in (select k from n where s.a = 1) order by k`,
		`select k, ts, li, s, m from n order by ts desc nulls last`,
		`select k, ll, st, mm from g where k <> 3 order by k desc limit 3 offset 1`,
		`select k, li, m from n where ts > timestamp '2024-01-02' order by k`,
		`select count(*), count(li), count(ll), sum(st.x) from n join g using (k)`,
		// nested values in CASE and COALESCE, access in every spelling
		`select k, coalesce(li, li), case when k > 2 then li end, case when k < 3 then s else s end, case k when 1 then m end from n order by k`,
		`select k from n where exists (select 1 from g where g.k = n.k and g.st.x > 1) order by k`,
		`select typeof(li), typeof(s), typeof(m), typeof(s.a), typeof(li[1]) from n limit 1`,
		`select k, li from n where s.a is not distinct from 1 order by k`,
		`select k, s.a between 1 and 3, li[null] from n order by k`,
		`select max(len(ls)), min(s.b), avg(s.a) from n`,
		`select k, (li)[1], (s).b, n.li[2] from n order by k`,
		`with w as (select k, s from n) select k, w.s.a from w order by k`,
		`select x.k, x.s.b from n x order by x.k`,
	}
}

// makeQueries build and reshape lists: array_agg, ARRAY[…], list_sort,
// string_split, unnest.
func makeQueries() []string {
	return []string{
		// array_agg / list: NULLs kept, in the call's order, through partial and final phases
		`select array_agg(k order by k), list(li order by k desc), array_agg(s.b order by k) from n`,
		`select k % 2, array_agg(s.a order by k desc), list(ls[1] order by k) from n group by 1 order by 1`,
		`select k % 3 as g, array_agg(s order by k), list(m order by k desc nulls first), array_agg(ts order by ts nulls first) from n group by 1 order by 1`,
		`select array_agg(k order by k) from n where k > 10`,
		`select k, array_agg(st.x order by k), list(ll order by k), array_agg(mm order by k) from g group by k order by k`,
		`select s.b, array_agg(k order by li[1] nulls first, k), count(*) from n group by s.b order by 1 nulls first`,
		`select typeof(array_agg(k order by k)), len(list(ls order by k)) from n`,
		`select n.k, array_agg(g.k order by g.k) from n join g on n.k <= g.k group by n.k order by 1`,
		// ARRAY[…] / list_value, list_sort, string_split
		`select k, array[1, 2.5], array[k, null, 3], list_value(k, 2), array['a', ls[1]], array[s, s], array[li, li], array[m] from n order by k`,
		`select k, array[ts, ts], array[array[k], li], (array[k * 10, k])[2], len(array[k, k]) from n order by k`,
		`select array[sum(k), max(k)], array[count(*)] from n`,
		`select k, list_sort(li), list_sort(ls, 'DESC'), array_sort(li, 'asc', 'nulls first'), list_reverse_sort(li), array_reverse_sort(ls, 'NULLS FIRST'), list_sort(li, 'DESC', 'NULLS FIRST') from n order by k`,
		`select k, list_sort(st.y, 'desc'), list_sort(ll[1]) from g order by k`,
		`select k, string_split(s.b, ','), string_to_array(s.b, ''), str_split(s.b, null), len(string_split(s.b, 'l')), string_split(ls[1], ' ') from n order by k`,
		`select string_split('a,b,,c', ','), string_split('', ','), string_split('', ''), array_length(string_split('a b', ' ')), (list_sort(string_split('c,a,b', ',')))[1]`,
		`select k from n where list_contains(string_split(s.b, ','), 'y') or len(list_sort(li)) = 4 order by k`,
		`select k % 2, list_sort(array_agg(k)), list_sort(array_agg(s.b), 'DESC', 'NULLS FIRST') from n group by 1 order by 1`,
		// unnest in the select list (NULL and empty lists give no row) and in FROM
		`select unnest(li), k from n order by k, 1`,
		`select k, unnest(ls) as x, s.a from n order by k, x`,
		`select unnest(array_agg(k order by k)) from n`,
		`select k % 2 as g, unnest(list(k order by k)) as x from n group by 1 order by 1, 2`,
		`select unnest(li) + 1 as x from n order by 1`,
		`select distinct unnest(li) as x from n order by 1`,
		`select unnest(st.y) as y, k from g order by k, y`,
		`select unnest(ll[1]) as x, k, mm from g order by k, x`,
		`select count(*), count(x), sum(x) from (select unnest(li) as x from n) t`,
		`select unnest(li) as x from n where k > 3 order by 1 limit 2`,
		`select k, unnest(array[k, k * 10]) as v from n order by k, v`,
		`select k, unnest(string_split(s.b, ',')) as p from n order by k, p`,
		`select x from unnest(array[3, 1, 2]) as u(x) order by x`,
		`select * from unnest(string_split('a,b,c', ',')) order by 1`,
		`select x, n.k, n.li from unnest(array[1, 4, 7]) u(x) join n on n.k = x order by 1`,
		`select x, count(*) from (select unnest(ls) as x from n) t group by x order by x nulls first`,
		// several unnests zip, to the longest list
		`select k, unnest(li) as a, unnest(ls) as b from n order by k, a nulls last, b`,
		`select k, unnest(li) as a, unnest(array[k]) as b from n order by k, a nulls first`,
		`select unnest(st.y) as y, unnest(ll) as l, k from g order by k, y, l`,
		// unnest in FROM over the FROM item before it (lateral)
		`select k, x from n, unnest(n.li) u(x) order by k, x`,
		`select * from n, unnest(li) order by k, 7`,
		`select n.k, u.x, n.s.b from n, unnest(n.ls) as u(x) where x <> 'a' order by 1, 2`,
		`select k, count(*), sum(x) from n, unnest(li) u(x) group by k order by k`,
		`select g.k, e from g, unnest(g.st.y) t(e) order by 1, 2`,
		`select n.k, g.k, x from g, n, unnest(n.li) u(x) where n.k = g.k order by 1, 3`,
		`select n.k, x from n join g on n.k = g.k, unnest(n.li) u(x) order by 1, 2`,
		`select x, count(*) from n, unnest(n.ls) u(x) group by x order by x nulls first`,
	}
}

// orderQueries compare, sort, group and join nested values.
func orderQueries() []string {
	return []string{
		// nested values compared, sorted, grouped in DuckDB's order (lexicographic, a NULL inside after every value)
		`select k, li from n order by li, k`,
		`select k, li from n order by li desc nulls last, k`,
		`select k, s, m from n order by s nulls first, m, k`,
		`select k, ls from n order by ls nulls first, k`,
		`select k, m from n order by m, k`,
		`select k, ll, st from g order by ll, st`,
		`select k, li from n order by li nulls first limit 2`,
		`select li, count(*) from n group by li order by li`,
		`select distinct s from n order by s`,
		`select st, mm, count(*) from g group by st, mm order by st, mm`,
		`select ll, count(*) from g group by ll order by ll desc nulls last`,
		`select m, count(*) from n group by m order by m nulls first`,
		`select s.a, count(*), array_agg(k order by k) from n group by s order by s`,
		`select li from n union select li from n order by 1`,
		`select s from n union all select s from n order by 1`,
		`select s from n intersect select s from n order by 1`,
		`select li from n except select li from n where k < 4 order by 1`,
		`select k from n where li = array[2,2,9,1] or li < array[1, 3] order by k`,
		`select k, li = li, li < array[5], s = s, li <> array[7], m = m, li >= array[null::int] from n order by k`,
		`select k, li in (li), li in (array[7], array[1,2,3]), s between s and s, li not in (array[7]) from n order by k`,
		`select k, mm = mm, st < st, ll >= ll, ll[2] > ll[1] from g order by k`,
		`select a.k, b.k from n a join n b on a.li = b.li order by 1, 2`,
		`select a.k, b.k from n a join n b on a.s = b.s order by 1, 2`,
		`select k, list_sort(ll), list_sort(ll, 'DESC', 'NULLS FIRST') from g order by k`,
		`select list_sort(array[array[2], array[1, null], array[1], null]), array[null, s], list_sort(array[m, m]) from n order by k`,
		`select array_agg(li order by li nulls first), string_agg(k::varchar, ',' order by s desc nulls last, k) from n`,
		`select k, rank() over (order by li), row_number() over (partition by s order by k) from n order by k`,
		`select k, count(*) over (partition by m), dense_rank() over (order by s desc nulls last, k), ntile(2) over (order by s nulls first, k) from n order by k`,
		`select k, lag(k) over (partition by s.b order by li nulls first), count(*) over (partition by ls) from n order by k`,
		`select k, first_value(k) over (partition by st order by ll) from g order by k`,
		`select count(distinct li), count(distinct s), count(distinct m), count(distinct ll), count(distinct array[n.k % 2]) from n, g where n.k = g.k`,
		`select a.k from n a join n b using (li) order by 1`,
		`select k from n where li in (select li from n where k > 3) order by k`,
		`select k from n where li not in (select li from n where k > 4) order by k`,
		`select k from n where li not in (select li from n) order by k`,
		`select k from n where s not in (select s from n where s is not null and k < 3) order by k`,
		`select k from n a where exists (select 1 from n b where b.li = a.li and b.k <> a.k) order by k`,
		`select count(*) from n a join n b on a.m = b.m`,
		`select min(li), max(li), min(s), max(s), min(m), max(m), min(ls), max(ls) from n`,
		`select k % 2, min(li), max(s), count(distinct s) from n group by 1 order by 1`,
		`select min(ll), max(ll), min(st), max(mm) from g`,
		`select min(li), max(m) from n where k > 10`,
		`select s.a, max(li), min(array[k, s.a]) from n group by s.a order by 1 nulls first`,
		`select k, (select max(li) from n) from n order by k limit 2`,
		`select s, count(*) from n group by rollup (s) order by 1 nulls first, 2`,
		`select li, k % 2 as g, count(*), grouping(li) from n group by grouping sets ((li), (k % 2), ()) order by 1 nulls first, 2 nulls first, 3`,
		`select m, s.a, count(*) from n group by cube (m, s.a) order by 1 nulls first, 2 nulls first, 3`,
		`select k, li = null, null < s, m <> null from n order by k`,
		`select k, nullif(li, li), nullif(li, array[7]), nullif(s, s), nullif(m, m) from n order by k`,
		`select n.k, nullif(li, array[1,2,3]), nullif(ll, ll), nullif(st, st) from n, g where n.k = g.k order by 1`,
		`select k, li is distinct from li, li is not distinct from array[1,2,3], s is distinct from s, m is not distinct from m, li is distinct from array[null::int, 5] from n order by k`,
		`select k, null is not distinct from s, m is distinct from null from n where li is distinct from null order by k`,
		`select a.k, b.k from n a, n b where a.s is not distinct from b.s order by 1, 2`,
		`select a.k, b.k from n a left join n b on a.li = b.li and a.k <> b.k order by 1, 2`,
	}
}

// jsonQueries read JSON held in VARCHAR.
func jsonQueries() []string {
	return []string{
		// JSON in VARCHAR: json_extract (JSON text, cast for DuckDB's client), json_extract_string, -> and ->>
		jsonDocs + `select i, json_extract(j, '$.a.b')::varchar, json_extract(j, '$.a.b[1]')::varchar, json_extract(j, '$.a.b[2]')::varchar, json_extract(j, '$.a.c')::varchar, json_extract(j, '$.a.d')::varchar, json_extract(j, '$.zz')::varchar, json_extract(j, '$.a')::varchar from t order by i`,
		jsonDocs + `select i, json_extract(j, '$.e')::varchar, json_extract_string(j, '$.e'), json_extract(j, '$.f')::varchar, json_extract(j, '$.g')::varchar, json_extract(j, '$.h')::varchar, json_extract(j, '$.i')::varchar, json_extract(j, '$.k')::varchar, json_extract(j, '$.u')::varchar, json_extract_string(j, '$.u') from t order by i`,
		// DuckDB's JSON type named by typeof (kapot keeps the text in a VARCHAR)
		jsonDocs + `select i, typeof(json_extract(j, '$.a')), typeof(j -> 'a'), typeof(j ->> 'a'), typeof(json_extract_path(j, 'a')), typeof(json_extract('{"a":1}', '$.a')) from t order by i`,
		jsonDocs + `select i, json_extract_string(j, '$.a'), json_extract_string(j, '$.a.c'), json_extract_string(j, '$.a.b[0]'), json_extract_string(j, '$.a.d'), json_extract_string(j, '$.f'), json_extract_string(j, '$.a.b'), json_extract_string(j, '$[1]'), json_extract_string(j, '$[1].a'), json_extract_string(j, '$'), json_extract(j, '$')::varchar from t order by i`,
		jsonDocs + `select i, (j -> 'a')::varchar, j ->> 'e', (j -> '$.a.b[0]')::varchar, ((j -> 'a') -> 'b')::varchar, j -> 'a' -> 'b' ->> 2, (j -> 1)::varchar, j ->> -1, (j -> '$[-1]')::varchar, j ->> 0 from t order by i`,
		jsonDocs + `select j ->> 'e' as e, count(*) from t group by 1 order by 1 nulls first`,
		`select json_extract('{"a":1}', 'a')::varchar, json_extract('{"a b":1}', '$."a b"')::varchar, json_extract(NULL, '$.a')::varchar, json_extract('{"a":1}', NULL)::varchar, json_extract('{"a": 1.0}', '$.a')::varchar, json_extract('{"a": 0.1}', '$.a')::varchar, json_extract('{"a": 1.23456789012345678}', '$.a')::varchar, json_extract('{"a": -5}', '$.a')::varchar, json_extract('{"a": 1E-7}', '$.a')::varchar, json_extract('{"a": 1E300}', '$.a')::varchar, json_extract('{"a": 123456789.0}', '$.a')::varchar, json_extract('{"a": -1.5e-9}', '$.a')::varchar`,
		`select json_extract('{"a": "\u0001\u001f\b\f\n\r\t/\\"}', '$.a')::varchar, json_extract('[1e20, 1e21, 1e-6, 1.5e-6, 123456789012345678901234, -9223372036854775809, 18446744073709551616, 1e16, 12345678901234567.0, 0.5, 100, -0, 5E+2, 1.0e0, 2.5e22]', '$')::varchar`,
		`select json_extract('{"a": "x/y\ttab<>&\u2028"}', '$.a')::varchar, json_extract_string('{"a": "x/y\ttab"}', '$.a'), json_extract('{"a": {"z": 1, "a": 2, "z": 3}}', '$.a')::varchar, json_extract('[[1,2],[3]]', '$[0][1]')::varchar, json_extract('{"a":[1,2]}', '$.a[5]')::varchar, json_extract('{"a":1}', '$.a.b')::varchar, json_extract('[5,6]', '$[#-1]')::varchar, json_extract('[1]', '$.a')::varchar`,
		`select json_extract_path('{"a":{"b":1}}', '$.a')::varchar, json_extract_path_text('{"a":{"b":"x"}}', '$.a.b'), json_extract('{"a.b":1}', 'a.b')::varchar, json_extract_string('[5,6]', '1'), (json_extract('[5,6]', 1))::varchar`,
		`select k, json_extract_string('{"k": ' || k || ', "l": [' || coalesce(li[1], 0) || ', "' || coalesce(s.b, 'none') || '"]}', '$.l[1]') as v, json_extract('{"k": ' || k || '}', 'k')::varchar = '3' from n order by k`,
	}
}

// jsonDocs is a WITH table t(i, j) of JSON documents (and a NULL) for the
// JSON queries.
const jsonDocs = `with t(i, j) as (values (1, '{"a": {"b": [1, 2.50, "x"], "c": null, "d": true}, "e": "hi \"q\"", "f": 1e2, "g": -0.0, "h": 12345678901234567890, "i": [], "k": {}, "u": "\u00e9"}'),
	(2, '[1, {"a": 2}, "s"]'), (3, NULL), (4, '"str"'), (5, '{"a": {"x": 1, "y" : [1, 2]}, "e": 5}')) `
