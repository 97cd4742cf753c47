-- W1: lineitem, whole, to Parquet (the write throughput yardstick).
COPY (SELECT * FROM lineitem) TO '{out}' (FORMAT parquet)
