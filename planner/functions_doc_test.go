package planner

import (
	"flag"
	"os"
	"strconv"
	"strings"
	"testing"
)

var updateFunctionsDoc = flag.Bool("update-functions-doc", false, "rewrite docs/functions.md from the function registry")

// functionsDoc renders the function library (SHOW FUNCTIONS) as
// docs/functions.md.
func functionsDoc() string {
	var b strings.Builder
	b.WriteString("# Functions\n\nGenerated from the function registry (`SHOW FUNCTIONS` lists the same); `go test ./planner -run TestFunctionsDoc -update-functions-doc` rewrites it.\n")
	byKind := map[string][]string{}
	for _, f := range Functions() {
		byKind[f[1]] = append(byKind[f[1]], f[0])
	}
	for _, k := range []string{"scalar", "aggregate", "window", "table"} {
		b.WriteString("\n## " + strings.ToUpper(k[:1]) + k[1:] + " (" + strconv.Itoa(len(byKind[k])) + ")\n\n")
		for i, n := range byKind[k] {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("`" + n + "`")
		}
		b.WriteString("\n")
	}
	return b.String()
}

// TestFunctionsDoc: docs/functions.md lists the function registry as it
// is (the README points there instead of keeping lists that go stale).
func TestFunctionsDoc(t *testing.T) {
	const path = "../docs/functions.md"
	want := functionsDoc()
	if *updateFunctionsDoc {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatalf("%s does not match the function registry; run go test ./planner -run TestFunctionsDoc -update-functions-doc", path)
	}
}
