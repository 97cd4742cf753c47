-- The SQL-breadth corpus (issue 22): everyday analytical SQL beyond TPC-H,
-- one query per statement, each under a "-- family: NAME" line. Every query
-- must give DuckDB's answer on the TPC-H tables (planner tests in process,
-- e2e on a cluster). A query with ORDER BY is compared in order.

-- family: setop
select r_name from region union select n_name from nation where n_nationkey < 3;
select r_regionkey from region union all select n_regionkey from nation;
select n_regionkey from nation union select r_regionkey from region order by 1;
select n_regionkey, n_name from nation where n_nationkey < 5 union all select r_regionkey, r_name from region order by 2 desc limit 4;
select n_regionkey from nation intersect select r_regionkey from region where r_regionkey > 1;
select n_nationkey from nation except select s_nationkey from supplier;
select o_custkey from orders except select c_custkey from customer where c_mktsegment = 'BUILDING' order by 1 limit 10;
select count(*) from (select l_orderkey from lineitem union select o_orderkey from orders) t;
select count(*), sum(k) from (select l_orderkey as k from lineitem union all select o_orderkey from orders) t;
(select n_name from nation order by n_name limit 3) union all (select r_name from region order by r_name desc limit 2);
select n_regionkey from nation union select r_regionkey from region union select 7 order by 1;
select n_nationkey, n_regionkey from nation intersect select s_nationkey, 1 from supplier order by 1;
select n_nationkey from nation where n_nationkey < 3 union all select s_acctbal from supplier where s_suppkey < 3;
select n_nationkey * 1.5 from nation where n_nationkey < 3 union select n_regionkey from nation order by 1;
select null union all select n_name from nation where n_nationkey = 1;
select r_name, null from region union select null, n_nationkey from nation where n_nationkey < 2 order by 1, 2;
with w as (select n_regionkey k from nation union select r_regionkey from region) select k, count(*) from w group by k order by k;
select c_nationkey, count(*) from (select c_nationkey from customer union all select s_nationkey from supplier) t group by c_nationkey order by 1;
select o_orderstatus from orders except select 'F' order by 1;
select n_name from nation where n_regionkey in (select r_regionkey from region union select 4);
select n_name from nation where n_regionkey in (select r_regionkey from region where r_regionkey < 3 except select 0);
select n_regionkey from nation intersect all select r_regionkey from region;
select n_regionkey from nation except all select r_regionkey from region where r_regionkey < 3;
select n_regionkey from nation except all select n_regionkey from nation where n_nationkey < 12 order by 1;
select x from (values (1), (1), (null), (null), (2)) t(x) intersect all select y from (values (1), (null), (null), (null), (3)) t(y);
select x from (values (1), (1), (null), (null), (2)) t(x) except all select y from (values (1), (null), (3)) t(y) order by 1;
select l_returnflag, l_linestatus from lineitem where l_orderkey < 100 except all select l_returnflag, l_linestatus from lineitem where l_orderkey < 50 order by 1, 2;
select o_orderstatus from orders intersect all select o_orderstatus from orders where o_orderkey < 30 order by 1;
select count(*) from (select l_suppkey from lineitem intersect all select ps_suppkey from partsupp) t;

-- family: aggregates in expressions
select coalesce(max(r_regionkey), 0) from region;
select coalesce(max(r_regionkey), 0) from region where r_regionkey > 10;
select n_regionkey, coalesce(sum(n_nationkey), 0) + 1, max(n_nationkey) - min(n_nationkey) from nation group by 1 order by 1;
select round(avg(s_acctbal), 2), round(sum(s_acctbal) / count(*), 2) from supplier;
select greatest(max(n_nationkey), 30), least(min(n_name), 'B') from nation;
select n_regionkey from nation group by n_regionkey having coalesce(max(n_nationkey), 0) > 20 order by 1;

-- family: text
select r_name || '-' || r_regionkey from region order by 1;
select r_name || null from region;
select replace(r_name, 'A', 'a'), left(r_name, 3), right(r_name, 2), reverse(r_name) from region order by 1;
select lpad(r_name, 8, '*'), rpad(r_name, 8, '-'), lpad(r_name, 3, ' '), repeat('ab', 3) from region order by 1;
select split_part(r_comment, ' ', 2), strpos(r_name, 'A'), starts_with(r_name, 'A'), ends_with(r_name, 'A'), contains(r_name, 'RI') from region order by 1;
select concat_ws('/', r_name, null, r_regionkey::varchar), md5(r_name), ascii(r_name), chr(65 + r_regionkey::integer) from region order by 1;
select translate(r_name, 'AE', 'ae'), length(r_name || r_name) from region order by 1;
select n_name from nation where starts_with(n_name, 'I') or contains(n_name, 'AN') order by 1;

-- family: math
select ceil(1.5), ceil(-1.5), floor(1.5), floor(-1.5), trunc(-1.7), ceil(7);
select ceil(s_acctbal), floor(s_acctbal), trunc(s_acctbal), sign(s_acctbal) from supplier order by s_suppkey limit 20;
select ceil(l_extendedprice * 1.5::double), floor(l_discount * 100) from lineitem order by l_orderkey, l_linenumber limit 20;
select sqrt(16), power(2, 10), pow(2.5, 2), exp(1), ln(10), log10(1000), log2(8), cbrt(27);
select sin(0), cos(0), atan2(1, 1), degrees(pi()), radians(180), abs(-3);
select sum(sqrt(n_nationkey)), max(power(n_regionkey, 2)) from nation;

-- family: conditional
select greatest(1, 2.5, null), least(r_name, 'B'), greatest(null, null), least(3, r_regionkey) from region order by r_regionkey;
select nullif(r_regionkey, 2), coalesce(nullif(r_name, 'ASIA'), 'none') from region order by r_regionkey;
select case when n_regionkey in (1, 2) then 'x' when n_nationkey > 20 then 'y' end, count(*) from nation group by 1 order by 1;

-- family: predicates
select n_name, n_name is distinct from 'ALGERIA', null is not distinct from null, n_regionkey is not distinct from 0, n_nationkey is distinct from null from nation order by 1;
select count(*) from nation where n_regionkey is distinct from 1;
select (n_nationkey > 3) is true, (null::boolean) is unknown, (n_nationkey > 3) is not false, (n_nationkey < 3) is false from nation order by n_nationkey;
select count(*) filter (where (n_nationkey > 10) is not true) from nation;

-- family: dates
select date_trunc('month', o_orderdate), date_trunc('year', o_orderdate), date_trunc('quarter', o_orderdate), date_trunc('week', o_orderdate), date_trunc('day', o_orderdate) from orders order by o_orderkey limit 20;
select date_diff('day', o_orderdate, date '1998-01-01'), date_diff('month', o_orderdate, date '1998-01-01'), date_diff('year', o_orderdate, date '1998-01-01'), date_diff('quarter', o_orderdate, date '1998-01-01') from orders order by o_orderkey limit 20;
select date_trunc('month', o_orderdate) as m, count(*), sum(o_totalprice) from orders group by 1 order by 1 limit 12;
select make_date(2020, 2, 29), make_date(1999, 12, 31) + 1, current_date > date '2020-01-01';

-- family: casts
select cast(1.7 as integer), cast(-2.5 as integer), cast('12' as bigint), 1::real, cast(2.5 as bigint);
select cast(s_acctbal as integer), cast(s_acctbal as bigint), s_acctbal::double from supplier order by s_suppkey limit 10;
select cast(n_nationkey as varchar) || '/' || cast(n_name as varchar), cast(o_orderdate as varchar) from nation, orders where o_orderkey = n_nationkey + 1 order by 1;
select cast('1995-03-15' as date) + 1, cast(o_totalprice as varchar) from orders order by o_orderkey limit 5;
select cast(1.5 as varchar), cast(2 as varchar) || 'x', cast(date '2020-01-02' as varchar), 2.5::double::varchar, 100::double::text, true::varchar;

-- family: values
select * from (values (1, 'a'), (2, 'b')) as t(x, y) order by x;
values (1, 'a'), (2, null) order by 1 desc;
with v(k) as (values (1), (3)) select k from v order by k;
select x + 1 from (values (1), (2.5), (null)) t(x) order by 1;
select n_name from nation join (values (1), (2)) v(k) on n_nationkey = k order by 1;
select k, count(*) from (values ('a'), ('b'), ('a')) t(k) group by k order by k;
select * from (values (date '1995-01-01', 1.5), (date '1996-02-29', 2.25)) t(d, v) where d > date '1995-06-01';

-- family: join using
select * from (select n_regionkey as k, n_name from nation) a join (select r_regionkey as k, r_name from region) b using (k) order by n_name;
select k, count(*) from (select n_regionkey as k from nation) a left join (select r_regionkey as k from region where r_regionkey < 3) b using (k) group by k order by k;
select k, a.n, b.r from (select n_regionkey as k, n_name as n from nation where n_nationkey < 5) a full join (select r_regionkey as k, r_name as r from region where r_regionkey > 1) b using (k) order by k, a.n;
select * from (select n_nationkey as k, n_regionkey as g, n_name from nation) a natural join (select s_nationkey as k, 1 as g, s_name from supplier where s_suppkey < 30) b order by s_name;
select count(*) from (select s_nationkey as k, s_suppkey from supplier) s join (select c_nationkey as k, c_custkey from customer) c using (k);
select * from (select n_regionkey as k from nation) a right join (select r_regionkey as k, r_name from region) b using (k) order by k;

-- family: statistics aggregates
select stddev(n_nationkey), variance(n_nationkey), stddev_pop(n_nationkey), var_pop(n_nationkey), stddev_samp(n_nationkey), var_samp(n_nationkey) from nation;
select l_returnflag, stddev(l_quantity), variance(l_extendedprice), stddev_pop(l_discount) from lineitem group by 1 order by 1;
select n_regionkey, stddev(n_nationkey), var_pop(n_nationkey) from nation where n_nationkey < 6 group by 1 order by 1;
select bool_and(n_nationkey > 1), bool_or(n_nationkey > 1), bool_and(n_regionkey < 5), bool_or(n_name like 'Z%') from nation;
select n_regionkey, bool_and(n_name like '%A%'), bool_or(n_nationkey = 3) from nation group by 1 order by 1;
select o_orderstatus, round(stddev(o_totalprice), 6), count(*) from orders group by 1 having stddev(o_totalprice) > 0 order by 1;

