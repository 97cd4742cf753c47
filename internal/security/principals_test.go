package security

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Each secret names one principal: a principals-file name with its own
// secret, "client" for the shared client secret, "operator" for the
// scheduler secret. A principal's name with any other secret, and an
// unknown name, are refused alike.
func TestPrincipals(t *testing.T) {
	s := Secrets{Scheduler: "sched", Executor: "exec", Client: "cli", Principals: map[string]string{"alice": "a-secret", "bob": "b-secret"}}
	a := NewAuthenticator(s, Rule{Prefix: "/svc/", Allowed: []NodeType{Client, Scheduler}})
	call := func(node NodeType, secret, principal string) (Principal, error) {
		md := metadata.Pairs(NodeTypeKey, string(node), SecretKey, secret)
		if principal != "" {
			md.Append(PrincipalKey, principal)
		}
		id, err := a.check(metadata.NewIncomingContext(context.Background(), md), "/svc/M")
		return id.principal, err
	}
	for _, c := range []struct {
		name              string
		node              NodeType
		secret, principal string
		want              Principal
		ok                bool
	}{
		{"alice with her secret", Client, "a-secret", "alice", Principal{Name: "alice"}, true},
		{"bob with his secret", Client, "b-secret", "bob", Principal{Name: "bob"}, true},
		{"alice with bob's secret", Client, "b-secret", "alice", Principal{}, false},
		{"alice with the client secret", Client, "cli", "alice", Principal{}, false},
		{"an unknown name", Client, "a-secret", "carol", Principal{}, false},
		{"the shared client secret", Client, "cli", "", Principal{Name: PrincipalClient}, true},
		{"a principal's secret without its name", Client, "a-secret", "", Principal{}, false},
		{"the scheduler secret", Scheduler, "sched", "", Principal{Name: PrincipalOperator, Operator: true}, true},
	} {
		got, err := call(c.node, c.secret, c.principal)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("%s: %+v %v, want %+v ok=%v", c.name, got, err, c.want, c.ok)
		}
		if err != nil && status.Code(err) != codes.Unauthenticated {
			t.Errorf("%s: %v is not Unauthenticated", c.name, err)
		}
	}
	// Principals present their name with their secret.
	md, _ := Credentials{Node: Client, Secret: "a-secret", Principal: "alice"}.GetRequestMetadata(context.Background())
	if md[PrincipalKey] != "alice" || md[SecretKey] != "a-secret" {
		t.Fatalf("credentials metadata %v", md)
	}
}

func TestPrincipalsFile(t *testing.T) {
	dir := t.TempDir()
	write := func(text string) string {
		p := filepath.Join(dir, "p")
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	c := Config{PrincipalsFile: write("# analysts\nalice  s3cret with spaces\n\nbob\tb\n")}
	if err := c.LoadSecretFiles(); err != nil {
		t.Fatal(err)
	}
	if len(c.Secrets.Principals) != 2 || c.Secrets.Principals["alice"] != "s3cret with spaces" || c.Secrets.Principals["bob"] != "b" || !c.Secrets.Enabled() {
		t.Fatalf("principals %q", c.Secrets.Principals)
	}
	for text, want := range map[string]string{
		"alice a\nalice b\n": "given twice",
		"alice\n":            "no secret",
		"operator x\n":       "not a principal name",
		"Alice x\n":          "not a principal name",
		"# nobody\n":         "names no principal",
	} {
		c := Config{PrincipalsFile: write(text)}
		if err := c.LoadSecretFiles(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", text, err, want)
		}
	}
}
