package flightsql

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Limits bound what one owner holds on the Flight SQL endpoint between
// calls: prepared statements and bearer tokens. (Measured before the
// limits: 30 prepared statements of 50 MiB, never closed, kept 2.37 GB of
// the scheduler's heap until it restarted.)
type Limits struct {
	// MaxPrepared is how many prepared statements one owner may hold.
	MaxPrepared int
	// MaxPreparedBytes bounds the text and bound parameters of one
	// owner's prepared statements together.
	MaxPreparedBytes int64
	// PreparedIdle closes a prepared statement unused for this long.
	PreparedIdle time.Duration
	// MaxTokens bounds one principal's live bearer tokens: a handshake
	// beyond it ends the principal's oldest token.
	MaxTokens int
}

// DefaultLimits are the scheduler's defaults.
func DefaultLimits() Limits {
	return Limits{MaxPrepared: 64, MaxPreparedBytes: 64 << 20, PreparedIdle: 30 * time.Minute, MaxTokens: 1024}
}

// Validate reports the first limit out of range, naming its flag.
func (l Limits) Validate() error {
	switch {
	case l.MaxPrepared < 1:
		return fmt.Errorf("--flight-sql-max-prepared: %d: must be at least 1", l.MaxPrepared)
	case l.MaxPreparedBytes < 1<<10:
		return fmt.Errorf("--flight-sql-max-prepared-bytes: %d: must be at least 1KiB", l.MaxPreparedBytes)
	case l.PreparedIdle < time.Second:
		return fmt.Errorf("--flight-sql-prepared-idle-seconds: %s: must be at least 1s", l.PreparedIdle)
	case l.MaxTokens < 1:
		return fmt.Errorf("--flight-sql-max-tokens: %d: must be at least 1", l.MaxTokens)
	}
	return nil
}

// preparedOverhead is what a prepared statement costs beside its text and
// parameters (its handle, its entry), counted against MaxPreparedBytes.
const preparedOverhead = 256

// preparedSet holds the prepared statements of every owner. An owner is
// the authenticated principal (its name), or the connection where calls
// are not authenticated. A statement is another owner's to nobody: for
// them it does not exist (NotFound). It ends when its owner closes it,
// when the connection that made it closes, or once unused for
// Limits.PreparedIdle. Its methods take the time (tests pass their own).
type preparedSet struct {
	limits Limits

	mu    sync.Mutex
	stmts map[string]*preparedStmt
	use   map[string]*ownerUse
	// open are the connections not yet ended: a statement is never made
	// for one that has (a Create racing its connection's end).
	open map[uint64]bool
}

type preparedStmt struct {
	owner  string
	conn   uint64 // the connection that made it (0: none known)
	sql    string
	params []string // SQL literals bound by the last DoPut
	bytes  int64
	used   time.Time
}

type ownerUse struct {
	count int
	bytes int64
}

func newPreparedSet(l Limits) *preparedSet {
	return &preparedSet{limits: l, stmts: map[string]*preparedStmt{}, use: map[string]*ownerUse{}, open: map[uint64]bool{}}
}

func stmtBytes(sql string, params []string) int64 {
	n := int64(preparedOverhead + len(sql))
	for _, p := range params {
		n += int64(len(p))
	}
	return n
}

// errNoPrepared is the answer for a handle that is not the caller's.
var errNoPrepared = status.Error(codes.NotFound, "unknown prepared statement (closed, expired, its connection ended, made by another principal or by another scheduler)")

