-- E5 deduplication: each customer's latest order (row_number = 1)
select count(*), sum(o_totalprice), min(o_orderdate)
from (
  select o_custkey, o_totalprice, o_orderdate,
         row_number() over (partition by o_custkey order by o_orderdate desc, o_orderkey desc) as rn
  from orders
) t
where rn = 1;
