-- W2: lineitem to Hive directories by ship mode.
COPY (SELECT * FROM lineitem) TO '{out}' (FORMAT parquet, PARTITION_BY (l_shipmode))
