package flightsql

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// sqlTokenTTL is how long a bearer token from a Flight SQL handshake lasts.
const sqlTokenTTL = 12 * time.Hour

// Auth guards the Flight SQL endpoint with the cluster's client secret.
// Clients authenticate with HTTP Basic (any user name, the client secret
// as password), either on every call (the Go database/sql driver) or once
// through Handshake, which answers with a bearer token for later calls
// (JDBC, ADBC). Health checks stay open.
type Auth struct {
	secret   [sha256.Size]byte
	admin    [sha256.Size]byte // the scheduler secret: may replace tables
	onReject func(method, reason string)

	mu     sync.Mutex
	tokens map[string]sqlToken
}

type sqlToken struct {
	exp   time.Time
	admin bool
}

type sqlAdminKey struct{}

// Operator reports whether a Flight SQL call authenticated with the
// scheduler secret (an operator), which may replace the shared catalog's
// tables.
func Operator(ctx context.Context) bool { v, _ := ctx.Value(sqlAdminKey{}).(bool); return v }

func NewAuth(secret, admin string, onReject func(method, reason string)) *Auth {
	return &Auth{secret: sha256.Sum256([]byte(secret)), admin: sha256.Sum256([]byte(admin)), onReject: onReject, tokens: map[string]sqlToken{}}
}

func (a *Auth) reject(method, reason, msg string) error {
	if a.onReject != nil {
		a.onReject(method, reason)
	}
	return status.Error(codes.Unauthenticated, msg)
}

// check authenticates a call; for Handshake with valid Basic credentials
// it returns a new bearer token.
func (a *Auth) check(ctx context.Context, method string) (token string, admin bool, err error) {
	if strings.HasPrefix(method, "/grpc.health.v1.Health/") {
		return "", false, nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get("authorization")
	if len(vals) == 0 {
		return "", false, a.reject(method, "missing", "Flight SQL: authenticate with user name and password (the cluster's client secret)")
	}
	scheme, cred, _ := strings.Cut(strings.TrimSpace(vals[0]), " ")
	cred = strings.TrimSpace(cred)
	switch strings.ToLower(scheme) {
	case "basic":
		raw, err := base64.StdEncoding.DecodeString(cred)
		if err != nil {
			if raw, err = base64.RawStdEncoding.DecodeString(cred); err != nil {
				return "", false, a.reject(method, "malformed", "Flight SQL: malformed basic credentials")
			}
		}
		_, password, ok := strings.Cut(string(raw), ":")
		sum := sha256.Sum256([]byte(password))
		admin := subtle.ConstantTimeCompare(sum[:], a.admin[:]) == 1
		if !ok || (subtle.ConstantTimeCompare(sum[:], a.secret[:]) != 1 && !admin) {
			return "", false, a.reject(method, "wrong_secret", "Flight SQL: wrong user name or password")
		}
		if strings.HasSuffix(method, "/Handshake") {
			tok, err := a.issue(admin)
			return tok, admin, err
		}
		return "", admin, nil
	case "bearer":
		a.mu.Lock()
		t, ok := a.tokens[cred]
		a.mu.Unlock()
		if !ok || time.Now().After(t.exp) {
			return "", false, a.reject(method, "bad_token", "Flight SQL: unknown or expired bearer token; authenticate again")
		}
		return "", t.admin, nil
	}
	return "", false, a.reject(method, "malformed", "Flight SQL: want Basic or Bearer authorization")
}

func (a *Auth) issue(admin bool) (string, error) {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", status.Errorf(codes.Internal, "token: %v", err)
	}
	tok := hex.EncodeToString(b[:])
	now := time.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	for t, v := range a.tokens {
		if now.After(v.exp) {
			delete(a.tokens, t)
		}
	}
	a.tokens[tok] = sqlToken{exp: now.Add(sqlTokenTTL), admin: admin}
	return tok, nil
}

// ServerOptions are the interceptors that authenticate every call.
func (a *Auth) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			_, admin, err := a.check(ctx, info.FullMethod)
			if err != nil {
				return nil, err
			}
			return h(context.WithValue(ctx, sqlAdminKey{}, admin), req)
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			tok, admin, err := a.check(ss.Context(), info.FullMethod)
			if err != nil {
				return err
			}
			if tok != "" {
				// The Flight convention: the token comes back in the
				// Authorization header of the handshake's response.
				if err := ss.SetHeader(metadata.Pairs("authorization", "Bearer "+tok)); err != nil {
					return err
				}
			}
			return h(srv, sqlStream{ServerStream: ss, ctx: context.WithValue(ss.Context(), sqlAdminKey{}, admin)})
		}),
	}
}

type sqlStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s sqlStream) Context() context.Context { return s.ctx }
