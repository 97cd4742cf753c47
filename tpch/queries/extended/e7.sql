-- E7 CUBE: quantities and discounts over every combination of three line attributes
select l_returnflag, l_linestatus, l_shipmode, sum(l_quantity) as qty, avg(l_discount) as disc, count(*) as lines,
       grouping(l_returnflag, l_linestatus, l_shipmode) as level
from lineitem
group by cube (l_returnflag, l_linestatus, l_shipmode)
order by l_returnflag nulls last, l_linestatus nulls last, l_shipmode nulls last;
