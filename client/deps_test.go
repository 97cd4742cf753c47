package client

import (
	"os/exec"
	"strings"
	"testing"
)

// TestClientIsThin asserts what a program that imports the client pulls
// in: the wire contract, gRPC, Arrow (and Flight) and kapot's small wire
// packages; no cgo (no C compiler needed), no planner, engine, scheduler
// or object-store code (no AWS SDK), no SQL parser.
func TestClientIsThin(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}} {{.Standard}} {{len .CgoFiles}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	allowed := map[string]bool{
		"github.com/kapot-go/kapot/client":            true,
		"github.com/kapot-go/kapot/proto/kapot/v1":    true,
		"github.com/kapot-go/kapot/wire":              true,
		"github.com/kapot-go/kapot/errs":              true, // the error classes (stdlib and gRPC codes only)
		"github.com/kapot-go/kapot/flight":            true, // the Flight client and tickets
		"github.com/kapot-go/kapot/shuffle":           true, // shuffle.FetchError, ids
		"github.com/kapot-go/kapot/internal/security": true, // per-call credentials
		"github.com/kapot-go/kapot/internal/failover": true, // calls go to the leading scheduler
	}
	forbidden := []string{"github.com/aws/", "github.com/pganalyze/", "github.com/marcboeker/", "github.com/duckdb/", "go.etcd.io/"}
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			t.Fatalf("go list line %q", line)
		}
		pkg, std, cgo := f[0], f[1] == "true", f[2] != "0"
		n++
		if cgo && !std {
			t.Errorf("%s uses cgo", pkg)
		}
		if strings.HasPrefix(pkg, "github.com/kapot-go/") && !allowed[pkg] {
			t.Errorf("the client depends on %s", pkg)
		}
		for _, p := range forbidden {
			if strings.HasPrefix(pkg, p) {
				t.Errorf("the client depends on %s", pkg)
			}
		}
	}
	t.Logf("%d packages", n)
}