-- family: window
select n_name, row_number() over (order by n_name) from nation order by 1;
select n_regionkey, n_name, rank() over (partition by n_regionkey order by n_name desc) as r from nation order by 1, 3;
select n_regionkey, n_nationkey, sum(n_nationkey) over (partition by n_regionkey), sum(n_nationkey) over (partition by n_regionkey order by n_nationkey) from nation order by 1, 2;
select n_regionkey, sum(sum(n_nationkey)) over (), sum(n_nationkey) * 100.0 / sum(sum(n_nationkey)) over () from nation group by 1 order by 1;
select n_name, lag(n_name) over (order by n_nationkey), lead(n_nationkey, 2, -1) over (order by n_nationkey), lag(n_nationkey, 0) over (order by n_nationkey) from nation order by n_nationkey;
select o_orderpriority, o_orderdate, o_orderkey, dense_rank() over (partition by o_orderpriority order by o_orderdate) as dr from orders where o_orderkey < 200 order by 1, 4, 3;
select c_nationkey, c_custkey, c_acctbal, rank() over (partition by c_nationkey order by c_acctbal desc) from customer where c_nationkey < 3 order by 1, 4, 2;
select * from (select c_nationkey, c_name, c_acctbal, row_number() over (partition by c_nationkey order by c_acctbal desc, c_custkey) as rn from customer) t where rn <= 2 order by c_nationkey, rn;
select l_orderkey, l_linenumber, count(*) over (partition by l_orderkey), max(l_quantity) over (partition by l_orderkey order by l_linenumber), min(l_shipdate) over (partition by l_orderkey) from lineitem where l_orderkey < 50 order by 1, 2;
select n_nationkey, percent_rank() over (order by n_nationkey), cume_dist() over (order by n_regionkey), ntile(4) over (order by n_nationkey) from nation order by 1;
select n_regionkey, n_nationkey, first_value(n_name) over (partition by n_regionkey order by n_nationkey), last_value(n_name) over (partition by n_regionkey order by n_nationkey) from nation order by 1, 2;
select n_regionkey, avg(n_nationkey) over (partition by n_regionkey order by n_nationkey), count(n_name) over (order by n_regionkey) from nation order by n_regionkey, n_nationkey;
select o_custkey, o_orderdate, sum(o_totalprice) over (partition by o_custkey order by o_orderdate) from orders where o_custkey < 20 order by 1, 2, 3;
select n_regionkey, rank() over (order by sum(n_nationkey) desc), count(*) from nation group by 1 order by 1;
select r_name, row_number() over (order by r_name desc) as rn from region order by rn desc limit 3;
select n_name, n_regionkey, row_number() over (partition by n_regionkey order by n_name) from nation where n_nationkey < 0;

-- family: grouping sets
select n_regionkey, count(*) from nation group by rollup (n_regionkey) order by 1;
select n_regionkey, n_nationkey < 5, count(*), grouping(n_regionkey), grouping(n_regionkey, n_nationkey < 5) from nation group by cube (n_regionkey, n_nationkey < 5) order by 1, 2;
select n_regionkey, sum(n_nationkey) from nation group by grouping sets ((n_regionkey), ()) order by 1 nulls first;
select l_returnflag, l_linestatus, sum(l_quantity), count(*) from lineitem group by rollup (l_returnflag, l_linestatus) order by 1, 2;
select o_orderstatus, o_orderpriority, count(*) from orders group by grouping sets ((o_orderstatus), (o_orderpriority)) order by 1, 2;
select l_returnflag, l_linestatus, grouping(l_returnflag), grouping(l_linestatus), avg(l_discount) from lineitem group by cube (l_returnflag, l_linestatus) having count(*) > 100 order by 3, 4, 1, 2;
select n_regionkey, count(*) from nation group by n_regionkey, rollup (n_nationkey < 10) order by 1, 2;
select coalesce(r_name, 'ALL'), count(*) from nation, region where n_regionkey = r_regionkey group by rollup (r_name) order by 2, 1;
select n_regionkey, grouping(n_regionkey), count(*) from nation group by n_regionkey order by 1;

-- family: scalar subqueries
select (select max(r_regionkey) from region) + 1;
select n_name, n_nationkey * 100.0 / (select sum(n_nationkey) from nation) from nation order by 1;
select n_regionkey, count(*), (select count(*) from region), count(*) * 1.0 / (select count(*) from nation) from nation group by 1 order by 1;
select o_orderkey, o_totalprice - (select avg(o_totalprice) from orders) from orders where o_orderkey < 20 order by 1;
select case when (select count(*) from region where r_name like 'A%') > 2 then 'many' else 'few' end;
select c_custkey from customer where c_acctbal > (select avg(c_acctbal) from customer) order by 1 limit 10;

-- family: like
select count(*) filter (where n_comment like '%!%%' escape '!'), count(*) filter (where n_name like 'A!_%' escape '!'), count(*) filter (where n_name like 'A%' escape '#') from nation;
select n_name from nation where n_name like '%N_' escape '$' order by 1;
select p_name from part where p_name ilike '%GREEN%' and p_partkey < 100 order by 1;

-- family: distinct aggregates
select sum(distinct n_regionkey), avg(distinct n_regionkey), count(distinct n_regionkey) from nation;
select l_returnflag, sum(distinct l_quantity), avg(distinct l_discount), sum(distinct l_linenumber) from lineitem group by 1 order by 1;
select o_orderstatus, avg(distinct o_totalprice), sum(distinct o_custkey) from orders group by 1 order by 1;
select sum(distinct c_acctbal * 2.0::double), avg(distinct c_nationkey) from customer;

-- family: untyped nulls
select null = null, null > 1, null between null and 2, 1 between null and 3, null in (1, 2), 3 in (null, 3), null + null, 1 + null;
select count(*) from nation where n_nationkey > null or n_regionkey in (null, 1);
select n_nationkey from nation where n_nationkey between 20 and null or n_nationkey not between null and 3 order by 1;

-- family: window frames
select n_nationkey, sum(n_nationkey) over (order by n_nationkey rows between 2 preceding and current row) from nation order by 1;
select n_nationkey, avg(n_nationkey) over (order by n_nationkey rows between 1 preceding and 1 following) from nation order by 1;
select n_regionkey, n_nationkey, sum(n_nationkey) over (partition by n_regionkey order by n_nationkey rows between current row and unbounded following) from nation order by 1, 2;
select n_regionkey, n_nationkey, count(*) over (partition by n_regionkey order by n_nationkey rows between 1 following and 3 following) from nation order by 1, 2;
select n_regionkey, n_nationkey, min(n_name) over (partition by n_regionkey order by n_nationkey rows between 1 preceding and 1 following), max(n_name) over (partition by n_regionkey order by n_nationkey rows unbounded preceding) from nation order by 1, 2;
select n_nationkey, n_regionkey, sum(n_nationkey) over (order by n_regionkey range between 1 preceding and 1 following) from nation order by 1;
select n_nationkey, n_regionkey, count(*) over (order by n_regionkey groups between 1 preceding and current row) from nation order by 1;
select n_nationkey, n_regionkey, sum(n_nationkey) over (order by n_regionkey desc range between current row and 2 following) from nation order by 1;
select n_nationkey, first_value(n_name) over (order by n_nationkey rows between 2 preceding and 2 following), last_value(n_name) over (order by n_nationkey rows between 2 preceding and 2 following), nth_value(n_name, 3) over (order by n_nationkey) from nation order by 1;
select n_regionkey, n_nationkey, last_value(n_nationkey) over (partition by n_regionkey order by n_nationkey rows between unbounded preceding and unbounded following) from nation order by 1, 2;
select o_orderdate, o_totalprice, avg(o_totalprice) over (order by o_orderdate, o_orderkey rows between 6 preceding and current row) from orders where o_custkey < 30 order by 1, 2;
select l_orderkey, l_linenumber, l_extendedprice, sum(l_extendedprice) over (partition by l_orderkey order by l_linenumber rows between 1 preceding and 1 following) from lineitem where l_orderkey < 40 order by 1, 2;
select l_orderkey, l_linenumber, l_quantity, sum(l_quantity) over (partition by l_orderkey order by l_quantity range between 5 preceding and 5 following) from lineitem where l_orderkey < 40 order by 1, 2;
select c_custkey, c_acctbal, count(*) over (order by c_acctbal range between 100 preceding and 100 following) from customer where c_custkey < 50 order by 1;
select n_nationkey, sum(n_nationkey) over w, row_number() over w, avg(n_nationkey) over (w rows between 1 preceding and current row) from nation window w as (partition by n_regionkey order by n_nationkey) order by 1;
select n_nationkey, stddev_samp(n_nationkey) over (partition by n_regionkey rows between unbounded preceding and unbounded following) from nation order by 1;
select n_nationkey, count(*) over (order by n_nationkey rows between 5 preceding and 3 preceding), sum(n_nationkey) over (order by n_nationkey rows between 3 following and unbounded following) from nation order by 1;
select o_orderpriority, o_orderkey, nth_value(o_orderkey, 2) over (partition by o_orderpriority order by o_orderkey rows between unbounded preceding and unbounded following) from orders where o_orderkey < 100 order by 1, 2;
select x, sum(x) over (order by x range between 1 preceding and 1 following), count(*) over (order by x nulls first range between 1 preceding and current row) from (values (1), (2), (null), (4), (null), (5)) t(x) order by 1 nulls first;
select x, y, sum(y) over (order by x desc range between 0.5 preceding and 1.5 following) from (values (1.0, 1), (1.5, 2), (2.5, 3), (4.0, 4), (null, 5)) t(x, y) order by 1, 2;
select x, count(*) over (order by x rows between 3 preceding and 5 preceding), min(x) over (order by x rows between 1 following and 1 following) from (values (1), (2), (3)) t(x) order by 1;
select n_regionkey, n_nationkey, sum(n_nationkey) over (partition by n_regionkey order by n_nationkey desc groups between unbounded preceding and 1 following) from nation order by 1, 2;
select o_orderstatus, sum(o_totalprice) over (order by o_orderstatus range between unbounded preceding and unbounded following) from orders where o_orderkey < 10 order by 1, 2;

-- family: ordered and statistical aggregates
select median(n_nationkey), median(n_regionkey) from nation;
select n_regionkey, median(n_nationkey), percentile_cont(0.25) within group (order by n_nationkey), percentile_disc(0.75) within group (order by n_nationkey) from nation group by 1 order by 1;
select l_returnflag, median(l_quantity), quantile_cont(l_extendedprice, 0.9), quantile_disc(l_discount, 0.1), median(l_shipdate) from lineitem group by 1 order by 1;
select percentile_cont(0.5) within group (order by o_totalprice desc), percentile_disc(0.1) within group (order by o_orderdate desc) from orders;
select c_mktsegment, percentile_disc(0.5) within group (order by c_name) from customer group by 1 order by 1;
select median(x), percentile_cont(0.5) within group (order by x), percentile_disc(0.5) within group (order by x) from (values (1.5::double), (null), (3.5), (10.0)) t(x);
select median(x) from (values (1), (2)) t(x) where x > 5;
select n_regionkey, string_agg(n_name, ', ' order by n_name) from nation group by 1 order by 1;
select string_agg(r_name, '' order by r_regionkey desc) from region;
select o_orderstatus, string_agg(o_orderkey, ';' order by o_orderkey) filter (where o_orderkey < 40) from orders group by 1 order by 1;
select string_agg(n_name order by n_name) from nation where n_regionkey = 2;
select n_regionkey, string_agg(distinct_name, '-' order by distinct_name desc) from (select distinct n_regionkey, substr(n_name, 1, 1) as distinct_name from nation) t group by 1 order by 1;
select string_agg(x, ',' order by y desc nulls last) from (values ('a', 1), ('b', null), (null, 3), ('d', 2)) t(x, y);
select corr(l_quantity, l_extendedprice), covar_pop(l_quantity, l_extendedprice), covar_samp(l_quantity, l_discount) from lineitem;
select l_returnflag, corr(l_extendedprice, l_discount), covar_samp(l_tax, l_discount) from lineitem group by 1 order by 1;
select corr(x, y), covar_pop(x, y), covar_samp(x, y) from (values (1, null), (2, 3), (null, 4)) t(x, y);
select n_regionkey, median(n_nationkey) over (partition by n_regionkey) from nation order by 1, 2;
select o_orderpriority, round(median(o_totalprice), 2), count(*) from orders group by 1 having median(o_totalprice) > 100000 order by 1;

