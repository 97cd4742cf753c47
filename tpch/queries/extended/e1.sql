-- E1 top-N per group: each nation's three biggest customers by spend (rank over an aggregate)
select * from (
  select c_nationkey, c_custkey, sum(o_totalprice) as spent,
         rank() over (partition by c_nationkey order by sum(o_totalprice) desc) as rk
  from customer, orders
  where c_custkey = o_custkey
  group by c_nationkey, c_custkey
) t
where rk <= 3
order by c_nationkey, rk, c_custkey;
