package tpch

import (
	"embed"
	"fmt"
)

//go:embed queries/*.sql
var queryFS embed.FS

// Query returns the text of TPC-H query n (1..22) with the specification's
// validation parameters.
func Query(n int) (string, error) {
	b, err := queryFS.ReadFile(fmt.Sprintf("queries/q%d.sql", n))
	if err != nil {
		return "", fmt.Errorf("tpch: no query %d (want 1..22)", n)
	}
	return string(b), nil
}