-- family: correlated scalar subqueries
select n_name, (select count(*) from nation x where x.n_nationkey < n.n_nationkey) from nation n order by 1;
select n_name, (select count(*) from supplier where s_nationkey = n_nationkey), (select max(s_acctbal) from supplier where s_nationkey = n_nationkey and s_acctbal < 5000) from nation order by 1;
select r_name, (select count(*) + r_regionkey from nation where n_regionkey > r_regionkey) from region order by 1;
select x, (select sum(y) from (values (1), (2), (null)) u(y) where y is not distinct from x) from (values (1), (null), (3)) t(x) order by 1;
select c_custkey, (select coalesce(sum(o_totalprice), 0) from orders where o_custkey = c_custkey and o_orderdate > date '1998-01-01') from customer where c_custkey < 20 order by 1;
select p_partkey, p_retailprice - (select avg(ps_supplycost) from partsupp where ps_partkey = p_partkey) from part where p_partkey < 15 order by 1;
select o_orderkey, (select count(*) from lineitem where l_orderkey = o_orderkey and l_quantity > 30) as big, (select min(l_shipdate) from lineitem where l_orderkey = o_orderkey) from orders where o_orderkey < 40 order by 1;
select x, (select count(*) from (values (1), (2), (2), (null)) u(y) where y > x or y is null) from (values (0), (1), (2), (null)) t(x) order by 1;
select n_name, case when (select count(*) from customer where c_nationkey = n_nationkey) > 60 then 'many' else 'few' end from nation order by 1;
select s_name, (select string_agg(p_name, ',' order by p_name) from partsupp, part where ps_partkey = p_partkey and ps_suppkey = s_suppkey and p_size < 4) from supplier where s_suppkey < 6 order by 1;
select n1.n_name, (select max(n2.n_name) from nation n2 where n2.n_regionkey = n1.n_regionkey and n2.n_nationkey <> n1.n_nationkey) from nation n1 order by 1;
select r_regionkey, (select count(distinct n_name) from nation where n_regionkey <= r_regionkey), (select sum(n_nationkey) filter (where n_nationkey > 10) from nation where n_regionkey = r_regionkey) from region order by 1;
select n_name from nation where n_nationkey > (select avg(n_nationkey) from nation) * 1.2 order by 1;
select n_name from nation n where n_nationkey + 1 > (select count(*) from nation x where x.n_regionkey = n.n_regionkey) * 4 order by 1;
select n_regionkey, count(*) from nation group by 1 having count(*) * 5 - 1 >= (select count(*) from nation) - 1 order by 1;
select n_name from nation where case when (select max(r_regionkey) from region) > n_regionkey then true else false end and n_nationkey < 5 order by 1;
select o_orderkey from orders where o_totalprice > 2 * (select avg(l_extendedprice) from lineitem where l_orderkey = o_orderkey) order by 1 limit 5;
select c_custkey from customer c where c_acctbal > coalesce((select max(o_totalprice) from orders where o_custkey = c.c_custkey), 0) / 100 and c_custkey < 30 order by 1;

-- family: IN and EXISTS as values
select n_name, n_regionkey in (select r_regionkey from region where r_regionkey < 2), n_nationkey not in (select s_nationkey from supplier) from nation order by 1;
select x, x in (select y from (values (1), (null)) t(y)), x not in (select y from (values (1), (null)) t(y)), x in (select y from (values (1)) t(y) where y > 5) from (values (1), (2), (null)) u(x) order by 1;
select n_name, exists (select 1 from supplier where s_nationkey = n_nationkey and s_acctbal > 9000), not exists (select * from region where r_regionkey = n_regionkey + 3) from nation order by 1;
select exists (select 1 from nation where n_nationkey > 100), exists (select 1 from region);
select 1 in (select n_nationkey from nation), null in (select n_nationkey from nation), null not in (select n_nationkey from nation where false), 1.5 in (select n_nationkey from nation), 'x' in (select n_name from nation);
select c_custkey, case when c_custkey in (select o_custkey from orders where o_totalprice > 400000) then 'big' else 'small' end from customer where c_custkey < 30 order by 1;
select o_orderkey, exists (select * from lineitem where l_orderkey = o_orderkey and l_returnflag = 'R') from orders where o_orderkey < 50 order by 1;
select max(n_nationkey) in (select r_regionkey * 6 from region) from nation;

-- family: regular expressions and more functions
select regexp_matches(n_name, 'AN$'), regexp_full_match(n_name, '[A-Z]+'), regexp_replace(n_name, 'A', 'a'), regexp_replace(n_name, '([AEIOU])', '<\1>', 'g'), regexp_extract(n_comment, '([a-z]+) ([a-z]+)', 2) from nation order by n_nationkey;
select regexp_matches(n_name, 'an', 'i'), regexp_replace(n_name, 'a', 'X', 'gi'), regexp_extract(n_name, '^(.)(.)', 1) from nation order by n_nationkey;
select count(*) from part where regexp_matches(p_name, '^(green|blue) ');
select p_type, count(*) from part where regexp_full_match(p_type, '(LARGE|SMALL) .* (TIN|NICKEL)') group by 1 order by 1;
select mod(n_nationkey, 7), mod(-7, 3), typeof(n_nationkey), typeof(n_name), typeof(1.5), typeof(null), typeof(o_totalprice) from nation, orders where o_orderkey = 1 order by 1;
select dayname(o_orderdate), monthname(o_orderdate), strftime(o_orderdate, '%Y/%m/%d %j %b %a %A %B %y %w'), last_day(o_orderdate) from orders order by o_orderkey limit 20;
select monthname(l_shipdate) as m, count(*) from lineitem group by 1 order by 2 desc, 1;
select strftime(o_orderdate, '%Y-%m') as ym, sum(o_totalprice) from orders where o_orderdate < date '1992-07-01' group by 1 order by 1;

-- family: everyday reporting
select o_orderpriority, count(*) as orders, round(avg(o_totalprice), 2) as avg_price, min(o_orderdate), max(o_orderdate) from orders group by o_orderpriority order by o_orderpriority;
select extract(year from o_orderdate) as yr, count(*), sum(o_totalprice) from orders group by 1 order by 1;
select date_trunc('month', o_orderdate) as m, count(*) from orders where o_orderdate < date '1993-01-01' group by 1 order by 1;
select c_mktsegment, count(distinct c_nationkey), avg(c_acctbal) filter (where c_acctbal > 0) from customer group by 1 order by 1;
select l_shipmode, sum(case when l_returnflag = 'R' then 1 else 0 end) as returned, count(*) from lineitem group by 1 order by 1;
select s_name, s_acctbal from supplier order by s_acctbal desc limit 5;
select p_brand, p_size, count(*) from part where p_size between 10 and 12 group by p_brand, p_size having count(*) > 3 order by 1, 2;
select n_name, count(*) as suppliers from supplier join nation on s_nationkey = n_nationkey group by n_name order by suppliers desc, n_name limit 10;
select r_name, count(distinct c_custkey) from region join nation on r_regionkey = n_regionkey join customer on c_nationkey = n_nationkey group by r_name order by r_name;
select o_orderstatus, o_orderpriority, count(*) from orders group by 1, 2 order by 1, 2;
select l_linenumber, avg(l_quantity), stddev_samp(l_quantity) from lineitem group by 1 order by 1;
select case when o_totalprice < 50000 then 'small' when o_totalprice < 200000 then 'medium' else 'large' end as size, count(*) from orders group by 1 order by 1;
select c_name, c_acctbal from customer where c_acctbal < 0 and c_mktsegment = 'AUTOMOBILE' order by c_acctbal limit 7;
select year(o_orderdate), quarter(o_orderdate), count(*) from orders group by 1, 2 order by 1, 2;
select p_container, avg(p_retailprice) from part group by 1 having avg(p_retailprice) > 1500 order by 2 desc;
select distinct c_mktsegment from customer order by 1;
select count(*), count(distinct l_orderkey), count(distinct l_partkey) from lineitem where l_shipdate >= date '1995-01-01' and l_shipdate < date '1995-02-01';
select o_custkey, count(*) from orders group by o_custkey having count(*) >= 25 order by 2 desc, 1;
select s_nationkey, max(s_acctbal) - min(s_acctbal) as spread from supplier group by 1 order by 2 desc limit 5;
select l_returnflag, l_linestatus, sum(l_extendedprice * (1 - l_discount) * (1 + l_tax)) as charge from lineitem where l_shipdate <= date '1998-12-01' - interval '90' day group by 1, 2 order by 1, 2;

-- family: joins
select c_name, o_orderkey from customer left join orders on c_custkey = o_custkey and o_orderkey < 10 where c_custkey < 6 order by 1, 2;
select n_name, r_name from nation full join region on n_regionkey = r_regionkey and r_name like 'A%' where n_nationkey < 8 or n_nationkey is null order by 1, 2;
select count(*) from orders o1 join orders o2 on o1.o_custkey = o2.o_custkey and o1.o_orderkey < o2.o_orderkey where o1.o_custkey < 20;
select p_name, s_name from part, partsupp, supplier where p_partkey = ps_partkey and ps_suppkey = s_suppkey and p_partkey < 4 order by 1, 2;
select c.c_name, n.n_name from customer c, nation n where c.c_nationkey = n.n_nationkey and c.c_custkey in (1, 5, 9) order by 1;
select count(*) from customer where c_custkey not in (select o_custkey from orders);
select count(*) from customer c where exists (select 1 from orders o where o.o_custkey = c.c_custkey and o.o_totalprice > 300000);
select n_name from nation where n_nationkey in (select s_nationkey from supplier where s_acctbal > 9500) order by 1;
select r_name, n_name from region cross join nation where n_regionkey = r_regionkey and r_regionkey = 3 order by 2;
select a.n_name, b.n_name from nation a join nation b on a.n_regionkey = b.n_regionkey and a.n_nationkey < b.n_nationkey where a.n_regionkey = 0 order by 1, 2;

