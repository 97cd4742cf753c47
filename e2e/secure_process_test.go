package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/kapot-go/kapot/internal/security"
)

// TestSecureClusterProcesses runs real scheduler and executor processes from
// one shared config file (secrets from the environment, mutual TLS with
// certificates made here) and submits a plan with `kapot submit`: with the
// client secret and certificate it gets the answer; without the secret it is
// refused as unauthenticated.
func TestSecureClusterProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	dir := t.TempDir()
	pki, err := security.WritePKI(dir)
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	cfg := filepath.Join(dir, "cluster.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`
common:
  scheduler-secret: ${TEST_KAPOT_SCHED_SECRET}
  executor-secret: ${TEST_KAPOT_EXEC_SECRET}
  client-secret: ${TEST_KAPOT_CLIENT_SECRET}
  tls-cert: %s
  tls-key: %s
  tls-ca: %s
  tls-client-auth: true
  bind-host: 127.0.0.1
  log-level: debug
scheduler:
  port: %d
executor:
  external-host: 127.0.0.1
  port: 0
  grpc-port: 0
  scheduler-host: 127.0.0.1
  scheduler-port: %d
  scheduler-connect-timeout-seconds: 20s
  concurrent-tasks: 1
  executor-heartbeat-interval-seconds: 1
`, pki.ServerCert, pki.ServerKey, pki.CA, port, port)), 0o600)
	t.Setenv("TEST_KAPOT_SCHED_SECRET", "sched-"+strconv.Itoa(port))
	t.Setenv("TEST_KAPOT_EXEC_SECRET", "exec-"+strconv.Itoa(port))
	t.Setenv("TEST_KAPOT_CLIENT_SECRET", "client-"+strconv.Itoa(port))
	startProc(t, "scheduler", "scheduler", "--config", cfg)
	var execs []*proc
	for i := range 2 {
		execs = append(execs, startProc(t, fmt.Sprintf("executor-%d", i), "executor", "--config", cfg, "--work-dir", t.TempDir()))
	}
	for _, e := range execs {
		waitLog(t, e.log, "registered with scheduler")
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	submit := func(extra ...string) (string, error) {
		args := append([]string{"submit", "--scheduler", addr, "--plan", "../examples/groupby/plan.json", "--format", "csv",
			"--tls-ca", pki.CA, "--tls-cert", pki.ClientCert, "--tls-key", pki.ClientKey}, extra...)
		out, err := exec.Command(kapotBin(t), args...).CombinedOutput()
		return string(out), err
	}
	out, err := submit("--secret", "client-"+strconv.Itoa(port))
	if err != nil {
		t.Fatalf("submit: %v\n%s", err, out)
	}
	for _, row := range []string{"east,2,2,1.5,2", "north,3,6,1.5,2", "south,2,6,1.5,2", "west,1,4,3.25,3.25"} {
		if !strings.Contains(out, row) {
			t.Errorf("output lacks %q:\n%s", row, out)
		}
	}
	if out, err := submit(); err == nil || !strings.Contains(out, "Unauthenticated") {
		t.Fatalf("submit without the secret: %v\n%s", err, out)
	}
	for _, e := range execs {
		if b, _ := os.ReadFile(e.log); strings.Contains(string(b), "exec-"+strconv.Itoa(port)) {
			t.Fatal("an executor logged its secret")
		}
	}
}
