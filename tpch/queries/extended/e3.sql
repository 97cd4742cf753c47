-- E3 moving average: each ship date's quantity and its 7-day moving average (ROWS frame)
select l_shipdate, qty,
       avg(qty) over (order by l_shipdate rows between 6 preceding and current row) as ma7
from (select l_shipdate, sum(l_quantity) as qty from lineitem group by l_shipdate) t
order by l_shipdate;
