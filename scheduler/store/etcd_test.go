package store

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// startEtcd runs a one-member etcd on loopback ports the OS picks.
func startEtcd(t *testing.T) string {
	t.Helper()
	e, _ := startEtcdServer(t)
	return e.Clients[0].Addr().String()
}

// startEtcdServer runs a one-member etcd; stop stops it (once).
func startEtcdServer(t *testing.T) (e *embed.Etcd, stop func()) {
	t.Helper()
	cfg := embed.NewConfig()
	cfg.Dir = t.TempDir()
	cfg.LogLevel = "error"
	client, _ := url.Parse("http://127.0.0.1:0")
	peer, _ := url.Parse("http://127.0.0.1:0")
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*client}, []url.URL{*client}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*peer}, []url.URL{*peer}
	cfg.InitialCluster = cfg.Name + "=" + peer.String()
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		t.Fatal(err)
	}
	stop = sync.OnceFunc(e.Close)
	t.Cleanup(stop)
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(30 * time.Second):
		t.Fatal("etcd did not start")
	}
	return e, stop
}

func TestEtcd(t *testing.T) {
	addr := startEtcd(t)
	s, err := OpenEtcd(context.Background(), EtcdConfig{Endpoints: []string{"http://" + addr}, Prefix: "/test"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	exercise(t, s)
}

// TestEtcdElection: one of two schedulers leads; the other takes over when
// it resigns, and the deposed leader's writes are refused from then on.
func TestEtcdElection(t *testing.T) {
	addr := startEtcd(t)
	ctx := context.Background()
	open := func() *Etcd {
		s, err := OpenEtcd(ctx, EtcdConfig{Endpoints: []string{"http://" + addr}, Prefix: "/ha"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a, b := open(), open()
	la, err := a.Campaign(ctx, "a:1", 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := b.Leader(ctx); err != nil || got != "a:1" {
		t.Fatalf("leader seen by b: %q %v", got, err)
	}
	if err := a.Put(ctx, Tables, "t", []byte("by a")); err != nil {
		t.Fatalf("the leader's write: %v", err)
	}
	won := make(chan *Leadership, 1)
	go func() {
		lb, err := b.Campaign(ctx, "b:2", 2*time.Second)
		if err != nil {
			t.Error(err)
		}
		won <- lb
	}()
	select {
	case <-won:
		t.Fatal("b won while a leads")
	case <-time.After(300 * time.Millisecond):
	}
	if err := la.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	lb := <-won
	defer lb.Resign(ctx)
	if got, _ := a.Leader(ctx); got != "b:2" {
		t.Fatalf("leader after the hand-over: %q", got)
	}
	if err := a.Put(ctx, Tables, "t", []byte("by deposed a")); !errors.Is(err, ErrFenced) {
		t.Fatalf("deposed leader's write: %v, want ErrFenced", err)
	}
	if err := a.DeleteBucket(ctx, Tables); !errors.Is(err, ErrFenced) {
		t.Fatalf("deposed leader's delete: %v, want ErrFenced", err)
	}
	if err := b.Put(ctx, Tables, "t", []byte("by b")); err != nil {
		t.Fatal(err)
	}
	got, err := b.List(ctx, Tables)
	if err != nil || len(got) != 1 || string(got[0].Value) != "by b" {
		t.Fatalf("state after the hand-over: %q %v", got, err)
	}
}

// TestLeadershipRenewed: the leadership renews its lease itself and holds
// past several TTLs; once etcd is gone it is lost within the TTL, saying
// why.
func TestLeadershipRenewed(t *testing.T) {
	srv, stop := startEtcdServer(t)
	ctx := context.Background()
	s, err := OpenEtcd(ctx, EtcdConfig{Endpoints: []string{"http://" + srv.Clients[0].Addr().String()}, Prefix: "/lease", RequestTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const ttl = 2 * time.Second
	l, err := s.Campaign(ctx, "a:1", ttl)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.Lost():
		t.Fatalf("lost while etcd answers: %v", l.Err())
	case <-time.After(3 * ttl):
	}
	if err := s.Verify(ctx); err != nil {
		t.Fatal(err)
	}
	// Stopping etcd takes seconds (it drains): it is stopped aside.
	gone := time.Now()
	go stop()
	select {
	case <-l.Lost():
		took := time.Since(gone)
		t.Logf("lost %s after etcd began to stop: %v", took.Round(time.Millisecond), l.Err())
		if took > ttl {
			t.Fatalf("lost %s after etcd went, more than the TTL %s", took, ttl)
		}
		if err := l.Err(); err == nil || !strings.Contains(err.Error(), "not renewed") {
			t.Fatalf("why: %v", err)
		}
	case <-time.After(3 * ttl):
		t.Fatal("still leading 3 TTLs after etcd went")
	}
}
