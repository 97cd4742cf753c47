package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

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
}

// Etcd is a Store on an etcd cluster: a bucket's entries are the keys
// <prefix>/<bucket>/<key>. Writes are acknowledged once a quorum has them.
type Etcd struct {
	cli    *clientv3.Client
	prefix string
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
	cli, err := clientv3.New(clientv3.Config{Endpoints: cfg.Endpoints, DialTimeout: cfg.DialTimeout,
		Username: cfg.Username, Password: cfg.Password})
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

// Put implements Store.
func (e *Etcd) Put(ctx context.Context, bucket, key string, value []byte) error {
	_, err := e.cli.Put(ctx, e.key(bucket, key), string(value))
	return err
}

// Delete implements Store.
func (e *Etcd) Delete(ctx context.Context, bucket, key string) error {
	_, err := e.cli.Delete(ctx, e.key(bucket, key))
	return err
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

// Close implements Store.
func (e *Etcd) Close() error { return e.cli.Close() }
