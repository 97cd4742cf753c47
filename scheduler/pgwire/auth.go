package pgwire

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/kapot-go/kapot/internal/security"
)

// scramIterations is the PBKDF2 iteration count of SCRAM (PostgreSQL's
// default).
const scramIterations = 4096

// Auth checks clients against the cluster's secrets with SCRAM-SHA-256
// (RFC 5802, 7677), as the other front doors do: a principal of the
// principals file logs in with its name and its own secret; any other
// user name with the client secret (the principal "client") or the
// scheduler secret (the operator). The secrets never cross the wire.
type Auth struct {
	salt       []byte
	client     scramKeys
	admin      scramKeys
	principals map[string]scramKeys
}

// scramKeys are what a SCRAM server keeps of a password.
type scramKeys struct {
	stored, server []byte
}

func keysOf(password string, salt []byte) (scramKeys, error) {
	salted, err := pbkdf2.Key(sha256.New, password, salt, scramIterations, sha256.Size)
	if err != nil {
		return scramKeys{}, err
	}
	ck := hmacSum(salted, []byte("Client Key"))
	stored := sha256.Sum256(ck)
	return scramKeys{stored: stored[:], server: hmacSum(salted, []byte("Server Key"))}, nil
}

func hmacSum(key, msg []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(msg)
	return h.Sum(nil)
}

// NewAuth checks clients against the client secret, the scheduler secret
// (admin: the operator) and the principals' own secrets (name → secret).
func NewAuth(client, admin string, principals map[string]string) (*Auth, error) {
	a := &Auth{salt: make([]byte, 16), principals: map[string]scramKeys{}}
	if _, err := rand.Read(a.salt); err != nil {
		return nil, err
	}
	var err error
	if a.client, err = keysOf(client, a.salt); err != nil {
		return nil, err
	}
	if a.admin, err = keysOf(admin, a.salt); err != nil {
		return nil, err
	}
	for name, secret := range principals {
		if a.principals[name], err = keysOf(secret, a.salt); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// errAuth is a failed authentication (SQLSTATE 28P01).
var errAuth = errors.New("password authentication failed")

// candidate is a secret user may present and the principal it makes.
type candidate struct {
	keys scramKeys
	who  security.Principal
}

func (a *Auth) candidates(user string) []candidate {
	if k, ok := a.principals[user]; ok {
		return []candidate{{k, security.Principal{Name: user}}}
	}
	return []candidate{
		{a.admin, security.Principal{Name: security.PrincipalOperator, Operator: true}},
		{a.client, security.Principal{Name: security.PrincipalClient}},
	}
}

// scram is one SCRAM-SHA-256 exchange of the server side.
type scram struct {
	a               *Auth
	user            string
	clientFirstBare string
	serverFirst     string
	nonce, gs2      string
}

// first reads the client-first-message and answers the server-first.
func (s *scram) first(msg []byte) ([]byte, error) {
	m := string(msg)
	// gs2 header: n,, (no channel binding) or y,, (client could but
	// server did not offer); p=… (binding required) is refused.
	gs2, rest, ok := cutN(m, ',', 2)
	if !ok || !(strings.HasPrefix(gs2, "n,") || strings.HasPrefix(gs2, "y,")) {
		return nil, fmt.Errorf("%w: SCRAM channel binding is not supported", errAuth)
	}
	s.gs2 = gs2 + ","
	s.clientFirstBare = rest
	var cnonce string
	for _, attr := range strings.Split(rest, ",") {
		if v, ok := strings.CutPrefix(attr, "r="); ok {
			cnonce = v
		}
	}
	if cnonce == "" || strings.ContainsAny(cnonce, ",") {
		return nil, fmt.Errorf("%w: malformed SCRAM client-first-message", errAuth)
	}
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	s.nonce = cnonce + base64.StdEncoding.EncodeToString(b)
	s.serverFirst = fmt.Sprintf("r=%s,s=%s,i=%d", s.nonce, base64.StdEncoding.EncodeToString(s.a.salt), scramIterations)
	return []byte(s.serverFirst), nil
}

// final checks the client-final-message's proof and answers the
// server-final (its signature) and the principal.
func (s *scram) final(msg []byte) ([]byte, security.Principal, error) {
	m := string(msg)
	i := strings.LastIndex(m, ",p=")
	if i < 0 {
		return nil, security.Principal{}, fmt.Errorf("%w: malformed SCRAM client-final-message", errAuth)
	}
	withoutProof, proofB64 := m[:i], m[i+3:]
	var binding, nonce string
	for _, attr := range strings.Split(withoutProof, ",") {
		switch {
		case strings.HasPrefix(attr, "c="):
			binding = attr[2:]
		case strings.HasPrefix(attr, "r="):
			nonce = attr[2:]
		}
	}
	if nonce != s.nonce || binding != base64.StdEncoding.EncodeToString([]byte(s.gs2)) {
		return nil, security.Principal{}, fmt.Errorf("%w: SCRAM nonce or channel binding mismatch", errAuth)
	}
	proof, err := base64.StdEncoding.DecodeString(proofB64)
	if err != nil || len(proof) != sha256.Size {
		return nil, security.Principal{}, fmt.Errorf("%w: malformed SCRAM proof", errAuth)
	}
	authMsg := []byte(s.clientFirstBare + "," + s.serverFirst + "," + withoutProof)
	for _, c := range s.a.candidates(s.user) {
		sig := hmacSum(c.keys.stored, authMsg)
		ck := make([]byte, len(proof))
		for j := range proof {
			ck[j] = proof[j] ^ sig[j]
		}
		sum := sha256.Sum256(ck)
		if subtle.ConstantTimeCompare(sum[:], c.keys.stored) == 1 {
			return []byte("v=" + base64.StdEncoding.EncodeToString(hmacSum(c.keys.server, authMsg))), c.who, nil
		}
	}
	return nil, security.Principal{}, fmt.Errorf("%w for user %q", errAuth, s.user)
}

// cutN splits s after its n-th sep.
func cutN(s string, sep byte, n int) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == sep {
			n--
			if n == 0 {
				return s[:i], s[i+1:], true
			}
		}
	}
	return "", "", false
}