-- family: null handling
select x, coalesce(x, -1), nullif(x, 2), x is null, x is not null, x + 1 from (values (1), (2), (null)) t(x) order by 1;
select count(x), count(*), sum(x), avg(x), min(x), max(x) from (values (null::bigint), (null)) t(x);
select x, y, x = y, x <> y, x is distinct from y, greatest(x, y), least(x, y) from (values (1, 1), (1, null), (null, null), (2, 3)) t(x, y) order by 1, 2;
select case when x is null then 'none' when x > 1 then 'big' end from (values (1), (2), (null)) t(x) order by 1;
select x from (values (3), (null), (1)) t(x) order by x nulls first;
select x from (values (3), (null), (1)) t(x) order by x desc nulls last;
select coalesce(null, null, 3), coalesce(null, 'a'), nullif(1, 1), nullif('a', 'b');
select sum(x) filter (where x > 1), count(*) filter (where x is null) from (values (1), (2), (3), (null)) t(x);
select o_orderdate, week(o_orderdate), extract(isoyear from o_orderdate), isodow(o_orderdate), dayofweek(o_orderdate), dayofyear(o_orderdate) from (select distinct o_orderdate from orders) t order by 1;

-- family: window analytics
select o_custkey, o_orderkey, o_totalprice, o_totalprice - lag(o_totalprice) over (partition by o_custkey order by o_orderdate, o_orderkey) from orders where o_custkey < 8 order by 1, o_orderdate, 2;
select n_regionkey, n_name, count(*) over (partition by n_regionkey) as in_region, row_number() over (partition by n_regionkey order by n_name) as pos from nation order by 1, 4;
select c_custkey, c_acctbal, ntile(10) over (order by c_acctbal, c_custkey) from customer where c_custkey <= 40 order by 1;
select s_nationkey, s_suppkey, s_acctbal, s_acctbal - avg(s_acctbal) over (partition by s_nationkey) as diff from supplier where s_nationkey < 3 order by 1, 2;
select l_orderkey, sum(l_quantity) over (partition by l_orderkey order by l_linenumber rows between unbounded preceding and current row) from lineitem where l_orderkey < 20 order by l_orderkey, l_linenumber;
select p_type, p_partkey, p_retailprice, first_value(p_partkey) over (partition by p_type order by p_retailprice desc, p_partkey) from part where p_type like 'STANDARD ANODIZED%' order by 1, 2;
select * from (select o_orderpriority, o_orderkey, o_totalprice, dense_rank() over (partition by o_orderpriority order by o_totalprice desc) as r from orders) t where r <= 2 order by 1, 4, 2;
select r, count(*) from (select rank() over (order by c_nationkey) as r from customer) t group by r order by r;
select o_orderdate, count(*) as n, sum(count(*)) over (order by o_orderdate rows between 2 preceding and current row) from orders where o_orderdate < date '1992-01-20' group by 1 order by 1;
select c_mktsegment, sum(c_acctbal), rank() over (order by sum(c_acctbal) desc), sum(c_acctbal) / sum(sum(c_acctbal)) over () from customer group by 1 order by 1;
select n_nationkey, lead(n_name, 1, 'none') over (partition by n_regionkey order by n_nationkey), lag(n_nationkey, 2) over (order by n_nationkey) from nation order by 1;
select n_nationkey, percent_rank() over (partition by n_regionkey order by n_nationkey), cume_dist() over (partition by n_regionkey order by n_nationkey) from nation order by 1;
select distinct n_regionkey, max(n_nationkey) over (partition by n_regionkey) from nation order by 1;
select l_shipmode, l_quantity, count(*) over (partition by l_shipmode order by l_quantity range between 2 preceding and 2 following) from (select distinct l_shipmode, l_quantity from lineitem) t order by 1, 2;
select x, sum(x) over (order by x groups between 1 preceding and 1 following), nth_value(x, 2) over (order by x rows between unbounded preceding and unbounded following) from (values (1), (1), (2), (3), (3), (3), (5)) t(x) order by 1;

-- family: grouping and subtotals
select c_mktsegment, c_nationkey < 5 as low, count(*) from customer group by grouping sets ((c_mktsegment), (c_nationkey < 5), ()) order by 1 nulls first, 2 nulls first;
select o_orderstatus, year(o_orderdate), sum(o_totalprice) from orders group by rollup (o_orderstatus, year(o_orderdate)) order by 1 nulls last, 2 nulls last;
select p_mfgr, p_size > 25, avg(p_retailprice), grouping(p_mfgr) + grouping(p_size > 25) from part group by cube (p_mfgr, p_size > 25) order by 4, 1, 2;
select l_returnflag, count(*) from lineitem group by rollup (l_returnflag) having count(*) > 10000 order by 1 nulls first;
select coalesce(n_name, 'TOTAL'), count(*) from supplier join nation on s_nationkey = n_nationkey where n_regionkey = 1 group by rollup (n_name) order by 2, 1;
select s_nationkey, count(*), sum(s_acctbal) from supplier group by s_nationkey having sum(s_acctbal) > 25000 order by 1;
select o_orderpriority, count(*) filter (where o_orderstatus = 'F'), count(*) filter (where o_orderstatus = 'O'), count(*) filter (where o_orderstatus = 'P') from orders group by 1 order by 1;
select count(distinct o_custkey), count(distinct o_orderdate), sum(distinct o_shippriority) from orders;

-- family: set operations at scale
select count(*) from (select o_custkey from orders except select c_custkey from customer where c_acctbal > 0) t;
select count(*) from (select l_partkey from lineitem intersect select p_partkey from part where p_size < 10) t;
select k, count(*) from (select n_regionkey as k from nation union all select r_regionkey from region union all select s_nationkey % 5 from supplier) t group by k order by k;
select c_nationkey from customer where c_custkey < 50 union select s_nationkey from supplier where s_suppkey < 10 order by 1 desc limit 5;
select 'customer' as kind, count(*) from customer union all select 'supplier', count(*) from supplier union all select 'part', count(*) from part order by 1;
select n_regionkey, count(*), count(n_name), sum(n_nationkey), avg(n_nationkey), min(n_name) from nation where n_nationkey < 0 group by rollup (n_regionkey) order by 1;
select x, y, count(*), count(z), sum(z), avg(z), min(z), max(z) from (values (1, 'a', null), (1, 'b', 2.5), (2, 'a', null), (null, 'a', 4.0)) t(x, y, z) group by cube (x, y) order by 1 nulls first, 2 nulls first, 3;

-- family: casts and types
select cast(n_nationkey as double) / 4, cast(n_nationkey as varchar) || '!', n_nationkey::decimal(10, 2) / 3, cast('12' as integer) + n_nationkey from nation order by n_nationkey;
select cast(o_totalprice as bigint), cast(o_totalprice as integer), o_totalprice::double precision, round(o_totalprice::real) from orders where o_orderkey < 8 order by 1;
select cast(o_orderdate as varchar), cast('1995-03-15' as date) - o_orderdate, o_orderdate + 30, o_orderdate - interval '1' month from orders where o_orderkey < 8 order by 1;
select cast(1 as boolean), cast(0 as boolean), 'true'::boolean, cast(true as integer), cast(2.5 as integer), cast(-2.5 as integer), cast(3.7::double as bigint);
select 1 + 1.5, 2 * 0.25, 7.0 / 2, 7 % 3, -7 % 3, 2 ^ 10, abs(-3.5);
select typeof(1.5 + 1.5), typeof(7.0 / 2), typeof(sum(l_quantity)), typeof(avg(l_quantity)), typeof(count(*)) from lineitem where l_orderkey = 1;
select smallint '5' + 1, integer '7' * 2, bigint '9' - 3, real '1.5' * 2, double '2.5' + 1, decimal '3.25' * 2, numeric(5, 1) '2.5';

-- family: text processing
select upper(n_name), lower(n_name), length(n_name), left(n_name, 3), right(n_name, 3), reverse(n_name) from nation order by n_nationkey;
select n_name, lpad(n_name, 12, '*'), rpad(n_name, 12, '-'), repeat('ab', n_regionkey), replace(n_name, 'A', '4') from nation order by n_nationkey;
select split_part(p_name, ' ', 1), split_part(p_name, ' ', 2), strpos(p_name, 'green'), position('a' in p_name), substring(p_name from 3 for 4) from part where p_partkey < 10 order by p_partkey;
select concat(c_name, ' / ', c_mktsegment), concat_ws('-', c_custkey, c_nationkey, c_mktsegment), lower(c_mktsegment) from customer where c_custkey < 6 order by c_custkey;
select trim('  x  '), ltrim('xxhixx', 'x'), rtrim('xxhixx', 'x'), translate('hello', 'el', 'ip'), ascii('A'), chr(66), md5('kapot');
select starts_with(n_name, 'A'), ends_with(n_name, 'IA'), contains(n_name, 'AN'), n_name like '%AN%', n_name ilike '%an%', n_name not like 'A%' from nation order by n_nationkey;
select s_phone, substr(s_phone, 1, 2) as cc, count(*) over (partition by substr(s_phone, 1, 2)) from supplier where s_suppkey < 12 order by 1;
select length(c_comment), char_length(c_comment), upper(substr(c_comment, 1, 10)) from customer where c_custkey < 5 order by 1;

-- family: dates and time
select o_orderdate, date_trunc('quarter', o_orderdate), date_trunc('year', o_orderdate), date_trunc('week', o_orderdate) from orders where o_orderkey < 10 order by 1;
select date_diff('day', o_orderdate, l_shipdate), date_diff('month', o_orderdate, l_receiptdate), datediff('year', o_orderdate, date '2000-01-01') from orders, lineitem where o_orderkey = l_orderkey and o_orderkey < 6 order by 1, 2, 3;
select make_date(1995, 2, 28) + 1, make_date(1996, 2, 28) + 1, date '1995-01-31' + interval '1' month, date '1996-03-31' - interval '1' month;
select extract(month from l_shipdate) as m, count(*) from lineitem where year(l_shipdate) = 1994 group by 1 order by 1;
select count(*) from orders where o_orderdate between date '1994-01-01' and date '1994-01-01' + interval '1' year - interval '1' day;
select min(l_receiptdate - l_shipdate), max(l_receiptdate - l_shipdate), avg(l_commitdate - l_shipdate) from lineitem;
select o_orderdate, o_orderdate > current_date, current_date - o_orderdate > 0 from orders where o_orderkey = 1;

-- family: values and literals
select * from (values (1, 'one'), (2, 'two'), (3, null)) as t(n, word) order by n;
with v(a, b) as (values (1, 2.5), (2, null), (3, 4.0)) select a, b, a * b, coalesce(b, 0) + a from v order by a;
select a, count(*) from (values ('x'), ('y'), ('x'), (null)) t(a) group by a order by a nulls last;
select t.a, n.n_name from (values (0), (24)) t(a) join nation n on n.n_nationkey = t.a order by 1;
select 'it''s', e'tab\tdone' = 'tab' || chr(9) || 'done', length('héllo'), upper('straße');

