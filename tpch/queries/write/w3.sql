-- W3: a join written out (the ETL shape: read, join, write).
COPY (SELECT l_orderkey, l_partkey, l_quantity, l_extendedprice, l_shipmode, o_orderdate, o_orderpriority FROM lineitem JOIN orders ON l_orderkey = o_orderkey) TO '{out}' (FORMAT parquet)
