package failover

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// reason and domain mark a follower's refusal in its status details.
const (
	reason = "NOT_LEADER"
	domain = "kapot"
)

// NotLeader is the error a follower answers a call with: Unavailable,
// naming the leader's address (empty while none is elected).
func NotLeader(leader string) error {
	msg := "this scheduler is a follower and no leader is elected yet; retry shortly"
	if leader != "" {
		msg = "this scheduler is a follower; the leader is at " + leader
	}
	st, err := status.New(codes.Unavailable, msg).WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: domain, Metadata: map[string]string{"leader": leader}})
	if err != nil {
		return status.Error(codes.Unavailable, msg)
	}
	return st.Err()
}

// LeaderOf tells whether err is a follower's refusal, and the leader it
// named ("" when none was elected).
func LeaderOf(err error) (leader string, refused bool) {
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.Unavailable {
		return "", false
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetReason() == reason && info.GetDomain() == domain {
			return info.GetMetadata()["leader"], true
		}
	}
	return "", false
}

// DefaultWait is how long a call looks for a leader before it fails: more
// than an election takes after a leader dies (its lease, a few seconds).
const DefaultWait = 30 * time.Second

// Addresses splits a list of scheduler addresses ("h1:50050,h2", a host
// without a port gets defPort). A name that resolves to several addresses
// (a DNS name for all schedulers) stands for each of them.
func Addresses(list string, defPort int) ([]string, error) {
	var out []string
	for _, a := range strings.Split(list, ",") {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		host, port, err := net.SplitHostPort(a)
		if err != nil {
			if defPort <= 0 {
				return nil, fmt.Errorf("scheduler address %q: %w", a, err)
			}
			host, port = a, fmt.Sprint(defPort)
		}
		add := func(a string) {
			if !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
		if ips := several(host); len(ips) > 1 {
			for _, ip := range ips {
				add(net.JoinHostPort(ip, port))
			}
			continue
		}
		add(net.JoinHostPort(host, port))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no scheduler address in %q", list)
	}
	return out, nil
}

// several returns the addresses of a name that resolves to more than one
// of a family (a DNS name for every scheduler), else nil: a name with one
// address, or one per family (localhost), stays a name.
func several(host string) []string {
	if net.ParseIP(host) != nil {
		return nil
	}
	ips, err := net.LookupHost(host)
	if err != nil {
		return nil
	}
	var v4, v6 []string
	for _, ip := range ips {
		if p := net.ParseIP(ip); p != nil && p.To4() != nil {
			v4 = append(v4, ip)
		} else {
			v6 = append(v6, ip)
		}
	}
	switch {
	case len(v4) > 1:
		return v4
	case len(v6) > 1:
		return v6
	}
	return nil
}

// Conn is a grpc.ClientConnInterface over the connections to every
// scheduler: calls go to the one that answered last as leader.
type Conn struct {
	addrs []string
	conns []*grpc.ClientConn
	cur   atomic.Int32
	// Wait bounds how long one call looks for a leader.
	Wait time.Duration
	// Once marks calls that must not run twice (a submission without a
	// request id): they are sent again only after a refusal that proves
	// the first try was not acted on.
	Once func(method string, args any) bool
	mu   sync.Mutex // orders moves between addresses
}

// Dial makes (lazily) a connection to each address with opts.
func Dial(addrs []string, opts ...grpc.DialOption) (*Conn, error) {
	c := &Conn{addrs: addrs, Wait: DefaultWait}
	for _, a := range addrs {
		cc, err := grpc.NewClient(a, opts...)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("scheduler %s: %w", a, err)
		}
		c.conns = append(c.conns, cc)
	}
	return c, nil
}

// Target is the address calls go to now.
func (c *Conn) Target() string { return c.addrs[c.cur.Load()] }

// Addrs are all the schedulers' addresses.
func (c *Conn) Addrs() []string { return slices.Clone(c.addrs) }

// Close closes every connection.
func (c *Conn) Close() error {
	var first error
	for _, cc := range c.conns {
		if err := cc.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// moved records that the scheduler at index i refused or failed: calls go
// to the leader it named if it is one of ours, else to the next address.
// It reports whether it moved to a named leader.
func (c *Conn) moved(i int32, leader string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur.Load() != i {
		return false // another call moved already
	}
	if j := slices.Index(c.addrs, leader); leader != "" && j >= 0 && int32(j) != i {
		c.cur.Store(int32(j))
		return true
	}
	c.cur.Store((i + 1) % int32(len(c.addrs)))
	return false
}

// notSent tells whether a failed call surely never reached a scheduler.
func notSent(err error) bool {
	if _, refused := LeaderOf(err); refused {
		return true
	}
	if status.Code(err) != codes.Unavailable {
		return false
	}
	msg := status.Convert(err).Message()
	for _, s := range []string{"connection refused", "no such host", "error reading server preface", "network is unreachable", "no route to host"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// retryable tells whether a failed call may go to another scheduler.
func (c *Conn) retryable(method string, args any, err error) bool {
	if c.Once != nil && c.Once(method, args) {
		return notSent(err)
	}
	return status.Code(err) == codes.Unavailable
}

// Invoke implements grpc.ClientConnInterface.
func (c *Conn) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	give := time.Now().Add(c.Wait)
	backoff := 50 * time.Millisecond
	tried := 0
	for {
		i := c.cur.Load()
		err := c.conns[i].Invoke(ctx, method, args, reply, opts...)
		if err == nil || len(c.conns) == 0 || !c.retryable(method, args, err) || ctx.Err() != nil || time.Now().After(give) {
			return err
		}
		leader, _ := LeaderOf(err)
		tried++
		if !c.moved(i, leader) && tried%len(c.conns) == 0 {
			// Every scheduler refused or failed once: wait for an election.
			select {
			case <-ctx.Done():
				return err
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 500*time.Millisecond)
		}
	}
}

// NewStream implements grpc.ClientConnInterface: the stream goes to the
// current scheduler; if it is refused or breaks, the next stream goes
// where the refusal points (the caller opens it again).
func (c *Conn) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	i := c.cur.Load()
	s, err := c.conns[i].NewStream(ctx, desc, method, opts...)
	if err != nil {
		if status.Code(err) == codes.Unavailable {
			leader, _ := LeaderOf(err)
			c.moved(i, leader)
		}
		return nil, err
	}
	return &stream{ClientStream: s, c: c, i: i}, nil
}

type stream struct {
	grpc.ClientStream
	c *Conn
	i int32
}

func (s *stream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	if err != nil && status.Code(err) == codes.Unavailable {
		leader, _ := LeaderOf(err)
		s.c.moved(s.i, leader)
	}
	return err
}
