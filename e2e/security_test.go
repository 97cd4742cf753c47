package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/kapot-go/kapot/client"
	"github.com/kapot-go/kapot/executor"
	kflight "github.com/kapot-go/kapot/flight"
	"github.com/kapot-go/kapot/internal/security"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/scheduler"
)

var clusterSecrets = security.Secrets{Scheduler: "s3cr3t-sched", Executor: "s3cr3t-exec", Client: "s3cr3t-client"}

// scrape fetches an admin port's /metrics over client and returns the value
// of one series (0 when absent).
func scrape(t *testing.T, hc *http.Client, url, series string) float64 {
	t.Helper()
	resp, err := hc.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(string(b))
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

func dialRaw(t *testing.T, addr string, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	if len(opts) == 0 {
		tr, _ := security.TLS{}.DialOption()
		opts = []grpc.DialOption{tr}
	}
	cc, err := grpc.NewClient(addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// TestClusterAuth runs a cluster with shared secrets: the right secrets run
// a job; missing or wrong ones are refused with Unauthenticated on every
// server (scheduler, executor gRPC, executor Flight) and counted.
func TestClusterAuth(t *testing.T) {
	sec := security.Config{Secrets: clusterSecrets}
	s := startScheduler(t, 0, func(c *scheduler.Config) { c.Security, c.AdminPort, c.AdminBindHost = sec, 0, "127.0.0.1" })
	var execs []*testExecutor
	for range 2 {
		execs = append(execs, startExecutor(t, s.addr, "push-staged", func(c *executor.Config) {
			c.Security, c.AdminPort, c.AdminBindHost = sec, 0, "127.0.0.1"
		}))
	}
	// Two executors fetch each other's shuffle output with the executor
	// secret; the client fetches results with the client secret.
	if got, err := runJobErr(s.addr, groupByPlan(t), client.WithSecret(clusterSecrets.Client)); err != nil || !slices.Equal(got, expectedGroupBy) {
		t.Fatalf("job with the client secret: %q %v", got, err)
	}

	schedURL := "http://" + s.AdminAddr().String()
	if v := scrape(t, http.DefaultClient, schedURL, `kapot_scheduler_jobs{state="successful"}`); v != 1 {
		t.Errorf("scheduler successful jobs metric %v, want 1", v)
	}
	if v := scrape(t, http.DefaultClient, schedURL, `kapot_scheduler_task_slots`); v != 2 {
		t.Errorf("scheduler slots metric %v, want 2", v)
	}
	before := scrape(t, http.DefaultClient, schedURL, `kapot_scheduler_auth_failures_total{reason="wrong_secret"}`)
	for _, tc := range []struct {
		name string
		opts []client.Option
		code codes.Code
	}{
		{"no secret", nil, codes.Unauthenticated},
		{"wrong secret", []client.Option{client.WithSecret("guess")}, codes.Unauthenticated},
		{"executor secret when a client secret is set", []client.Option{client.WithSecret(clusterSecrets.Executor)}, codes.Unauthenticated},
	} {
		_, err := runJobErr(s.addr, groupByPlan(t), tc.opts...)
		if status.Code(err) != tc.code {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.code)
		}
	}
	if after := scrape(t, http.DefaultClient, schedURL, `kapot_scheduler_auth_failures_total{reason="wrong_secret"}`); after != before+2 {
		t.Errorf("scheduler wrong-secret failures %v -> %v, want +2", before, after)
	}

	// An executor's servers: the ExecutorService takes the scheduler only,
	// Flight takes executors and clients, health takes anyone.
	e := execs[0]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	plain, _ := security.TLS{}.DialOption()
	call := func(addr string, node security.NodeType, secret string) (codes.Code, codes.Code) {
		opts := []grpc.DialOption{plain}
		if node != "" {
			opts = append(opts, grpc.WithPerRPCCredentials(security.Credentials{Node: node, Secret: secret}))
		}
		cc := dialRaw(t, addr, opts...)
		_, err := kapotv1.NewExecutorServiceClient(cc).RemoveJobData(ctx, &kapotv1.RemoveJobDataRequest{JobId: "nope"})
		st, ferr := flight.NewFlightServiceClient(cc).DoAction(ctx, &flight.Action{Type: kflight.ActionFetchPartition,
			Body: kflight.TicketFor(&kapotv1.PartitionLocation{JobId: "nope", StageId: 1, MapPartition: 0, OutputPartition: 0})})
		if ferr == nil {
			_, ferr = st.Recv()
		}
		return status.Code(err), status.Code(ferr)
	}
	execURL := "http://" + e.AdminAddr().String()
	grpcBefore := scrape(t, http.DefaultClient, execURL, `kapot_executor_auth_failures_total{reason="missing",server="grpc"}`)
	flightBefore := scrape(t, http.DefaultClient, execURL, `kapot_executor_auth_failures_total{reason="wrong_secret",server="flight"}`)
	for _, tc := range []struct {
		name         string
		node         security.NodeType
		secret       string
		grpc, flight codes.Code
	}{
		{"no secret", "", "", codes.Unauthenticated, codes.Unauthenticated},
		{"wrong executor secret", security.Executor, "nope", codes.Unauthenticated, codes.Unauthenticated},
		{"scheduler", security.Scheduler, clusterSecrets.Scheduler, codes.OK, codes.PermissionDenied},
		{"peer executor", security.Executor, clusterSecrets.Executor, codes.PermissionDenied, codes.NotFound},
		{"client without a signed ticket", security.Client, clusterSecrets.Client, codes.PermissionDenied, codes.PermissionDenied},
	} {
		// Only the gRPC port serves ExecutorService and only the Flight port
		// serves Flight: call each on its own port.
		g, _ := call(e.GRPCAddr().String(), tc.node, tc.secret)
		_, f := call(e.FlightAddr().String(), tc.node, tc.secret)
		if g != tc.grpc || f != tc.flight {
			t.Errorf("%s: grpc %v flight %v, want %v %v", tc.name, g, f, tc.grpc, tc.flight)
		}
	}
	if v := scrape(t, http.DefaultClient, execURL, `kapot_executor_auth_failures_total{reason="missing",server="grpc"}`); v != grpcBefore+1 {
		t.Errorf("executor grpc missing-secret failures %v -> %v, want +1", grpcBefore, v)
	}
	if v := scrape(t, http.DefaultClient, execURL, `kapot_executor_auth_failures_total{reason="wrong_secret",server="flight"}`); v != flightBefore+1 {
		t.Errorf("executor flight wrong-secret failures %v -> %v, want +1", flightBefore, v)
	}
	// The standard health service answers without credentials on every server.
	for _, addr := range []string{s.addr, e.GRPCAddr().String(), e.FlightAddr().String()} {
		r, err := healthpb.NewHealthClient(dialRaw(t, addr)).Check(ctx, &healthpb.HealthCheckRequest{})
		if err != nil || r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health %s: %v %v", addr, r, err)
		}
	}

	// An executor with the wrong secret is refused at registration, at once.
	host, port := splitAddr(t, s.addr)
	cfg := executor.DefaultConfig()
	cfg.BindHost, cfg.Port, cfg.GRPCPort, cfg.SchedulerHost, cfg.SchedulerPort = "127.0.0.1", 0, 0, host, port
	cfg.SchedulerConnectTimeout, cfg.ConcurrentTasks, cfg.WorkDir = 30*time.Second, 1, t.TempDir()
	cfg.Security.Secrets = security.Secrets{Scheduler: clusterSecrets.Scheduler, Executor: "wrong"}
	bad, err := executor.New(cfg, nil, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = bad.Run(context.Background())
	if status.Code(errorsCause(err)) != codes.Unauthenticated || !strings.Contains(err.Error(), "--executor-secret") {
		t.Fatalf("executor with a wrong secret: %v", err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("refusal took %v: it should not retry for the connect timeout", d)
	}
}

// errorsCause unwraps err to the gRPC status error inside it.
func errorsCause(err error) error {
	for err != nil {
		if _, ok := status.FromError(err); ok {
			return err
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
	return nil
}

// TestClusterMutualTLS runs a job over mutual TLS on every listener, with
// certificates made for the test; a plain or certificate-less client is
// refused, and the admin port serves HTTPS.
func TestClusterMutualTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("waits 30 s twice for refused connections: skipped with -short")
	}
	pki, err := security.WritePKI(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sec := security.Config{Secrets: clusterSecrets, TLS: security.TLS{CertFile: pki.ServerCert, KeyFile: pki.ServerKey, CAFile: pki.CA, ClientAuth: true}}
	s := startScheduler(t, 0, func(c *scheduler.Config) { c.Security, c.AdminPort, c.AdminBindHost = sec, 0, "127.0.0.1" })
	for range 2 {
		startExecutor(t, s.addr, "push-staged", func(c *executor.Config) { c.Security = sec })
	}
	clientTLS, err := security.TLS{CAFile: pki.CA, CertFile: pki.ClientCert, KeyFile: pki.ClientKey}.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	if got, err := runJobErr(s.addr, groupByPlan(t), client.WithSecret(clusterSecrets.Client), client.WithTLS(clientTLS)); err != nil || !slices.Equal(got, expectedGroupBy) {
		t.Fatalf("job over mutual TLS: %q %v", got, err)
	}
	noCert, _ := security.TLS{CAFile: pki.CA}.ClientConfig()
	for name, opts := range map[string][]client.Option{
		"plain":                      {client.WithSecret(clusterSecrets.Client)},
		"tls, no client certificate": {client.WithSecret(clusterSecrets.Client), client.WithTLS(noCert)},
	} {
		if _, err := runJobErr(s.addr, groupByPlan(t), opts...); status.Code(err) != codes.Unavailable {
			t.Errorf("%s: got %v, want Unavailable", name, err)
		}
	}
	roots, _ := security.TLS{CAFile: pki.CA}.ClientConfig()
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots.RootCAs}}}
	resp, err := hc.Get(fmt.Sprintf("https://%s/readyz", s.AdminAddr()))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("admin over https: %d", resp.StatusCode)
	}
	if v := scrape(t, hc, "https://"+s.AdminAddr().String(), `kapot_scheduler_executors{state="active"}`); v != 2 {
		t.Fatalf("active executors metric %v, want 2", v)
	}
}
