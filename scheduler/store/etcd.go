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
	// RequestTimeout bounds one try of a read or write (1 s by default;
	// keep it under the leader lease): a try that has not answered by
	// then, as when etcd's raft leader has just died, is made again (on
	// another member, as the client balances round robin), instead of
	// waiting out etcd's own timeout (7 s).
	RequestTimeout time.Duration
	// TLS to the members: CA of their certificates, and this client's
	// certificate and key for members that require client certificates.
	CAFile, CertFile, KeyFile string
}

// Etcd is a Store on an etcd cluster: a bucket's entries are the keys
// <prefix>/<bucket>/<key>. Writes are acknowledged once a quorum has them.
type Etcd struct {
	cli    *clientv3.Client
	prefix string
	// try bounds one try of a request (EtcdConfig.RequestTimeout).
	try time.Duration
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
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = time.Second
	}
	// Keep-alive pings find a member whose host is gone (no connection
	// reset) within seconds; etcd refuses pings more often than 5 s.
	ccfg := clientv3.Config{Endpoints: cfg.Endpoints, DialTimeout: cfg.DialTimeout, Username: cfg.Username, Password: cfg.Password,
		DialKeepAliveTime: 5 * time.Second, DialKeepAliveTimeout: 2 * time.Second}
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
	return &Etcd{cli: cli, prefix: strings.TrimSuffix(cfg.Prefix, "/"), try: cfg.RequestTimeout}, nil
}

// Client is the etcd client (leader election uses it).
func (e *Etcd) Client() *clientv3.Client { return e.cli }

func (e *Etcd) key(bucket, key string) string { return e.prefix + "/" + bucket + "/" + key }

// fenced runs op only while this scheduler's leader key still exists
// (no fence set: unconditionally). A try that fails for a while (etcd
// electing a leader) is made again: every op is idempotent.
func (e *Etcd) fenced(ctx context.Context, ops ...clientv3.Op) error {
	e.mu.Lock()
	key, rev := e.fenceKey, e.fenceRev
	e.mu.Unlock()
	return e.retry(ctx, func(ctx context.Context) error {
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
	})
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
	var r *clientv3.GetResponse
	err := e.retry(ctx, func(ctx context.Context) (err error) {
		r, err = e.cli.Get(ctx, p, clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]KV, 0, len(r.Kvs))
	for _, kv := range r.Kvs {
		out = append(out, KV{Key: strings.TrimPrefix(string(kv.Key), p), Value: kv.Value})
	}
	return out, nil
}

// Leader is the current leader's value ("" when there is none).
func (e *Etcd) Leader(ctx context.Context) (string, error) {
	var r *clientv3.GetResponse
	err := e.retry(ctx, func(ctx context.Context) (err error) {
		r, err = e.cli.Get(ctx, e.electionKey()+"/", clientv3.WithFirstCreate()...)
		return err
	})
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
