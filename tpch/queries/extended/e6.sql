-- E6 ROLLUP: 1995 revenue by region and nation, with subtotals and a grand total
select r_name, n_name, sum(l_extendedprice * (1 - l_discount)) as revenue, count(*) as lines
from lineitem, orders, customer, nation, region
where l_orderkey = o_orderkey and o_custkey = c_custkey and c_nationkey = n_nationkey and n_regionkey = r_regionkey
  and o_orderdate >= date '1995-01-01' and o_orderdate < date '1996-01-01'
group by rollup (r_name, n_name)
order by r_name nulls last, n_name nulls last;
