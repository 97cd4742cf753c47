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

	"github.com/kapot-go/kapot/internal/security"
)

// sqlTokenTTL is how long a bearer token from a Flight SQL handshake lasts.
const sqlTokenTTL = 12 * time.Hour

// defaultMaxTokens bounds each principal's live tokens until the server
// sets its limit (Limits.MaxTokens).
const defaultMaxTokens = 1024

// Auth guards the Flight SQL endpoint with the cluster's secrets. Clients
// authenticate with HTTP Basic, either on every call (the Go database/sql
// driver) or once through Handshake, which answers with a bearer token for
// later calls (JDBC, ADBC): a principal of the principals file with its
// name and its own secret, anyone else with any user name and the client
// secret (the principal "client") or the scheduler secret (the operator).
// Health checks stay open. A principal holds at most Limits.MaxTokens live
// tokens (a handshake beyond ends its oldest); the Server that owns the
// Auth sweeps expired ones.
type Auth struct {
	secret     [sha256.Size]byte
	admin      [sha256.Size]byte // the scheduler secret: may replace tables
	principals map[string][sha256.Size]byte
	onReject   func(method, reason string)

	now func() time.Time

	mu        sync.Mutex
	tokens    map[string]sqlToken
	maxTokens int
}

type sqlToken struct {
	exp time.Time
	who security.Principal
}

type sqlPrincipalKey struct{}

// Operator reports whether a Flight SQL call authenticated with the
// scheduler secret (an operator), which may replace the shared catalog's
// tables.
func Operator(ctx context.Context) bool { return PrincipalOf(ctx).Operator }

// PrincipalOf is the principal a Flight SQL call authenticated as.
func PrincipalOf(ctx context.Context) security.Principal {
	v, _ := ctx.Value(sqlPrincipalKey{}).(security.Principal)
	return v
}

// NewAuth checks Flight SQL calls against the client secret, the
// scheduler secret (admin) and the principals' own secrets (name → secret).
func NewAuth(secret, admin string, principals map[string]string, onReject func(method, reason string)) *Auth {
	a := &Auth{secret: sha256.Sum256([]byte(secret)), admin: sha256.Sum256([]byte(admin)), principals: map[string][sha256.Size]byte{},
		onReject: onReject, tokens: map[string]sqlToken{}, maxTokens: defaultMaxTokens, now: time.Now}
	for name, v := range principals {
		a.principals[name] = sha256.Sum256([]byte(v))
	}
	return a
}

func (a *Auth) reject(method, reason, msg string) error {
	if a.onReject != nil {
		a.onReject(method, reason)
	}
	return status.Error(codes.Unauthenticated, msg)
}

// check authenticates a call; for Handshake with valid Basic credentials
// it returns a new bearer token.
func (a *Auth) check(ctx context.Context, method string) (token string, who security.Principal, err error) {
	if strings.HasPrefix(method, "/grpc.health.v1.Health/") {
		return "", security.Principal{}, nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get("authorization")
	if len(vals) == 0 {
		return "", security.Principal{}, a.reject(method, "missing", "Flight SQL: authenticate with user name and password (the cluster's client secret)")
	}
	scheme, cred, _ := strings.Cut(strings.TrimSpace(vals[0]), " ")
	cred = strings.TrimSpace(cred)
	switch strings.ToLower(scheme) {
	case "basic":
		raw, err := base64.StdEncoding.DecodeString(cred)
		if err != nil {
			if raw, err = base64.RawStdEncoding.DecodeString(cred); err != nil {
				return "", security.Principal{}, a.reject(method, "malformed", "Flight SQL: malformed basic credentials")
			}
		}
		user, password, ok := strings.Cut(string(raw), ":")
		sum := sha256.Sum256([]byte(password))
		var who security.Principal
		if d, named := a.principals[user]; named {
			// A principal's name with its own secret, and only that.
			if subtle.ConstantTimeCompare(sum[:], d[:]) != 1 {
				ok = false
			}
			who = security.Principal{Name: user}
		} else {
			switch {
			case subtle.ConstantTimeCompare(sum[:], a.admin[:]) == 1:
				who = security.Principal{Name: security.PrincipalOperator, Operator: true}
			case subtle.ConstantTimeCompare(sum[:], a.secret[:]) == 1:
				who = security.Principal{Name: security.PrincipalClient}
			default:
				ok = false
			}
		}
		if !ok {
			return "", security.Principal{}, a.reject(method, "wrong_secret", "Flight SQL: wrong user name or password")
		}
		if strings.HasSuffix(method, "/Handshake") {
			tok, err := a.issue(who)
			return tok, who, err
		}
		return "", who, nil
	case "bearer":
		a.mu.Lock()
		t, ok := a.tokens[cred]
		a.mu.Unlock()
		if !ok || a.now().After(t.exp) {
			return "", security.Principal{}, a.reject(method, "bad_token", "Flight SQL: unknown or expired bearer token; authenticate again")
		}
		return "", t.who, nil
	}
	return "", security.Principal{}, a.reject(method, "malformed", "Flight SQL: want Basic or Bearer authorization")
}

func (a *Auth) issue(who security.Principal) (string, error) {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", status.Errorf(codes.Internal, "token: %v", err)
	}
	tok := hex.EncodeToString(b[:])
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	// Beyond the principal's limit, its oldest live token ends (expired
	// ones end here too).
	live, oldest := 0, ""
	for t, v := range a.tokens {
		switch {
		case now.After(v.exp):
			delete(a.tokens, t)
		case v.who == who:
			live++
			if oldest == "" || v.exp.Before(a.tokens[oldest].exp) {
				oldest = t
			}
		}
	}
	if live >= a.maxTokens {
		delete(a.tokens, oldest)
	}
	a.tokens[tok] = sqlToken{exp: now.Add(sqlTokenTTL), who: who}
	return tok, nil
}

// setMaxTokens sets the limit of live tokens per principal.
func (a *Auth) setMaxTokens(n int) {
	a.mu.Lock()
	a.maxTokens = n
	a.mu.Unlock()
}

// sweep ends the tokens expired by now.
func (a *Auth) sweep(now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for t, v := range a.tokens {
		if now.After(v.exp) {
			delete(a.tokens, t)
		}
	}
}

// liveTokens is how many tokens are held.
func (a *Auth) liveTokens() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.tokens)
}

// ServerOptions are the interceptors that authenticate every call.
func (a *Auth) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			_, who, err := a.check(ctx, info.FullMethod)
			if err != nil {
				return nil, err
			}
			return h(context.WithValue(ctx, sqlPrincipalKey{}, who), req)
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			tok, who, err := a.check(ss.Context(), info.FullMethod)
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
			return h(srv, sqlStream{ServerStream: ss, ctx: context.WithValue(ss.Context(), sqlPrincipalKey{}, who)})
		}),
	}
}

type sqlStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s sqlStream) Context() context.Context { return s.ctx }
