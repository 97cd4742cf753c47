package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

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

// TestLocalClusterSecretsFromEnvironment: `kapot local` whose processes get
// their secrets from the environment (the executor secret from a file)
// becomes ready, and `kapot submit --secret-file` gets the answer; a secret
// on the command line draws a warning.
func TestLocalClusterSecretsFromEnvironment(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	write := func(name, v string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	execFile, clientFile := write("exec.secret", "exec-"+strconv.Itoa(port)), write("client.secret", "client-"+strconv.Itoa(port))
	for k, v := range map[string]string{
		"KAPOT_SCHEDULER_SCHEDULER_SECRET":     "sched-" + strconv.Itoa(port),
		"KAPOT_SCHEDULER_EXECUTOR_SECRET_FILE": execFile,
		"KAPOT_SCHEDULER_CLIENT_SECRET_FILE":   clientFile,
		"KAPOT_EXECUTOR_SCHEDULER_SECRET":      "sched-" + strconv.Itoa(port),
		"KAPOT_EXECUTOR_EXECUTOR_SECRET_FILE":  execFile,
		"KAPOT_EXECUTOR_CLIENT_SECRET_FILE":    clientFile,
	} {
		t.Setenv(k, v)
	}
	local := startProc(t, "local", "local", "--executors", "1", "--scheduler-port", strconv.Itoa(port), "--flight-sql-port", "-1",
		"--pg-port", "-1", "--admin-port", "-1", "--work-dir", filepath.Join(dir, "work"))
	waitLog(t, local.log, "cluster ready")
	addr := "127.0.0.1:" + strconv.Itoa(port)
	out, err := exec.Command(kapotBin(t), "submit", "--scheduler", addr, "--plan", "../examples/groupby/plan.json", "--format", "csv",
		"--secret-file", clientFile).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "east,2,2,1.5,2") || strings.Contains(string(out), "warning") {
		t.Fatalf("submit with --secret-file: %v\n%s", err, out)
	}
	out, err = exec.Command(kapotBin(t), "submit", "--scheduler", addr, "--plan", "../examples/groupby/plan.json", "--format", "csv",
		"--secret", "client-"+strconv.Itoa(port)).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "warning: --secret on the command line") {
		t.Fatalf("submit with --secret: %v\n%s", err, out)
	}
	local.cmd.Process.Signal(os.Interrupt)
	local.wait(t, 60*time.Second)
}
