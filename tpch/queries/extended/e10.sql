-- E10 share of total and quartiles: each brand's revenue, its percent of all, its ntile
select p_brand, revenue, revenue * 100.0 / sum(revenue) over () as pct,
       ntile(4) over (order by revenue desc) as quartile,
       dense_rank() over (order by revenue desc) as place
from (
  select p_brand, sum(l_extendedprice) as revenue
  from lineitem, part
  where l_partkey = p_partkey
  group by p_brand
) t
order by revenue desc, p_brand;
