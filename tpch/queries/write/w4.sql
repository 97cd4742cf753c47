-- W4: orders to CSV with a header.
COPY (SELECT * FROM orders) TO '{out}' (FORMAT csv, HEADER true)
