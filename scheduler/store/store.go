package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Buckets of the scheduler's state.
const (
	// Tables maps a table name to the statement that defines it.
	Tables = "tables"
	// Jobs maps a finished job's history key to its summary (JSON).
	Jobs = "jobs"
	// Running maps a job that has not been cleaned up yet to its record
	// (its plan, owner, state): what a scheduler taking over runs on or
	// answers for. Its completed tasks are in the bucket TaskBucket(id).
	Running = "running"
	// Writes maps a write in flight to its staging location: what a
	// scheduler that stopped mid-write removes when it starts again.
	Writes = "writes"
	// Retired maps a key to a location a DROP, a replace or a compaction
	// took out of a managed table, and when (JSON): it goes once no job
	// that planned with it runs (warehouse.Reclaimer).
	Retired = "retired"
)

// TaskBucket is the bucket of a job's completed tasks ("stage/partition"
// to where its output is).
func TaskBucket(jobID string) string { return "tasks-" + jobID }

// ErrInUse is returned by Open when another live scheduler holds the state
// dir.
var ErrInUse = errors.New("state dir in use by another scheduler")

// KV is one entry of a bucket.
type KV struct {
	Key   string
	Value []byte
}

// Store is durable key-value state in named buckets. Implementations are
// safe for concurrent use; a Put or Delete that returns nil is durable.
type Store interface {
	Put(ctx context.Context, bucket, key string, value []byte) error
	Delete(ctx context.Context, bucket, key string) error
	// List returns a bucket's entries in key order.
	List(ctx context.Context, bucket string) ([]KV, error)
	// DeleteBucket removes a bucket and all its entries.
	DeleteBucket(ctx context.Context, bucket string) error
	Close() error
}

// Memory is a Store that lives as long as the process (no --state-dir).
func Memory() Store { return &memStore{buckets: map[string]map[string][]byte{}} }

type memStore struct {
	mu      sync.Mutex
	buckets map[string]map[string][]byte
}

func (m *memStore) Put(_ context.Context, bucket, key string, value []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.buckets[bucket]
	if !ok {
		b = map[string][]byte{}
		m.buckets[bucket] = b
	}
	b[key] = slices.Clone(value)
	return nil
}

func (m *memStore) Delete(_ context.Context, bucket, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.buckets[bucket], key)
	return nil
}

func (m *memStore) DeleteBucket(_ context.Context, bucket string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.buckets, bucket)
	return nil
}

func (m *memStore) List(_ context.Context, bucket string) ([]KV, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []KV
	for k, v := range m.buckets[bucket] {
		out = append(out, KV{k, slices.Clone(v)})
	}
	slices.SortFunc(out, func(a, b KV) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

func (m *memStore) Close() error { return nil }

// FileName is the state file under a state dir.
const FileName = "scheduler.db"

// Open opens (creating it if needed) the state file under dir. The file is
// locked while open: a second scheduler on the same dir gets ErrInUse.
func Open(dir string) (Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state dir %s: %w", dir, err)
	}
	path := filepath.Join(dir, FileName)
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("%s: %w", path, ErrInUse)
	}
	if err != nil {
		return nil, fmt.Errorf("state file %s: %w", path, err)
	}
	return &boltStore{db: db}, nil
}

type boltStore struct{ db *bolt.DB }

func (s *boltStore) Put(_ context.Context, bucket, key string, value []byte) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte(bucket))
		if err != nil {
			return err
		}
		return b.Put([]byte(key), value)
	})
}

func (s *boltStore) Delete(_ context.Context, bucket, key string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucket))
		if b == nil {
			return nil
		}
		return b.Delete([]byte(key))
	})
}

func (s *boltStore) List(_ context.Context, bucket string) ([]KV, error) {
	var out []KV
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucket))
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			out = append(out, KV{string(k), slices.Clone(v)})
			return nil
		})
	})
	return out, err
}

func (s *boltStore) DeleteBucket(_ context.Context, bucket string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket([]byte(bucket)); err != nil && !errors.Is(err, berrors.ErrBucketNotFound) {
			return err
		}
		return nil
	})
}

func (s *boltStore) Close() error { return s.db.Close() }
