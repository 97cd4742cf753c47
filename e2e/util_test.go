package e2e

import (
	"net"
	"strconv"
	"sync"
	"testing"
)

func splitAddr(t *testing.T, addr string) (string, int) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return h, n
}

func itoa(i int) string { return strconv.Itoa(i) }

var (
	binOnce sync.Once
	binPath string
	binErr  error
)
