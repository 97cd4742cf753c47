-- E9 INTERSECT and EXCEPT: customers who ordered in 1995 and 1996 but not in 1997
select count(*) from (
  select o_custkey from orders where o_orderdate >= date '1995-01-01' and o_orderdate < date '1996-01-01'
  intersect
  select o_custkey from orders where o_orderdate >= date '1996-01-01' and o_orderdate < date '1997-01-01'
  except
  select o_custkey from orders where o_orderdate >= date '1997-01-01' and o_orderdate < date '1998-01-01'
) t;
