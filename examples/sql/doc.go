// Command sql is a small program built on the kapot Go client: it creates
// the TPC-H tables under a directory in the cluster's catalog, runs one
// query on the cluster and prints the result as it streams back from the
// executors. The client needs no C compiler (CGO_ENABLED=0 builds it).
//
//	bin/kapot local --executors 2 &          # a cluster on 127.0.0.1:50050
//	bin/kapot tpch gen --sf 0.1 --out /tmp/tpch
//	go run ./examples/sql --tpch /tmp/tpch \
//	    -e "SELECT n_name, count(*) AS suppliers FROM supplier, nation WHERE s_nationkey = n_nationkey GROUP BY n_name ORDER BY 2 DESC LIMIT 5"
package main
