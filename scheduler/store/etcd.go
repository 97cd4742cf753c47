package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// ErrFenced is returned by a write of a scheduler that is no longer the
// leader: another one was elected since, and this one must stop.
var ErrFenced = errors.New("this scheduler is no longer the leader: another scheduler was elected")

// EtcdConfig selects an etcd cluster for the scheduler's state.
type EtcdConfig struct {
	// Endpoints are the members' client URLs (http://host:2379).
	Endpoints []string
	// Prefix keeps this cluster's keys apart from others in one etcd
	// ("/kapot" by default).
	Prefix   string
	Username string
	Password string
	// DialTimeout bounds connecting (5 s by default).
	DialTimeout time.Duration
	// TLS to the members: CA of their certificates, and this client's
	// certificate and key for members that require client certificates.
	CAFile, CertFile, KeyFile string
}

// Etcd is a Store on an etcd cluster: a bucket's entries are the keys
// <prefix>/<bucket>/<key>. Writes are acknowledged once a quorum has them.
type Etcd struct {
	cli    *clientv3.Client
	prefix string
	// Once elected, writes succeed only while the leader key created at
	// fenceRev still exists: a deposed leader's writes fail with ErrFenced.
	mu       sync.Mutex
	fenceKey string
	fenceRev int64
}

// OpenEtcd connects to an etcd cluster and checks that it answers.
func OpenEtcd(ctx context.Context, cfg EtcdConfig) (*Etcd, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, fmt.Errorf("etcd: no endpoints")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "/kapot"
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	ccfg := clientv3.Config{Endpoints: cfg.Endpoints, DialTimeout: cfg.DialTimeout, Username: cfg.Username, Password: cfg.Password}
	if cfg.CAFile != "" || cfg.CertFile != "" {
		tls, err := (transport.TLSInfo{TrustedCAFile: cfg.CAFile, CertFile: cfg.CertFile, KeyFile: cfg.KeyFile}).ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("etcd TLS: %w", err)
		}
		ccfg.TLS = tls
	}
	cli, err := clientv3.New(ccfg)
	if err != nil {
		return nil, fmt.Errorf("etcd %v: %w", cfg.Endpoints, err)
	}
	cctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
	defer cancel()
	if _, err := cli.Get(cctx, cfg.Prefix+"/", clientv3.WithCountOnly()); err != nil {
		cli.Close()
		return nil, fmt.Errorf("etcd %v: %w", cfg.Endpoints, err)
	}
	return &Etcd{cli: cli, prefix: strings.TrimSuffix(cfg.Prefix, "/")}, nil
}

// Client is the etcd client (leader election uses it).
func (e *Etcd) Client() *clientv3.Client { return e.cli }

func (e *Etcd) key(bucket, key string) string { return e.prefix + "/" + bucket + "/" + key }

// fenced runs op only while this scheduler's leader key still exists
// (no fence set: unconditionally).
func (e *Etcd) fenced(ctx context.Context, ops ...clientv3.Op) error {
	e.mu.Lock()
	key, rev := e.fenceKey, e.fenceRev
	e.mu.Unlock()
	if key == "" {
		_, err := e.cli.Txn(ctx).Then(ops...).Commit()
		return err
	}
	r, err := e.cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(key), "=", rev)).Then(ops...).Commit()
	if err != nil {
		return err
	}
	if !r.Succeeded {
		return ErrFenced
	}
	return nil
}

// Put implements Store.
func (e *Etcd) Put(ctx context.Context, bucket, key string, value []byte) error {
	return e.fenced(ctx, clientv3.OpPut(e.key(bucket, key), string(value)))
}

// Delete implements Store.
func (e *Etcd) Delete(ctx context.Context, bucket, key string) error {
	return e.fenced(ctx, clientv3.OpDelete(e.key(bucket, key)))
}

// DeleteBucket implements Store.
func (e *Etcd) DeleteBucket(ctx context.Context, bucket string) error {
	return e.fenced(ctx, clientv3.OpDelete(e.prefix+"/"+bucket+"/", clientv3.WithPrefix()))
}

// List implements Store.
func (e *Etcd) List(ctx context.Context, bucket string) ([]KV, error) {
	p := e.prefix + "/" + bucket + "/"
	r, err := e.cli.Get(ctx, p, clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		return nil, err
	}
	out := make([]KV, 0, len(r.Kvs))
	for _, kv := range r.Kvs {
		out = append(out, KV{Key: strings.TrimPrefix(string(kv.Key), p), Value: kv.Value})
	}
	return out, nil
}

// Leadership is a won election: it lasts while the scheduler's lease is
// kept alive.
type Leadership struct {
	sess *concurrency.Session
	el   *concurrency.Election
}

// Lost is closed when the lease ends (this process could not reach a
// quorum of etcd for the lease's TTL): another scheduler may be leader.
func (l *Leadership) Lost() <-chan struct{} { return l.sess.Done() }

// Resign hands leadership over at once (a clean stop) and ends the lease.
func (l *Leadership) Resign(ctx context.Context) error {
	err := l.el.Resign(ctx)
	if cerr := l.sess.Close(); err == nil {
		err = cerr
	}
	return err
}

// electionKey is the prefix of the schedulers' election.
func (e *Etcd) electionKey() string { return e.prefix + "/election" }

// Campaign blocks until this scheduler is the leader (or ctx ends). value
// is what followers learn of the leader (its address). From then on every
// write is fenced by the leader key's revision. ttl is the lease: how long
// a dead leader keeps its leadership.
func (e *Etcd) Campaign(ctx context.Context, value string, ttl time.Duration) (*Leadership, error) {
	sess, err := concurrency.NewSession(e.cli, concurrency.WithTTL(max(1, int(ttl.Seconds()))))
	if err != nil {
		return nil, fmt.Errorf("etcd lease: %w", err)
	}
	el := concurrency.NewElection(sess, e.electionKey())
	if err := el.Campaign(ctx, value); err != nil {
		sess.Close()
		return nil, fmt.Errorf("leader election: %w", err)
	}
	e.mu.Lock()
	e.fenceKey, e.fenceRev = el.Key(), el.Rev()
	e.mu.Unlock()
	return &Leadership{sess: sess, el: el}, nil
}

// Verify checks that this scheduler still holds the leadership it won.
func (e *Etcd) Verify(ctx context.Context) error { return e.fenced(ctx) }

// Leader is the current leader's value ("" when there is none).
func (e *Etcd) Leader(ctx context.Context) (string, error) {
	r, err := e.cli.Get(ctx, e.electionKey()+"/", clientv3.WithFirstCreate()...)
	if err != nil {
		return "", err
	}
	if len(r.Kvs) == 0 {
		return "", nil
	}
	return string(r.Kvs[0].Value), nil
}

// Close implements Store.
func (e *Etcd) Close() error { return e.cli.Close() }