-- family: subqueries in everyday shapes
select c_name, (select count(*) from orders where o_custkey = c_custkey) as n_orders from customer where c_custkey <= 10 order by c_custkey;
select p_partkey, p_name from part where p_retailprice > (select avg(p_retailprice) * 1.5 from part) order by p_partkey limit 10;
select n_name, (select max(c_acctbal) from customer where c_nationkey = n_nationkey) - (select min(c_acctbal) from customer where c_nationkey = n_nationkey) as spread from nation order by 1;
select s_suppkey, s_name from supplier s where (select count(*) from partsupp where ps_suppkey = s.s_suppkey and ps_availqty < 100) > 1 order by 1;
select o_orderkey, o_totalprice, o_totalprice / (select sum(o2.o_totalprice) from orders o2 where o2.o_custkey = orders.o_custkey) as share from orders where o_custkey = 1 order by 1;
select c_mktsegment, count(*) from customer where c_acctbal > (select avg(c_acctbal) from customer) group by 1 order by 1;
select * from (select n_regionkey, count(*) as c from nation group by n_regionkey) t where c = (select max(c2) from (select count(*) as c2 from nation group by n_regionkey) u) order by 1;
select r_name, (select string_agg(n_name, ', ' order by n_name) from nation where n_regionkey = r_regionkey) from region order by 1;
select l_orderkey, l_linenumber from lineitem l where l_quantity = (select max(l_quantity) from lineitem l2 where l2.l_orderkey = l.l_orderkey) and l_orderkey < 30 order by 1, 2;
select n_name, exists (select 1 from customer where c_nationkey = n_nationkey and c_acctbal < -990) as has_debtor from nation order by 1;
select c_custkey, c_custkey in (select o_custkey from orders where o_orderstatus = 'P') as has_pending from customer where c_custkey < 12 order by 1;
select coalesce((select max(o_orderdate) from orders where o_custkey = c_custkey), date '1900-01-01') from customer where c_custkey < 8 order by c_custkey;
select n_regionkey, sum(n_nationkey), (select count(*) from region) from nation group by 1 order by 1;
select x, (select count(*) from nation where n_regionkey = x) from (values (0), (1), (9)) t(x) order by 1;
with big as (select o_custkey from orders where o_totalprice > 400000) select count(*), count(distinct o_custkey) from big where o_custkey in (select c_custkey from customer where c_mktsegment = 'BUILDING');
select sum(y.c_nationkey) filter (where y.c_nationkey in (select z.r_regionkey from region as z)), count(distinct lower('ALGERIA')) from nation as x right join customer as y on x.n_nationkey = y.c_nationkey;
select max(x.r_name) filter (where not exists (select 1 from nation as z where z.n_regionkey = x.r_regionkey and z.n_nationkey > 22)), max(x.r_name) from region as x;
select n_regionkey, sum(n_nationkey) filter (where n_nationkey > (select avg(n_nationkey) from nation)), count(*) filter (where n_name in (select c_name from customer)), avg(n_nationkey + (select count(*) from region)) from nation group by 1 order by 1;

-- family: NOT IN over NULLs
select count(*) from orders right join customer on o_custkey = c_custkey where o_totalprice not in (select s_acctbal from supplier);
select x from (values (1), (2), (null)) t(x) where x not in (select y from (values (1), (null)) u(y));
select x from (values (1), (2), (null)) t(x) where x not in (select y from (values (1)) u(y)) order by 1;
select x from (values (1), (2), (null)) t(x) where x not in (select y from (values (1)) u(y) where y > 5) order by 1 nulls first;
select c_custkey from customer left join nation on c_nationkey = n_nationkey and n_regionkey = 1 where n_name not in (select r_name from region) and c_custkey < 40 order by 1;
select avg(x), sum(x), avg(x) filter (where x < 10) from (values (1099511627776000000), (3), (9007199254740993)) t(x);
select percentile_cont(0.1) within group (order by d desc), percentile_cont(0.4) within group (order by d desc), percentile_cont(0.4) within group (order by d) from (values (date '1995-01-01'), (date '1995-01-04')) t(d);
select percentile_cont(0.4) within group (order by d desc) from (values (date '1994-12-30'), (date '1995-01-01'), (date '1995-01-04')) t(d);
select a, sum(b) over (order by a range between 0.5 preceding and 0.5 following) from (values (1.0::double, 1), (1.5, 2)) t(a, b) order by 1;
select a, sum(b) over (order by a range between 1.0 preceding and 1 following) from (values (1, 1), (2, 2)) t(a, b) order by 1;

