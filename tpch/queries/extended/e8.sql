-- E8 UNION ALL: money on orders, lines and supply in one aggregate
select kind, count(*) as n, sum(amount) as total
from (
  select 'order' as kind, o_totalprice as amount from orders
  union all
  select 'line', l_extendedprice from lineitem
  union all
  select 'supply', ps_supplycost * ps_availqty from partsupp
) t
group by kind
order by kind;
