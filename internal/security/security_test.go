package security

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

var testSecrets = Secrets{Scheduler: "sched-secret", Executor: "exec-secret"}

type rejects struct {
	mu sync.Mutex
	m  map[string]int
}

func (r *rejects) add(_, reason string) { r.mu.Lock(); r.m[reason]++; r.mu.Unlock() }

// serve starts a real gRPC server on loopback with the executor service
// (scheduler only), a Flight service (executors and clients) and health.
func serve(t *testing.T, c Config) (string, *rejects) {
	t.Helper()
	rej := &rejects{m: map[string]int{}}
	a := NewAuthenticator(c.Secrets,
		Rule{Prefix: "/kapot.v1.ExecutorService/", Allowed: []NodeType{Scheduler}},
		Rule{Prefix: "/arrow.flight.protocol.FlightService/", Allowed: []NodeType{Executor, Client}})
	a.OnReject = rej.add
	opts, err := c.ServerOptions(a)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(opts...)
	kapotv1.RegisterExecutorServiceServer(srv, kapotv1.UnimplementedExecutorServiceServer{})
	flight.RegisterFlightServiceServer(srv, &flight.BaseFlightServer{})
	healthpb.RegisterHealthServer(srv, health.NewServer())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return lis.Addr().String(), rej
}

func dial(t *testing.T, addr string, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

func callUnary(cc *grpc.ClientConn) codes.Code {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := kapotv1.NewExecutorServiceClient(cc).RemoveJobData(ctx, &kapotv1.RemoveJobDataRequest{JobId: "j"})
	return status.Code(err)
}

func callStream(cc *grpc.ClientConn) codes.Code {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := flight.NewFlightServiceClient(cc).DoAction(ctx, &flight.Action{Type: "x"})
	if err == nil {
		_, err = s.Recv()
	}
	return status.Code(err)
}

func TestSharedSecrets(t *testing.T) {
	addr, rej := serve(t, Config{Secrets: testSecrets})
	plain, _ := TLS{}.DialOption()
	as := func(c Credentials) grpc.DialOption { return grpc.WithPerRPCCredentials(c) }
	for _, tc := range []struct {
		name           string
		opts           []grpc.DialOption
		unary, stream  codes.Code
		rejectedReason string
	}{
		{"no secret", nil, codes.Unauthenticated, codes.Unauthenticated, "missing"},
		{"wrong scheduler secret", []grpc.DialOption{as(Credentials{Node: Scheduler, Secret: "exec-secret"})}, codes.Unauthenticated, codes.Unauthenticated, "wrong_secret"},
		{"unknown node type", []grpc.DialOption{as(Credentials{Node: "ADMIN", Secret: "sched-secret"})}, codes.Unauthenticated, codes.Unauthenticated, "unknown_node"},
		// Passing authentication reaches the (unimplemented) handlers.
		{"scheduler", testSecrets.DialOption(Scheduler, false), codes.Unimplemented, codes.PermissionDenied, "not_allowed"},
		{"executor", testSecrets.DialOption(Executor, false), codes.PermissionDenied, codes.Unimplemented, "not_allowed"},
		{"client with the executor secret", testSecrets.DialOption(Client, false), codes.PermissionDenied, codes.Unimplemented, "not_allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rej.mu.Lock()
			before := rej.m[tc.rejectedReason]
			rej.mu.Unlock()
			cc := dial(t, addr, append([]grpc.DialOption{plain}, tc.opts...)...)
			if got := callUnary(cc); got != tc.unary {
				t.Errorf("unary: got %v, want %v", got, tc.unary)
			}
			if got := callStream(cc); got != tc.stream {
				t.Errorf("stream: got %v, want %v", got, tc.stream)
			}
			rej.mu.Lock()
			after := rej.m[tc.rejectedReason]
			rej.mu.Unlock()
			if after != before+1 && after != before+2 {
				t.Errorf("rejections %q: %d before, %d after", tc.rejectedReason, before, after)
			}
		})
	}
	// The health service answers without a secret.
	cc := dial(t, addr, plain)
	r, err := healthpb.NewHealthClient(cc).Check(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil || r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health: %v %v", r, err)
	}
}