// add keeps sql for owner, made on conn, and returns its handle; beyond
// the owner's limits it is refused with ResourceExhausted.
func (p *preparedSet) add(owner string, conn uint64, sql string, now time.Time) (string, error) {
	n := stmtBytes(sql, nil)
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", status.Errorf(codes.Internal, "prepared statement handle: %v", err)
	}
	h := hex.EncodeToString(id[:])
	p.mu.Lock()
	defer p.mu.Unlock()
	if conn != 0 && !p.open[conn] {
		return "", status.Error(codes.Canceled, "the connection ended")
	}
	u := p.use[owner]
	if u == nil {
		u = &ownerUse{}
	}
	if u.count+1 > p.limits.MaxPrepared {
		return "", status.Errorf(codes.ResourceExhausted, "resources exhausted: %s holds %d prepared statements, the most allowed (--flight-sql-max-prepared); close some", ownerName(owner), u.count)
	}
	if u.bytes+n > p.limits.MaxPreparedBytes {
		return "", status.Errorf(codes.ResourceExhausted, "resources exhausted: a prepared statement of %d bytes: %s holds %d bytes of prepared statements, at most %d allowed (--flight-sql-max-prepared-bytes); close some",
			n, ownerName(owner), u.bytes, p.limits.MaxPreparedBytes)
	}
	u.count++
	u.bytes += n
	p.use[owner] = u
	p.stmts[h] = &preparedStmt{owner: owner, conn: conn, sql: sql, bytes: n, used: now}
	return h, nil
}

func ownerName(owner string) string {
	if owner == "" {
		return "this client"
	}
	return fmt.Sprintf("%q", owner)
}

// get is owner's statement h: its text and bound parameters.
func (p *preparedSet) get(owner, h string, now time.Time) (string, []string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.stmts[h]
	if !ok || s.owner != owner {
		return "", nil, errNoPrepared
	}
	s.used = now
	return s.sql, slices.Clone(s.params), nil
}

// bind sets the parameters of owner's statement h, within the owner's
// bytes limit.
func (p *preparedSet) bind(owner, h string, params []string, now time.Time) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.stmts[h]
	if !ok || s.owner != owner {
		return errNoPrepared
	}
	n := stmtBytes(s.sql, params)
	u := p.use[owner]
	if u.bytes-s.bytes+n > p.limits.MaxPreparedBytes {
		return status.Errorf(codes.ResourceExhausted, "resources exhausted: parameters of %d bytes: %s holds %d bytes of prepared statements, at most %d allowed (--flight-sql-max-prepared-bytes)",
			n-stmtBytes(s.sql, nil), ownerName(owner), u.bytes, p.limits.MaxPreparedBytes)
	}
	u.bytes += n - s.bytes
	s.bytes, s.params, s.used = n, params, now
	return nil
}

// close ends owner's statement h.
func (p *preparedSet) close(owner, h string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.stmts[h]
	if !ok || s.owner != owner {
		return errNoPrepared
	}
	p.drop(h, s)
	return nil
}

// drop forgets statement h. Called with mu held.
func (p *preparedSet) drop(h string, s *preparedStmt) {
	delete(p.stmts, h)
	u := p.use[s.owner]
	u.count--
	u.bytes -= s.bytes
	if u.count == 0 {
		delete(p.use, s.owner)
	}
}

// connOpened notes a new connection.
func (p *preparedSet) connOpened(conn uint64) {
	p.mu.Lock()
	p.open[conn] = true
	p.mu.Unlock()
}

// connEnded ends the statements made on conn; it answers how many.
func (p *preparedSet) connEnded(conn uint64) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.open, conn)
	n := 0
	for h, s := range p.stmts {
		if s.conn == conn {
			p.drop(h, s)
			n++
		}
	}
	return n
}

// expire ends the statements unused since before now less
// Limits.PreparedIdle; it answers how many.
func (p *preparedSet) expire(now time.Time) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for h, s := range p.stmts {
		if now.Sub(s.used) >= p.limits.PreparedIdle {
			p.drop(h, s)
			n++
		}
	}
	return n
}

// usage is how many statements are held, and their bytes.
func (p *preparedSet) usage() (int, int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b int64
	for _, u := range p.use {
		b += u.bytes
	}
	return len(p.stmts), b
}
