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
	// PrincipalKey names the principal a client's secret belongs to
	// (a name of the scheduler's --principals-file); absent: the shared
	// client secret.
	PrincipalKey = "x-kapot-principal"
)

// The principals that are not named in a principals file.
const (
	// PrincipalOperator is whoever holds the scheduler secret.
	PrincipalOperator = "operator"
	// PrincipalClient is every holder of the shared client secret: one
	// principal, however many people hold it.
	PrincipalClient = "client"
)

// Principal is who an authenticated call acts for: the owner of the tables
// and views it creates. Name is stable across sessions and reconnects: the
// name of the secret presented (a principals-file name, "client" for the
// shared client secret, "operator" for the scheduler secret). The zero
// Principal is an unauthenticated caller of a cluster without secrets,
// where every caller is trusted.
type Principal struct {
	Name     string
	Operator bool
}

// MayAlter reports whether p may replace, drop, overwrite or write into
// what owner owns: its owner, an operator, or anyone where the cluster has
// no secrets (secured false). An unowned object (owner "", made before
// owners were recorded or without secrets) is the operator's.
func (p Principal) MayAlter(owner string, secured bool) bool {
	return !secured || p.Operator || owner != "" && owner == p.Name
}

// ValidPrincipalName reports whether name may name a principal: 1 to 64
// of [a-z0-9_.-], starting with a letter or digit, and not one of the
// reserved names.
func ValidPrincipalName(name string) bool {
	if name == "" || len(name) > 64 || name == PrincipalOperator || name == PrincipalClient {
		return false
	}
	for i, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
		case (r == '_' || r == '.' || r == '-') && i > 0:
		default:
			return false
		}
	}
	return true
}

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
	// Principals are clients with secrets of their own (name → secret,
	// from --principals-file): each is a principal of its own, owning what
	// it creates.
	Principals map[string]string
	// Principal is the name a client presents with its secret (one of the
	// scheduler's Principals); empty: the shared client secret.
	Principal string
}

// Enabled reports whether calls must carry a secret.
func (s Secrets) Enabled() bool {
	return s.Scheduler != "" || s.Executor != "" || s.Client != "" || len(s.Principals) > 0
}

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
	// Principal names a client's own secret (PrincipalKey); empty: the
	// shared client secret.
	Principal string
	// TLS marks the credentials as requiring a secure transport.
	TLS bool
}

// GetRequestMetadata implements credentials.PerRPCCredentials.
func (c Credentials) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	md := map[string]string{NodeTypeKey: string(c.Node), SecretKey: c.Secret}
	if c.Principal != "" {
		md[PrincipalKey] = c.Principal
	}
	return md, nil
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
	c := Credentials{Node: node, Secret: s.For(node), TLS: tls}
	if node == Client {
		c.Principal = s.Principal
	}
	return []grpc.DialOption{grpc.WithPerRPCCredentials(c)}
}

// Rule says which node types may call the methods under a prefix (a whole
// service "/pkg.Service/" or one method "/pkg.Service/Method").
type Rule struct {
	Prefix  string
	Allowed []NodeType
}

// Authenticator checks the credentials of incoming calls.
type Authenticator struct {
	digests    map[NodeType][sha256.Size]byte
	principals map[string][sha256.Size]byte
	rules      []Rule
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
		a.principals = map[string][sha256.Size]byte{}
		for name, v := range s.Principals {
			a.principals[name] = sha256.Sum256([]byte(v))
		}
	}
	return a
}

// identity is what Check establishes about a caller.
type identity struct {
	node      NodeType
	principal Principal
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
	id, err := a.check(ctx, method)
	return id.node, err
}

func (a *Authenticator) check(ctx context.Context, method string) (identity, error) {
	if !a.Enabled() || strings.HasPrefix(method, HealthPrefix) {
		return identity{}, nil
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
		return identity{}, reject("missing", codes.Unauthenticated, "cluster secret required: configure the node's secret (--executor-secret, --scheduler-secret or --secret)")
	}
	node := NodeType(nodes[0])
	want, known := a.digests[node]
	principal := Principal{Name: PrincipalClient}
	switch node {
	case Scheduler:
		principal = Principal{Name: PrincipalOperator, Operator: true}
	case Executor:
		principal = Principal{Name: string(Executor)}
	case Client:
		if names := md.Get(PrincipalKey); len(names) > 0 {
			d, ok := a.principals[names[0]]
			if len(names) != 1 || !ok {
				// The same answer as a wrong secret: names are not probed.
				return identity{}, reject("wrong_secret", codes.Unauthenticated, "wrong CLIENT secret")
			}
			want, known, principal = d, true, Principal{Name: names[0]}
		}
	}
	if !known {
		return identity{}, reject("unknown_node", codes.Unauthenticated, fmt.Sprintf("unknown node type %q", truncate(nodes[0], 32)))
	}
	got := sha256.Sum256([]byte(secrets[0]))
	if subtle.ConstantTimeCompare(want[:], got[:]) != 1 {
		return identity{}, reject("wrong_secret", codes.Unauthenticated, fmt.Sprintf("wrong %s secret", node))
	}
	allowed, ok := a.allowed(method)
	if !ok {
		return identity{}, reject("not_allowed", codes.PermissionDenied, fmt.Sprintf("%s may not call %s", node, method))
	}
	for _, t := range allowed {
		if t == node {
			return identity{node: node, principal: principal}, nil
		}
	}
	return identity{}, reject("not_allowed", codes.PermissionDenied, fmt.Sprintf("%s may not call %s", node, method))
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
			id, err := a.check(ctx, info.FullMethod)
			if err != nil {
				return nil, err
			}
			return h(context.WithValue(ctx, nodeKey{}, id), req)
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			id, err := a.check(ss.Context(), info.FullMethod)
			if err != nil {
				return err
			}
			return h(srv, nodeStream{ServerStream: ss, ctx: context.WithValue(ss.Context(), nodeKey{}, id)})
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
	id, _ := ctx.Value(nodeKey{}).(identity)
	return id.node
}

// PrincipalFrom is the principal an authenticated call acts for; the zero
// Principal when authentication is off.
func PrincipalFrom(ctx context.Context) Principal {
	id, _ := ctx.Value(nodeKey{}).(identity)
	return id.principal
}

// WithPrincipal returns ctx acting for p (front doors that authenticate
// on their own, such as Flight SQL, and tests).
func WithPrincipal(ctx context.Context, node NodeType, p Principal) context.Context {
	return context.WithValue(ctx, nodeKey{}, identity{node: node, principal: p})
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