func TestClientSecretSeparate(t *testing.T) {
	s := Secrets{Scheduler: "a", Executor: "b", Client: "c"}
	addr, _ := serve(t, Config{Secrets: s})
	plain, _ := TLS{}.DialOption()
	if got := callStream(dial(t, addr, append([]grpc.DialOption{plain}, s.DialOption(Client, false)...)...)); got != codes.Unimplemented {
		t.Fatalf("client secret: %v", got)
	}
	// With a client secret of its own, the executor secret no longer passes as a client.
	wrong := grpc.WithPerRPCCredentials(Credentials{Node: Client, Secret: "b"})
	if got := callStream(dial(t, addr, plain, wrong)); got != codes.Unauthenticated {
		t.Fatalf("executor secret as client: %v", got)
	}
}

func TestAuthOffPassesEverything(t *testing.T) {
	addr, _ := serve(t, Config{})
	plain, _ := TLS{}.DialOption()
	if got := callUnary(dial(t, addr, plain)); got != codes.Unimplemented {
		t.Fatalf("got %v", got)
	}
}

func TestCredentialsNeverShowSecret(t *testing.T) {
	c := Credentials{Node: Executor, Secret: "hunter2"}
	for _, s := range []string{c.String(), fmtV(c)} {
		if contains(s, "hunter2") {
			t.Fatalf("secret in %q", s)
		}
	}
}

func TestTLS(t *testing.T) {
	pki, err := WritePKI(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	other, err := WritePKI(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	server := TLS{CertFile: pki.ServerCert, KeyFile: pki.ServerKey, CAFile: pki.CA}
	mutual := server
	mutual.ClientAuth = true
	for _, tc := range []struct {
		name   string
		server TLS
		client TLS
		plain  bool
		want   codes.Code
	}{
		{"tls", server, TLS{CAFile: pki.CA}, false, codes.Unimplemented},
		{"plain client to tls server", server, TLS{}, true, codes.Unavailable},
		{"untrusted server", server, TLS{CAFile: other.CA}, false, codes.Unavailable},
		{"mtls without client cert", mutual, TLS{CAFile: pki.CA}, false, codes.Unavailable},
		{"mtls with client cert", mutual, TLS{CAFile: pki.CA, CertFile: pki.ClientCert, KeyFile: pki.ClientKey}, false, codes.Unimplemented},
		{"mtls with node cert", mutual, server, false, codes.Unimplemented},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.server.Validate(true); err != nil {
				t.Fatal(err)
			}
			addr, _ := serve(t, Config{TLS: tc.server, Secrets: testSecrets})
			tr, err := tc.client.DialOption()
			if err != nil {
				t.Fatal(err)
			}
			opts := append([]grpc.DialOption{tr}, testSecrets.DialOption(Scheduler, !tc.plain)...)
			if got := callUnary(dial(t, addr, opts...)); got != tc.want {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	pki, err := WritePKI(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		c    Config
		want string
	}{
		{"only scheduler secret", Config{Secrets: Secrets{Scheduler: "x"}}, "--scheduler-secret and --executor-secret must be set together"},
		{"only client secret", Config{Secrets: Secrets{Client: "x"}}, "--scheduler-secret and --executor-secret must be set together"},
		{"cert without key", Config{TLS: TLS{CertFile: pki.ServerCert}}, "--tls-cert and --tls-key must be set together"},
		{"ca only on a listener", Config{TLS: TLS{CAFile: pki.CA}}, "TLS on a listener needs --tls-cert and --tls-key"},
		{"client auth without ca", Config{TLS: TLS{CertFile: pki.ServerCert, KeyFile: pki.ServerKey, ClientAuth: true}}, "--tls-client-auth needs --tls-ca"},
		{"client auth without tls", Config{TLS: TLS{ClientAuth: true}}, "--tls-client-auth needs"},
		{"missing cert file", Config{TLS: TLS{CertFile: "/nonexistent.pem", KeyFile: pki.ServerKey}}, "--tls-cert /nonexistent.pem"},
		{"ca not pem", Config{TLS: TLS{CertFile: pki.ServerCert, KeyFile: pki.ServerKey, CAFile: pki.ServerKey}}, "no PEM certificate"},
		{"key of another cert", Config{TLS: TLS{CertFile: pki.ServerCert, KeyFile: pki.ClientKey}}, "private key does not match"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.c.Validate(true)
			if err == nil || !contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	if err := (Config{Secrets: testSecrets, TLS: TLS{CertFile: pki.ServerCert, KeyFile: pki.ServerKey, CAFile: pki.CA, ClientAuth: true}}).Validate(true); err != nil {
		t.Fatal(err)
	}
	if err := (Config{TLS: TLS{CAFile: pki.CA}}).Validate(false); err != nil {
		t.Fatalf("a client needs only a CA: %v", err)
	}
}
