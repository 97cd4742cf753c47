// Package security holds the cluster's shared-secret authentication and its
// TLS settings: what every gRPC (and Arrow Flight) listener checks and what
// every caller presents.
//
// Each kind of node has its own secret, as in the Drove cluster-auth model:
// the scheduler presents the scheduler secret when it calls executors;
// executors present the executor secret when they call the scheduler and when
// they fetch shuffle data from peers; clients (kapot sql, kapot submit, Go
// programs) present the client secret, which defaults to the executor secret
// when none is configured. Secrets travel in gRPC metadata, are compared in
// constant time (as SHA-256 digests, so their lengths do not leak either) and
// are never logged.
package security

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// NodeType names who is calling.
type NodeType string

// The node types of a cluster.
const (
	Scheduler NodeType = "SCHEDULER"
	Executor  NodeType = "EXECUTOR"
	Client    NodeType = "CLIENT"
)

// Metadata keys of the credentials on every call.
const (
	NodeTypeKey = "x-kapot-node-type"
	SecretKey   = "x-kapot-cluster-secret"
)

// HealthPrefix is the standard gRPC health service, always open so that
// probes (Kubernetes, grpc_health_probe) need no secret.
const HealthPrefix = "/grpc.health.v1.Health/"

// Secrets are the cluster's shared secrets. All empty turns authentication
// off; Scheduler and Executor must be set together.
type Secrets struct {
	Scheduler string
	Executor  string
	// Client is what clients present; empty means they present the
	// executor secret.
	Client string
}

// Enabled reports whether calls must carry a secret.
func (s Secrets) Enabled() bool { return s.Scheduler != "" || s.Executor != "" || s.Client != "" }

// Validate checks that the secrets make a usable configuration; errors name
// the flags to set.
func (s Secrets) Validate() error {
	if !s.Enabled() {
		return nil
	}
	if s.Scheduler == "" || s.Executor == "" {
		return errors.New("--scheduler-secret and --executor-secret must be set together (cluster authentication needs both)")
	}
	return nil
}

// For returns the secret a node of type t presents.
func (s Secrets) For(t NodeType) string {
	switch t {
	case Scheduler:
		return s.Scheduler
	case Executor:
		return s.Executor
	case Client:
		if s.Client != "" {
			return s.Client
		}
		return s.Executor
	}
	return ""
}

// Credentials are per-call credentials: a node type and its secret.
type Credentials struct {
	Node   NodeType
	Secret string
	// TLS marks the credentials as requiring a secure transport.
	TLS bool
}

// GetRequestMetadata implements credentials.PerRPCCredentials.
func (c Credentials) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{NodeTypeKey: string(c.Node), SecretKey: c.Secret}, nil
}

// RequireTransportSecurity implements credentials.PerRPCCredentials. Secrets
// may cross plain TCP on a trusted network; with TLS on they never do
// without it.
func (c Credentials) RequireTransportSecurity() bool { return c.TLS }

// String never shows the secret.
func (c Credentials) String() string { return fmt.Sprintf("%s credentials", c.Node) }

// GoString never shows the secret.
func (c Credentials) GoString() string { return c.String() }

var _ credentials.PerRPCCredentials = Credentials{}

// DialOption presents node's secret on every call, or nothing when
// authentication is off.
func (s Secrets) DialOption(node NodeType, tls bool) []grpc.DialOption {
	if !s.Enabled() {
		return nil
	}
	return []grpc.DialOption{grpc.WithPerRPCCredentials(Credentials{Node: node, Secret: s.For(node), TLS: tls})}
}

// Rule says which node types may call the methods under a prefix (a whole
// service "/pkg.Service/" or one method "/pkg.Service/Method").
type Rule struct {
	Prefix  string
	Allowed []NodeType
}

// Authenticator checks the credentials of incoming calls.
type Authenticator struct {
	digests map[NodeType][sha256.Size]byte
	rules   []Rule
	// OnReject, if set, sees every rejected call (metrics); reason is a
	// short label: missing, unknown_node, not_allowed, wrong_secret.
	OnReject func(method, reason string)
}

