-- E2 running total: revenue per month and its running sum within the year
select yr, mon, rev, sum(rev) over (partition by yr order by mon) as running
from (
  select extract(year from o_orderdate) as yr, extract(month from o_orderdate) as mon, sum(o_totalprice) as rev
  from orders
  group by 1, 2
) t
order by yr, mon;