-- family: timestamps and intervals
select o_orderkey, cast(o_orderdate as timestamp) from orders where o_orderkey < 10 order by o_orderkey;
select o_orderkey, cast(o_orderdate as timestamp) + interval '1' hour from orders where o_orderkey < 10 order by o_orderkey;
select o_orderkey, cast(o_orderdate as timestamp) - interval '90' minute from orders where o_orderkey < 10 order by o_orderkey;
select o_orderkey, cast(o_orderdate as timestamp) + interval '1 day 2 hours 3 minutes 4 seconds' from orders where o_orderkey < 10 order by o_orderkey;
select o_orderkey, cast(o_orderdate as timestamp) + interval '1' month, cast(o_orderdate as timestamp) - interval '1' year from orders where o_orderkey < 10 order by o_orderkey;
select o_orderkey, o_orderdate + interval '36' hour from orders where o_orderkey < 10 order by o_orderkey;
select o_orderkey, cast(o_orderdate as timestamp) + interval '1.5 days' from orders where o_orderkey < 10 order by o_orderkey;
select o_orderkey, cast(o_orderdate as timestamp) + interval '1.5' day from orders where o_orderkey < 10 order by o_orderkey;
select o_orderkey, cast(o_orderdate as timestamp) + interval '0.5 weeks' from orders where o_orderkey < 10 order by o_orderkey;
select o_orderkey, cast(o_orderdate as timestamp) + interval '1.5 months' from orders where o_orderkey < 10 order by o_orderkey;
select o_orderkey, cast(o_orderdate as timestamp) + interval '61.5 seconds' from orders where o_orderkey < 10 order by o_orderkey;
select o_orderkey, cast(o_orderdate as timestamp) + o_orderkey * interval '1' hour from orders where o_orderkey < 10 order by o_orderkey;
select o_orderkey, cast(o_orderdate as timestamp) + interval '1 hour' * (o_orderkey % 24) + interval '30 minutes' from orders where o_orderkey < 40 order by o_orderkey;
select count(*) from orders where cast(o_orderdate as timestamp) >= timestamp '1995-01-01 00:00:00' and cast(o_orderdate as timestamp) < timestamp '1995-07-01 00:00:00';
select count(*) from orders where cast(o_orderdate as timestamp) + interval '12' hour between timestamp '1994-01-01 00:00:00' and timestamp '1994-12-31 23:59:59';
select count(*) from orders where cast(o_orderdate as timestamp) > '1996-06-01 12:00:00';
select count(*) from lineitem where cast(l_shipdate as timestamp) > cast(l_commitdate as timestamp) + interval '30' day;
select l_shipmode, count(*) from lineitem where cast(l_receiptdate as timestamp) - cast(l_shipdate as timestamp) > interval '20 days' group by 1 order by 1;
select l_shipmode, count(*) from lineitem where cast(l_receiptdate as timestamp) - cast(l_shipdate as timestamp) <= interval '2 days 12 hours' group by 1 order by 1;
select cast(l_receiptdate as timestamp) - cast(l_shipdate as timestamp) as d, count(*) from lineitem group by 1 order by 1;
select distinct cast(l_receiptdate as timestamp) - cast(l_shipdate as timestamp) as d from lineitem order by d desc limit 5;
select o_orderkey, l_linenumber, cast(l_shipdate as timestamp) - cast(o_orderdate as timestamp) as lag from orders join lineitem on o_orderkey = l_orderkey where o_orderkey < 50 order by lag desc, o_orderkey, l_linenumber limit 15;
select count(*) from lineitem where cast(l_receiptdate as timestamp) - cast(l_shipdate as timestamp) > interval '29 days';
select (cast(l_receiptdate as timestamp) - cast(l_shipdate as timestamp)) / 2 as half, count(*) from lineitem group by 1 order by 1 limit 10;
select o_orderpriority, count(*) from orders where cast(o_orderdate as timestamp) - timestamp '1992-01-01 00:00:00' < interval '400 days' group by 1 order by 1;
select date_trunc('year', cast(o_orderdate as timestamp)) as y, count(*) from orders group by 1 order by 1;
select date_trunc('quarter', cast(o_orderdate as timestamp)) as q, sum(o_totalprice) from orders group by 1 order by 1 limit 10;
select date_trunc('month', cast(o_orderdate as timestamp) + interval '20' day) as m, count(*) from orders group by 1 order by 1 limit 12;
select date_trunc('week', cast(o_orderdate as timestamp)) as w, count(*) from orders group by 1 order by 2 desc, 1 limit 10;
select date_trunc('hour', cast(o_orderdate as timestamp) + o_orderkey % 1000 * interval '1 minute') as h, count(*) from orders group by 1 order by 2 desc, 1 limit 10;
select extract(year from cast(o_orderdate as timestamp)) as y, extract(quarter from cast(o_orderdate as timestamp)) as q, count(*) from orders group by 1, 2 order by 1, 2;
select extract(hour from cast(o_orderdate as timestamp) + o_orderkey % 24 * interval '1 hour') as h, count(*) from orders group by 1 order by 1;
select extract(dow from cast(o_orderdate as timestamp)) as d, count(*) from orders group by 1 order by 1;
select extract(doy from cast(o_orderdate as timestamp)) as d, count(*) from orders group by 1 order by 2 desc, 1 limit 5;
select extract(week from cast(o_orderdate as timestamp)) as w, count(*) from orders group by 1 order by 1 limit 10;
select extract(epoch from cast(o_orderdate as timestamp)) from orders where o_orderkey < 10 order by o_orderkey;
select l_shipmode, avg(extract(epoch from cast(l_receiptdate as timestamp) - cast(l_shipdate as timestamp)) / 3600) from lineitem group by 1 order by 1;
select extract(day from cast(l_receiptdate as timestamp) - cast(l_shipdate as timestamp)) as d, count(*) from lineitem group by 1 order by 1;
select extract(hour from interval '26 hours'), extract(minute from interval '90 minutes'), extract(second from interval '61.5 seconds'), extract(epoch from interval '1 month 2 days'), extract(month from interval '14 months'), extract(year from interval '14 months');
select year(cast(o_orderdate as timestamp)), month(cast(o_orderdate as timestamp)), day(cast(o_orderdate as timestamp)), count(*) from orders group by 1, 2, 3 order by 4 desc, 1, 2, 3 limit 5;
select hour(cast(o_orderdate as timestamp) + interval '7 hours'), minute(cast(o_orderdate as timestamp) + interval '7 hours 5 minutes'), count(*) from orders group by 1, 2;
select cast(age(cast(l_receiptdate as timestamp), cast(o_orderdate as timestamp)) as varchar) as a, count(*) from orders join lineitem on o_orderkey = l_orderkey group by 1 order by 2 desc, 1 limit 10;
select o_orderkey, age(timestamp '1998-12-31 12:00:00', cast(o_orderdate as timestamp)) from orders where o_orderkey < 20 order by o_orderkey;
select o_orderkey, age(cast(o_orderdate as timestamp), timestamp '1998-12-31 12:00:00') from orders where o_orderkey < 20 order by o_orderkey;
select o_orderkey, age(o_orderdate, date '1992-01-31') from orders where o_orderkey < 20 order by o_orderkey;
select age(timestamp '2024-02-07 02:11:59', timestamp '2023-01-01 00:00:00'), age(timestamp '2024-03-31 00:00:00', timestamp '2024-02-29 12:00:00'), age(timestamp '2024-01-31 00:00:00', timestamp '2024-03-01 00:00:00');
select date_diff('day', o_orderdate, l_shipdate) as d, count(*) from orders join lineitem on o_orderkey = l_orderkey group by 1 order by 1 limit 10;
select date_diff('hour', cast(o_orderdate as timestamp), cast(l_shipdate as timestamp) + interval '5 hours') as h, count(*) from orders join lineitem on o_orderkey = l_orderkey group by 1 order by 2 desc, 1 limit 10;
select date_diff('month', o_orderdate, l_receiptdate) as m, count(*) from orders join lineitem on o_orderkey = l_orderkey group by 1 order by 1;
select date_diff('week', o_orderdate, l_receiptdate) as w, count(*) from orders join lineitem on o_orderkey = l_orderkey group by 1 order by 1;
select date_diff('year', o_orderdate, date '1999-01-01') as y, count(*) from orders group by 1 order by 1;
select date_diff('quarter', o_orderdate, date '1999-01-01') as q, count(*) from orders group by 1 order by 1;
select o_orderkey, date_diff('minute', cast(o_orderdate as timestamp), cast(o_orderdate as timestamp) + o_orderkey * interval '17 seconds') from orders where o_orderkey < 30 order by o_orderkey;
select o_orderkey, date_diff('second', timestamp '1992-01-01 00:00:00', cast(o_orderdate as timestamp)), date_diff('millisecond', cast(o_orderdate as timestamp), cast(o_orderdate as timestamp) + interval '1.5 seconds') from orders where o_orderkey < 10 order by o_orderkey;
select datediff('day', timestamp '2024-01-01 23:00:00', timestamp '2024-01-03 01:00:00'), date_diff('hour', timestamp '1969-12-31 23:30:00', timestamp '1970-01-01 00:30:00'), date_diff('week', date '2024-01-03', date '2024-01-08');
select make_timestamp(cast(extract(year from o_orderdate) as bigint), cast(extract(month from o_orderdate) as bigint), 1, 12, 30, 15.5) as m, count(*) from orders group by 1 order by 1 limit 10;
select o_orderkey, make_timestamp(1992 + o_orderkey % 7, 1 + o_orderkey % 12, 1 + o_orderkey % 28, o_orderkey % 24, o_orderkey % 60, o_orderkey % 60) from orders where o_orderkey < 40 order by o_orderkey;
select make_timestamp(2024, 2, 7, 2, 11, 59.5), make_timestamp(1969, 12, 31, 23, 59, 59), make_timestamp(1700000000000000), make_timestamp(2024, 2, 7, 24, 0, 0);
select o_orderkey, to_timestamp(o_orderkey * 86400 + 3600) from orders where o_orderkey < 10 order by o_orderkey;
select to_timestamp(extract(epoch from cast(o_orderdate as timestamp))) = cast(cast(o_orderdate as timestamp) as timestamptz), count(*) from orders group by 1;
select to_timestamp(0), to_timestamp(1707271919), to_timestamp(-1.5), to_timestamp(1707271919.1234567);
select o_orderkey, epoch_ms(cast(o_orderdate as timestamp)), epoch_us(cast(o_orderdate as timestamp) + interval '1 microsecond') from orders where o_orderkey < 10 order by o_orderkey;
select o_orderkey, epoch_ms(epoch_ms(cast(o_orderdate as timestamp)) + o_orderkey) from orders where o_orderkey < 10 order by o_orderkey;
select epoch_ms(timestamp '2024-02-07 02:11:59.5'), epoch_ns(timestamp '2024-02-07 02:11:59.5'), epoch_ms(1707271919500);
select o_orderkey, strftime(cast(o_orderdate as timestamp) + interval '13 hours 5 minutes', '%d/%m/%Y %H:%M:%S') from orders where o_orderkey < 10 order by o_orderkey;
select o_orderkey, strftime(cast(o_orderdate as timestamp) + o_orderkey * interval '1 hour', '%I:%M %p on %A, %B %-d, %Y') from orders where o_orderkey < 30 order by o_orderkey;
select strftime(cast(o_orderdate as timestamp), '%Y-%m') as ym, count(*) from orders group by 1 order by 1 limit 12;
select strftime(cast(o_orderdate as timestamp), '%a') as d, count(*) from orders group by 1 order by 1;
select o_orderkey, strftime(cast(o_orderdate as timestamp) + o_orderkey * interval '1.5 seconds', '%H:%M:%S.%f %g %j %U %W %V %G %u %w') from orders where o_orderkey < 20 order by o_orderkey;
select strftime(timestamp '2024-02-07 14:11:59.123456', '%c | %x | %X | %b %h %y %-m %-H'), strftime(date '2024-02-07', '%Y/%m/%d %H:%M');
select o_orderkey, strptime(strftime(o_orderdate, '%d/%m/%Y') || ' 10:30', '%d/%m/%Y %H:%M') from orders where o_orderkey < 10 order by o_orderkey;
select strptime(strftime(o_orderdate, '%d.%m.%Y'), '%d.%m.%Y') = cast(o_orderdate as timestamp) as same, count(*) from orders group by 1;
select strptime(o_orderdate || ' 23:59:59.123456', '%Y-%m-%d %H:%M:%S.%f') as t, count(*) from orders group by 1 order by 1 limit 5;
select strptime('07/02/2024 02:11', '%d/%m/%Y %H:%M'), strptime('Feb 7 2024 2:11 PM', '%b %d %Y %I:%M %p'), strptime('2024-2-7', '%Y-%m-%d'), strptime('2024-02-07 14:11:59 +0200', '%Y-%m-%d %H:%M:%S %z');
select try_strptime(o_comment, '%Y-%m-%d') is null, count(*) from orders group by 1;
select o_orderkey, try_strptime(case when o_orderkey % 2 = 0 then cast(o_orderdate as varchar) else 'x' end, '%Y-%m-%d') from orders where o_orderkey < 10 order by o_orderkey;
select last_day(cast(o_orderdate as timestamp)) as l, count(*) from orders group by 1 order by 1 limit 10;
select dayname(cast(o_orderdate as timestamp) + interval '12 hours') as d, count(*) from orders group by 1 order by 1;
select monthname(cast(o_orderdate as timestamp)) as m, count(*) from orders group by 1 order by 1;
select o_orderkey, cast(o_orderdate as timestamp) at time zone 'America/New_York' from orders where o_orderkey < 10 order by o_orderkey;
select o_orderkey, (cast(o_orderdate as timestamp) at time zone 'America/New_York') at time zone 'Asia/Tokyo' from orders where o_orderkey < 10 order by o_orderkey;
select o_orderkey, timezone('Europe/Berlin', cast(cast(o_orderdate as timestamp) as timestamptz)) from orders where o_orderdate between date '1995-03-20' and date '1995-04-05' and o_orderkey < 3000 order by o_orderkey;
select extract(hour from timezone('Asia/Kolkata', cast(cast(o_orderdate as timestamp) as timestamptz))) as h, count(*) from orders group by 1;
select timestamp '2024-03-10 02:30:00' at time zone 'America/New_York', timestamp '2024-11-03 01:30:00' at time zone 'America/New_York', timestamptz '2024-03-10 07:30:00+00' at time zone 'America/New_York', timestamp '2024-07-07 02:11:59' at time zone 'UTC';
select typeof(cast(o_orderdate as timestamp)), typeof(cast(o_orderdate as timestamp) - timestamp '1992-01-01 00:00:00'), typeof(cast(cast(o_orderdate as timestamp) as timestamptz)), typeof(age(o_orderdate, o_orderdate)) from orders where o_orderkey = 1;
select x from generate_series(1, 10) t(x) order by x;
select * from range(5) t(x) order by x;
select x, count(o_orderkey) from generate_series(1, 7) t(x) left join orders on o_orderkey = x group by x order by x;
select x from generate_series(10, 1, -3) t(x) order by x;
select * from range(1, 10, 4);
select sum(x), count(*), min(x), max(x) from generate_series(1, 1000) t(x);
select x, n_name from range(0, 5) t(x) join nation on n_nationkey = x order by x;
select d, count(o_orderkey) from generate_series(date '1995-01-01', date '1995-01-10', interval '1 day') t(d) left join orders on cast(o_orderdate as timestamp) = d group by d order by d;
select d from generate_series(timestamp '1995-01-01 00:00:00', timestamp '1995-01-02 00:00:00', interval '6 hours') t(d) order by d;
select d from range(timestamp '1995-01-31 00:00:00', timestamp '1995-06-01 00:00:00', interval '1 month') t(d) order by d;
select m, count(o_orderkey) from generate_series(date '1995-01-01', date '1995-12-01', interval '1 month') t(m) left join orders on date_trunc('month', o_orderdate) = m group by m order by m;
select generate_series from generate_series(1, 3);
select g.range from range(2, 4) g;
select x, x * interval '1 hour' from generate_series(0, 5) t(x) order by x;
select x, timestamp '2024-01-01 00:00:00' + x * interval '1 day' as t from generate_series(1, 5) t(x) where x % 2 = 1 order by t desc;
select count(*) from generate_series(1, 5) a(x), generate_series(1, 4) b(y) where x < y;
select * from generate_series(1, 0);
select * from generate_series(timestamp '2024-01-01 00:00:00', timestamp '2024-01-02 00:00:00', interval '-1 hour');
select o_orderkey, iv from orders, (values (interval '1 day'), (interval '25 hours'), (interval '2 hours')) t(iv) where o_orderkey < 3 order by o_orderkey, iv;
select iv, count(*) from (select cast(l_receiptdate as timestamp) - cast(l_shipdate as timestamp) as iv from lineitem) group by iv having count(*) > 2000 order by iv;
select l_shipmode, max(cast(l_receiptdate as timestamp)) - min(cast(l_shipdate as timestamp)) as span from lineitem group by 1 order by span, 1;
select o_orderkey, cast(l_receiptdate as timestamp) - cast(l_shipdate as timestamp) as d, row_number() over (partition by o_orderkey order by cast(l_receiptdate as timestamp) - cast(l_shipdate as timestamp), l_linenumber) from orders join lineitem on o_orderkey = l_orderkey where o_orderkey < 20 order by 1, 3;
select a.iv from (select distinct cast(l_receiptdate as timestamp) - cast(l_shipdate as timestamp) as iv from lineitem) a join (values (interval '1 day'), (interval '48 hours'), (interval '1 month')) b(iv) on a.iv = b.iv order by 1;
select interval '1' day > interval '23' hour, interval '1 month' = interval '30 days', interval '1 day' = interval '24 hours', interval '29 days 48 hours' < interval '1 month', interval '-1 day 2 hours' < interval '-22 hours', interval '1 month' > interval '29 days 23 hours';
select iv in (interval '1 day', interval '2 hours'), iv between interval '1 hour' and interval '1 day' from (values (interval '1 day'), (interval '24 hours'), (interval '1 month')) t(iv) order by iv;
select interval '1' day / 2, interval '3' hour / 3, interval '1 month' / 2, interval '1 month 1 day' / 3, interval '-7 days' / 2, interval '1 second' / 3, interval '1' day / 0;
select o_orderkey, (cast(o_orderdate as timestamp) - timestamp '1992-01-01 00:00:00') / o_orderkey from orders where o_orderkey < 10 order by o_orderkey;
select o_orderkey, case when o_orderkey > 1 then interval '1 hour' else interval '2 days' end, coalesce(case when o_orderkey > 2 then interval '3 days' end, interval '1 day') from orders where o_orderkey < 5 order by o_orderkey;
select cast(o_orderdate as timestamp(6)), cast(cast(o_orderdate as timestamp) as timestamp(9)) from orders where o_orderkey < 5 order by o_orderkey;
select cast(cast(o_orderdate as timestamp) as varchar) || ' UTC', length(cast(cast(o_orderdate as timestamp) + interval '1.25 seconds' as varchar)) from orders where o_orderkey < 4 order by o_orderkey;
select cast(cast(o_orderdate as varchar) || ' ' || lpad(cast(o_orderkey % 24 as varchar), 2, '0') || ':30:00' as timestamp) from orders where o_orderkey < 8 order by o_orderkey;
select cast(o_orderdate as timestamp) + interval '1' month from orders where o_orderdate in (date '1992-01-31', date '1996-01-31', date '1995-03-31') order by 1 limit 5;
select min(cast(o_orderdate as timestamp) + interval '12' hour), max(cast(o_orderdate as timestamp) + interval '12' hour), count(distinct cast(o_orderdate as timestamp)) from orders;
select o_custkey, max(cast(o_orderdate as timestamp)) - min(cast(o_orderdate as timestamp)) from orders where o_custkey < 30 group by 1 order by 1;
select o_orderkey, cast(o_orderdate as timestamp) - lag(cast(o_orderdate as timestamp)) over (order by o_orderkey) from orders where o_orderkey < 40 order by o_orderkey;
select a.o_orderkey, b.o_orderkey from orders a join orders b on cast(a.o_orderdate as timestamp) = cast(b.o_orderdate as timestamp) + interval '1' day where a.o_orderkey < 40 and b.o_orderkey < 400 order by 1, 2;
select count(*) from orders o, lineitem l where o.o_orderkey = l.l_orderkey and cast(l.l_shipdate as timestamp) > cast(o.o_orderdate as timestamp) + interval '100' day;
select case when cast(o_orderdate as timestamp) < timestamp '1995-01-01 00:00:00' then 'old' else 'new' end as age, count(*) from orders group by 1 order by 1;
select greatest(cast(o_orderdate as timestamp), timestamp '1995-01-01 00:00:00'), least(cast(o_orderdate as timestamp) + interval '1 hour', timestamp '1995-01-01 00:00:00') from orders where o_orderkey < 10 order by o_orderkey;
select o_orderkey from orders where cast(o_orderdate as timestamp) in (timestamp '1996-01-02 00:00:00', timestamp '1996-12-01 00:00:00') order by 1 limit 10;
select cast(o_orderdate as timestamp) as ts, count(*) from orders group by 1 order by 2 desc, 1 limit 5;
select date_trunc('day', cast(o_orderdate as timestamp) + interval '23 hours 59 minutes') = cast(o_orderdate as timestamp) as same, count(*) from orders group by 1;
select count(*) from orders where date_diff('day', o_orderdate, date '1995-01-01') between 0 and 30;
select o_orderkey, strftime(timezone('America/New_York', cast(cast(o_orderdate as timestamp) as timestamptz)), '%Y-%m-%d %H:%M') from orders where o_orderkey < 6 order by o_orderkey;
select x, age(timestamp '2024-03-31 00:00:00', timestamp '2024-01-31 00:00:00' + x * interval '1 day') from generate_series(0, 6) t(x) order by x;
select x, date_diff('month', date '2024-01-31', date '2024-01-31' + x * interval '10 days') from generate_series(0, 6) t(x) order by x;
select x, make_timestamp(2024, x, 1, 0, 0, 0) - interval '1 day' from generate_series(1, 12) t(x) order by x;
select l_shipmode, min(cast(l_receiptdate as timestamp) - cast(l_shipdate as timestamp)), max(cast(l_receiptdate as timestamp) - cast(l_shipdate as timestamp)) from lineitem group by 1 order by 1;
select o_orderpriority, max(cast(l_receiptdate as timestamp) - cast(o_orderdate as timestamp) + interval '1 hour'), min(cast(l_receiptdate as timestamp) - cast(o_orderdate as timestamp) - interval '1 hour') from orders join lineitem on o_orderkey = l_orderkey group by 1 order by 1;
select o_orderkey, max(cast(l_receiptdate as timestamp) - cast(l_shipdate as timestamp)) over (partition by o_orderkey) from orders join lineitem on o_orderkey = l_orderkey where o_orderkey < 10 order by 1, 2;
select min(iv), max(iv) from (values (interval '1 day'), (interval '2 hours'), (interval '1 month'), (interval '1 year')) t(iv);
select interval '1.3333333 days', interval '1.1234567 seconds', interval '0.1234567 hours', interval '1.0000001' second, interval '2.123456 days', interval '1.75 years', interval '0.3 weeks', interval '-0.5 weeks', interval '1.5 weeks 2.5 days';
select interval '1 day' * 1.5, interval '1 month' * 1.5, interval '1 month' * 0.3, interval '1 day' / 2.5, interval '1 day' * 0.0000001, interval '2 days 3 hours' * 0.25, interval '1 month' / 4.0, interval '1 month 3 days' * 1.1, interval '5 months' * 0.7, interval '1 hour' * 1.23456789, interval '-1 day' * 1.5, 1.5 * interval '1 day';
select o_orderkey, (cast(o_orderdate as timestamp) - timestamp '1992-01-01 00:00:00') * 0.5, cast(o_orderdate as timestamp) + interval '1 hour' * 2.25 from orders where o_orderkey < 10 order by o_orderkey;

