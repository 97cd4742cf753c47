-- E4 lag: days between a customer's consecutive orders (a window over all of orders)
select count(*), sum(gap), min(gap), max(gap)
from (
  select o_orderdate - lag(o_orderdate) over (partition by o_custkey order by o_orderdate, o_orderkey) as gap
  from orders
) t
where gap is not null;
