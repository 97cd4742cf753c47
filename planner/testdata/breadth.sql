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
select n_name from nation n where exists (select 1 union select n.n_nationkey);
select n_name from nation where n_regionkey in (select r_regionkey from region where r_regionkey < 3 except select 0);