-- family: postgres forms
-- (issue 38: DISTINCT ON, string_agg(DISTINCT), row values, LATERAL. Row
-- values with NULL fields are in planner's TestRowValuesPostgresNulls with
-- PostgreSQL's answers: DuckDB compares rows as structs, NULLs as values.)
select distinct on (n_regionkey) n_regionkey, n_name from nation order by n_regionkey, n_name;
select distinct on (n_regionkey) n_name, n_nationkey from nation order by n_regionkey, n_name desc;
select distinct on (o_custkey) o_custkey, o_orderkey, o_totalprice from orders where o_custkey < 50 order by o_custkey, o_totalprice desc, o_orderkey;
select distinct on (l_orderkey, l_returnflag) l_orderkey, l_returnflag, l_linenumber, l_quantity from lineitem where l_orderkey < 200 order by l_orderkey, l_returnflag, l_quantity desc, l_linenumber;
select distinct on (2) l_linenumber, l_orderkey % 7 as m, l_quantity from lineitem order by m, l_quantity desc, l_linenumber, l_orderkey limit 5;
select distinct on (o_orderpriority) o_orderpriority, o_orderdate, o_orderkey from orders order by o_orderpriority, o_orderdate, o_orderkey;
select distinct on (n_regionkey) n_regionkey from nation;
select distinct on (l_returnflag, l_linestatus) l_returnflag, l_linestatus, count(*) over () from lineitem order by l_returnflag, l_linestatus;
select distinct on (c_nationkey) c_nationkey, count(*) as n, max(c_acctbal) from customer group by c_nationkey, c_mktsegment order by c_nationkey, n desc, max(c_acctbal) desc;
select distinct on (p_brand) p_brand, p_size, p_name from part order by p_brand, p_size desc, p_name limit 10 offset 3;
select string_agg(distinct r_name, ',' order by r_name) from region;
select n_regionkey, string_agg(distinct cast(n_regionkey as varchar), '-') from nation group by 1 order by 1;
select l_returnflag, string_agg(distinct l_shipmode, '|' order by l_shipmode) from lineitem group by l_returnflag order by 1;
select l_returnflag, string_agg(distinct l_shipmode, '|' order by l_shipmode desc), count(distinct l_shipmode), count(*) from lineitem group by l_returnflag order by 1;
select o_orderpriority, string_agg(distinct o_orderstatus, '' order by o_orderstatus) filter (where o_totalprice > 100000) from orders group by 1 order by 1;
select string_agg(distinct l_linestatus || l_returnflag, ', ' order by l_linestatus || l_returnflag) from lineitem;
select c_mktsegment, string_agg(distinct cast(c_nationkey as varchar), ',' order by cast(c_nationkey as varchar)) from customer where c_nationkey < 5 group by 1 order by 1;
select count(*) from nation where (n_regionkey, n_nationkey) in ((1, 1), (2, 2), (0, 0), (4, 4));
select n_name from nation where (n_regionkey, n_nationkey) = (1, 1);
select n_name from nation where (n_regionkey, n_nationkey) <> (1, 1) order by 1;
select n_nationkey, n_regionkey from nation where (n_regionkey, n_nationkey) < (2, 10) order by 1;
select n_nationkey, n_regionkey from nation where (n_regionkey, n_nationkey) >= (2, 10) order by 1;
select n_nationkey, (n_regionkey, n_nationkey) <= (2, 8), (n_regionkey, n_nationkey) > (2, 8), (n_regionkey, n_name) is distinct from (1, 'BRAZIL') from nation order by 1;
select count(*) from nation where (n_regionkey, n_nationkey) not in ((1, 1), (2, 2));
select c.c_custkey, o.o_orderkey from customer c join orders o on (c.c_custkey, c.c_nationkey) = (o.o_custkey, 3) where c.c_custkey < 100 order by 1, 2;
select count(*) from lineitem where (l_orderkey, l_partkey) in (select ps_suppkey, ps_partkey from partsupp);
select count(*) from partsupp where (ps_partkey, ps_suppkey) in (select l_partkey, l_suppkey from lineitem where l_quantity > 45);
select count(*) from partsupp where (ps_partkey, ps_suppkey) not in (select l_partkey, l_suppkey from lineitem where l_quantity > 45);
select o_orderkey from orders where (o_custkey, o_orderdate) in (select o_custkey, max(o_orderdate) from orders group by o_custkey) and o_custkey < 20 order by 1;
select c_custkey from customer c where (c_custkey, c_nationkey) not in (select o_custkey, c_nationkey from orders join customer on o_custkey = c_custkey where o_totalprice > 300000) and c_custkey < 60 order by 1;
select n_regionkey, count(*) from nation group by n_regionkey having (n_regionkey, count(*)) in (select r_regionkey, 5 from region where r_regionkey < 3) order by 1;
select count(*) from lineitem where (l_orderkey, l_linenumber) in (select l_orderkey, max(l_linenumber) from lineitem group by l_orderkey union select l_orderkey, 1 from lineitem where l_orderkey < 100);
select x, y from (values (1, 2), (3, 4), (3, 5), (5, 4)) t(x, y) where (x, y) not in (select a, b from (values (1, 2), (7, 8)) s(a, b)) order by 1, 2;
select count(*) from nation where n_nationkey in (select r_regionkey from region order by r_regionkey limit 2);
select count(*) from nation where n_nationkey in (select r_regionkey from region order by r_regionkey desc limit 2 offset 1);
select count(*) from nation where n_nationkey not in (select r_regionkey from region order by r_regionkey limit 3);
select count(*) from nation where n_nationkey in (values (1), (3), (30));
select count(*) from nation where n_nationkey in (select * from (values (1), (3), (30)) v(x));
select count(*) from nation where n_nationkey in (with w as (select r_regionkey from region) select r_regionkey from w);
select o.o_orderkey, s.cnt from orders o, lateral (select count(*) as cnt from lineitem l where l.l_orderkey = o.o_orderkey) s where o.o_orderkey < 40 order by 1;
select o.o_orderkey, s.cnt, s.q from orders o cross join lateral (select count(*) as cnt, sum(l_quantity) as q from lineitem l where l.l_orderkey = o.o_orderkey and l.l_quantity > 30) s where o.o_orderkey < 40 order by 1;
select c.c_custkey, s.n, s.total from customer c left join lateral (select count(*) as n, max(o_totalprice) as total from orders o where o.o_custkey = c.c_custkey) s on true where c.c_custkey < 30 order by 1;
select o.o_orderkey, s.l_returnflag, s.n from orders o, lateral (select l_returnflag, count(*) as n from lineitem l where l.l_orderkey = o.o_orderkey group by l_returnflag) s where o.o_orderkey < 40 order by 1, 2;
select o.o_orderkey, s.l_returnflag, s.n from orders o left join lateral (select l_returnflag, count(*) as n from lineitem l where l.l_orderkey = o.o_orderkey and l_quantity > 45 group by l_returnflag) s on true where o.o_orderkey < 40 order by 1, 2;
select c.c_custkey, t.o_orderkey, t.o_totalprice from customer c, lateral (select o_orderkey, o_totalprice from orders o where o.o_custkey = c.c_custkey order by o_totalprice desc, o_orderkey limit 2) t where c.c_custkey < 40 order by 1, 3 desc;
select c.c_custkey, t.o_orderkey from customer c left join lateral (select o_orderkey from orders o where o.o_custkey = c.c_custkey order by o_orderdate, o_orderkey limit 1) t on true where c.c_custkey < 20 order by 1;
select c.c_custkey, t.o_orderkey from customer c left join lateral (select o_orderkey from orders o where o.o_custkey = c.c_custkey order by o_orderdate, o_orderkey limit 2 offset 1) t on true where c.c_custkey < 20 order by 1, 2;
select n.n_name, s.s_name, s.s_acctbal from nation n cross join lateral (select s_name, s_acctbal from supplier s where s.s_nationkey = n.n_nationkey order by s_acctbal desc limit 3) s order by 1, 3 desc;
select o.o_orderkey, l.l_linenumber, l.l_extendedprice from orders o, lateral (select l_linenumber, l_extendedprice from lineitem where l_orderkey = o.o_orderkey and l_shipdate > o.o_orderdate + interval '100' day) l where o.o_orderkey < 100 order by 1, 2;
select o.o_orderkey, l.x from orders o, lateral (select l_quantity * 2 + o.o_shippriority as x from lineitem where l_orderkey = o.o_orderkey) l where o.o_orderkey < 10 order by 1, 2;
select r.r_name, n.n_name from region r, nation x, lateral (select n_name from nation where n_regionkey = r.r_regionkey order by n_name limit 1) n where x.n_nationkey = r.r_regionkey order by 1;
select * from region r, lateral (select count(*) as c from nation n where n.n_regionkey = r.r_regionkey) s order by 1;
select r.r_name, s.* from region r join lateral (select n_name, n_nationkey from nation n where n.n_regionkey = r.r_regionkey) s on s.n_nationkey > 10 order by 1, 2;
select o.o_orderkey, s.c from orders o, lateral (select count(*) + 1 as c from lineitem l where l.l_orderkey = o.o_orderkey) s where o.o_orderkey between 1 and 10 order by 1;
select o.o_orderkey, s.m from orders o, lateral (select max(l_shipdate) as m from lineitem l where l.l_orderkey = o.o_orderkey and l.l_linenumber > o.o_orderkey % 5) s where o.o_orderkey < 40 order by 1;
select x, s.y from generate_series(1, 5) t(x), lateral (select count(*) as y from nation where n_regionkey < x) s order by 1;
select a.r_name, b.n from region a, lateral (select count(*) as n from region b2) b order by 1;
select r.r_name, s.n from region r, lateral (select n_name as n from nation n where n.n_regionkey = r.r_regionkey order by 1 desc limit 2) s order by 1, 2;
select r.r_name, s.n from region r, lateral (select n_name as n from nation n where n.n_regionkey = r.r_regionkey order by n limit all) s order by 1, 2;
select o.o_orderkey, l.l_linenumber from orders o left join lateral (select l_linenumber from lineitem where l_orderkey = o.o_orderkey and l_quantity > o.o_shippriority + 45) l on true where o.o_orderkey < 100 order by 1, 2;
select * from orders o, lateral (select * from lineitem l where l.l_orderkey = o.o_orderkey and l_linenumber = 1) s where o.o_orderkey < 20 order by 1;
select o.o_orderkey, s.l_linenumber from orders o, lateral (select l_linenumber from lineitem l where l.l_orderkey = o.o_orderkey and o.o_orderstatus = 'F') s where o.o_orderkey < 40 order by 1, 2;
select o.o_orderkey, s.l_linenumber from orders o left join lateral (select l_linenumber from lineitem l where l.l_orderkey = o.o_orderkey and o.o_orderstatus = 'F') s on true where o.o_orderkey < 40 order by 1, 2;
select distinct on (o_custkey) o_custkey, s.n from orders o, lateral (select count(*) as n from lineitem l where l.l_orderkey = o.o_orderkey) s where o_custkey < 30 order by o_custkey, s.n desc, o_orderkey;
select count(*) from (select distinct on (l_orderkey) l_orderkey, l_linenumber from lineitem order by l_orderkey, l_linenumber desc) x where (l_orderkey, l_linenumber) in (select l_orderkey, max(l_linenumber) from lineitem group by 1);
select o.o_orderkey, s.l_linenumber from orders o, lateral (select l_linenumber from lineitem l where l.l_orderkey = o.o_orderkey and l.l_partkey in (select p_partkey from part where p_size > 40)) s where o.o_orderkey < 50 order by 1, 2;
select o.o_orderkey, s.c from orders o, lateral (select count(*) as c from lineitem l where l.l_orderkey = o.o_orderkey and l.l_partkey in (select p_partkey from part where p_size > 40)) s where o.o_orderkey < 50 order by 1, 2;
select o.o_orderkey, s.c from orders o, lateral (select count(*) as c from lineitem l where l.l_orderkey = o.o_orderkey and l.l_quantity > (select avg(l_quantity) from lineitem)) s where o.o_orderkey < 50 order by 1, 2;
select * from (select distinct on (n_regionkey) n_regionkey, n_nationkey from nation order by n_regionkey, n_nationkey) x where n_nationkey > 2 order by 1;
select * from (select distinct on (n_regionkey) n_regionkey, n_nationkey from nation order by n_regionkey, n_nationkey) x join region on r_regionkey = x.n_regionkey and r_name like 'A%' order by 1;
select * from (select c.c_custkey, t.o_orderkey from customer c, lateral (select o_orderkey from orders o where o.o_custkey = c.c_custkey order by o_orderkey limit 1) t) y where o_orderkey > 100 and c_custkey < 50 order by 1;
select count(*) from (select distinct on (n_regionkey) n_regionkey, n_nationkey from nation order by n_regionkey, n_nationkey limit 3) x where n_nationkey > 0;
select r.r_name, s.n_name from region r, nation x, lateral (select n_name from nation n where n.n_regionkey = r.r_regionkey and n.n_nationkey = x.n_nationkey) s order by 1, 2;
select r.r_name, x.n_name, s.c from region r, nation x, lateral (select count(*) as c from supplier s where s.s_nationkey = x.n_nationkey and s.s_suppkey % 5 = r.r_regionkey group by s_nationkey) s where x.n_regionkey = r.r_regionkey order by 1, 2;
select c.c_name, o.o_orderkey, t.l_linenumber from customer c, orders o, lateral (select l_linenumber from lineitem l where l.l_orderkey = o.o_orderkey and l.l_suppkey % 10 = c.c_custkey % 10 order by l_linenumber limit 1) t where o.o_custkey = c.c_custkey and c.c_custkey < 20 order by 1, 2;
select c.c_custkey, t.o_orderkey from customer c, lateral (select o_orderkey from orders o where o.o_custkey = c.c_custkey order by o_orderkey limit 1) t where t.o_orderkey > 100 and c.c_custkey < 50 order by 1;
select c.c_custkey, t.o_orderkey, t.o_totalprice from customer c, lateral (select o_orderkey, o_totalprice from orders o where o.o_custkey = c.c_custkey order by o_totalprice desc limit 2) t where t.o_totalprice < 200000 and c.c_nationkey = 3 order by 1, 2;
select o.o_orderkey, s.l_returnflag, s.n from orders o, lateral (select l_returnflag, count(*) as n from lineitem l where l.l_orderkey = o.o_orderkey group by l_returnflag) s where s.n > 1 and o.o_orderkey < 100 order by 1, 2;