// NewAuthenticator checks calls against secrets with the given rules; the
// longest matching prefix wins, and a method no rule names is refused (the
// health service is always open). With secrets disabled every call passes.
func NewAuthenticator(s Secrets, rules ...Rule) *Authenticator {
	a := &Authenticator{rules: rules}
	if s.Enabled() {
		a.digests = map[NodeType][sha256.Size]byte{}
		for _, t := range []NodeType{Scheduler, Executor, Client} {
			if v := s.For(t); v != "" {
				a.digests[t] = sha256.Sum256([]byte(v))
			}
		}
	}
	return a
}

// Enabled reports whether the authenticator checks anything.
func (a *Authenticator) Enabled() bool { return a != nil && a.digests != nil }

func (a *Authenticator) allowed(method string) ([]NodeType, bool) {
	best := -1
	var allowed []NodeType
	for _, r := range a.rules {
		if strings.HasPrefix(method, r.Prefix) && len(r.Prefix) > best {
			best, allowed = len(r.Prefix), r.Allowed
		}
	}
	return allowed, best >= 0
}

// Check authenticates a call to method from its incoming metadata and
// returns the caller's node type. Errors are gRPC Unauthenticated or
// PermissionDenied statuses that never echo the secret.
func (a *Authenticator) Check(ctx context.Context, method string) (NodeType, error) {
	if !a.Enabled() || strings.HasPrefix(method, HealthPrefix) {
		return "", nil
	}
	reject := func(reason string, code codes.Code, msg string) error {
		if a.OnReject != nil {
			a.OnReject(method, reason)
		}
		return status.Error(code, msg)
	}
	md, _ := metadata.FromIncomingContext(ctx)
	nodes, secrets := md.Get(NodeTypeKey), md.Get(SecretKey)
	if len(nodes) != 1 || len(secrets) != 1 {
		return "", reject("missing", codes.Unauthenticated, "cluster secret required: configure the node's secret (--executor-secret, --scheduler-secret or --secret)")
	}
	node := NodeType(nodes[0])
	want, known := a.digests[node]
	if !known {
		return "", reject("unknown_node", codes.Unauthenticated, fmt.Sprintf("unknown node type %q", truncate(nodes[0], 32)))
	}
	got := sha256.Sum256([]byte(secrets[0]))
	if subtle.ConstantTimeCompare(want[:], got[:]) != 1 {
		return "", reject("wrong_secret", codes.Unauthenticated, fmt.Sprintf("wrong %s secret", node))
	}
	allowed, ok := a.allowed(method)
	if !ok {
		return "", reject("not_allowed", codes.PermissionDenied, fmt.Sprintf("%s may not call %s", node, method))
	}
	for _, t := range allowed {
		if t == node {
			return node, nil
		}
	}
	return "", reject("not_allowed", codes.PermissionDenied, fmt.Sprintf("%s may not call %s", node, method))
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// ServerOptions are the interceptors that authenticate every unary and
// streaming call; handlers find the caller's node type with NodeFrom.
func (a *Authenticator) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			node, err := a.Check(ctx, info.FullMethod)
			if err != nil {
				return nil, err
			}
			return h(context.WithValue(ctx, nodeKey{}, node), req)
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			node, err := a.Check(ss.Context(), info.FullMethod)
			if err != nil {
				return err
			}
			return h(srv, nodeStream{ServerStream: ss, ctx: context.WithValue(ss.Context(), nodeKey{}, node)})
		}),
	}
}

type nodeKey struct{}

type nodeStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s nodeStream) Context() context.Context { return s.ctx }

// NodeFrom is the node type an authenticated call presented; empty when
// authentication is off (or the call was not authenticated).
func NodeFrom(ctx context.Context) NodeType {
	n, _ := ctx.Value(nodeKey{}).(NodeType)
	return n
}

// SessionKey is the call metadata that names a client's session: the
// owner of the jobs it submits. Clients make it random (128 bits or more)
// and keep it to themselves; it is a capability, not an identity claim.
const SessionKey = "x-kapot-session"

// maxSessionLen bounds the session value a server considers.
const maxSessionLen = 256

// SessionFrom returns a digest of the incoming call's session (empty when
// the call names none).
func SessionFrom(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	v := md.Get(SessionKey)
	if len(v) != 1 || v[0] == "" || len(v[0]) > maxSessionLen {
		return ""
	}
	sum := sha256.Sum256([]byte(v[0]))
	return fmt.Sprintf("%x", sum[:16])
}
