package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kapot-go/kapot/client"
	"github.com/kapot-go/kapot/internal/security"
)

// secureCluster is a scheduler (gRPC, Flight SQL and an admin port with a
// token) and executors as processes, secured from one shared config file
// whose secrets come from the environment, reading only under roots.
type secureCluster struct {
	addr                     string
	port, sqlPort, adminPort int
	secrets                  security.Secrets
	adminToken               string
	sched                    *proc
	executors                []*proc
	workDirs                 []string
}

// startSecureCluster starts it with n executors; schedulerYAML adds keys
// to the scheduler's section, executorYAML (lines) to the executors'.
func startSecureCluster(t *testing.T, n int, roots []string, schedulerYAML string, executorYAML ...string) *secureCluster {
	t.Helper()
	dir := t.TempDir()
	c := &secureCluster{port: freePort(t), sqlPort: freePort(t), adminPort: freePort(t)}
	c.addr = "127.0.0.1:" + strconv.Itoa(c.port)
	p := strconv.Itoa(c.port)
	c.secrets = security.Secrets{Scheduler: "sched-" + p, Executor: "exec-" + p, Client: "client-" + p}
	c.adminToken = "admin-" + p
	t.Setenv("TEST_KAPOT_SCHED_SECRET", c.secrets.Scheduler)
	t.Setenv("TEST_KAPOT_EXEC_SECRET", c.secrets.Executor)
	t.Setenv("TEST_KAPOT_CLIENT_SECRET", c.secrets.Client)
	t.Setenv("TEST_KAPOT_ADMIN_TOKEN", c.adminToken)
	// Two principals with secrets of their own, beside the shared client
	// secret.
	c.secrets.Principals = map[string]string{"alice": "alice-" + p, "bob": "bob-" + p}
	principals := filepath.Join(dir, "principals")
	if err := os.WriteFile(principals, []byte("# test principals\nalice alice-"+p+"\nbob bob-"+p+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rootList := ""
	for i, r := range roots {
		if i > 0 {
			rootList += ", "
		}
		rootList += r
	}
	cfg := filepath.Join(dir, "cluster.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`
common:
  scheduler-secret: ${TEST_KAPOT_SCHED_SECRET}
  executor-secret: ${TEST_KAPOT_EXEC_SECRET}
  client-secret: ${TEST_KAPOT_CLIENT_SECRET}
  principals-file: %s
  bind-host: 127.0.0.1
  log-level: debug
  allowed-data-roots: [%s]
scheduler:
  port: %d
  flight-sql-port: %d
  admin-port: %d
  admin-token: ${TEST_KAPOT_ADMIN_TOKEN}
%s
executor:
  external-host: 127.0.0.1
  port: 0
  grpc-port: 0
  scheduler-host: 127.0.0.1
  scheduler-port: %d
  scheduler-connect-timeout-seconds: 20s
  concurrent-tasks: 1
  executor-heartbeat-interval-seconds: 1
%s
`, principals, rootList, c.port, c.sqlPort, c.adminPort, schedulerYAML, c.port, strings.Join(executorYAML, "\n"))), 0o600); err != nil {
		t.Fatal(err)
	}
	c.sched = startProc(t, "scheduler", "scheduler", "--config", cfg)
	for i := range n {
		wd := t.TempDir()
		c.workDirs = append(c.workDirs, wd)
		e := startProc(t, fmt.Sprintf("executor-%d", i), "executor", "--config", cfg, "--work-dir", wd)
		waitLog(t, e.log, "registered with scheduler")
		c.executors = append(c.executors, e)
	}
	return c
}

// as dials the cluster as a principal of its principals file, or with the
// shared client secret for "client". (Operators use Flight SQL with the
// scheduler secret: flightSQLDSN.)
func (c *secureCluster) as(t *testing.T, who string) *client.Client {
	t.Helper()
	opts := []client.Option{client.WithSecret(c.secrets.Client)}
	if who != security.PrincipalClient {
		opts = []client.Option{client.WithSecret(c.secrets.Principals[who]), client.WithPrincipal(who)}
	}
	cl, err := client.Dial(c.addr, memory.NewGoAllocator(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// flightSQLDSN is the database/sql data source of the cluster's Flight SQL
// endpoint with password.
func (c *secureCluster) flightSQLDSN(password string) string {
	return "flightsql://kapot:" + password + "@127.0.0.1:" + strconv.Itoa(c.sqlPort) + "?timeout=60s"
}

// alive fails the test if a process of the cluster has exited.
func (c *secureCluster) alive(t *testing.T) {
	t.Helper()
	for _, p := range append([]*proc{c.sched}, c.executors...) {
		select {
		case <-p.done:
			t.Fatalf("%s exited: %v\n%s", p.cmd.Args[1], p.err, tail(readFile(t, p.log), 3000))
		default:
		}
	}
}
