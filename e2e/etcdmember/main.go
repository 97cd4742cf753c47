package main

import (
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

func main() {
	name := flag.String("name", "m0", "member name")
	dir := flag.String("data-dir", "", "data directory")
	client := flag.String("client-url", "http://127.0.0.1:2379", "client URL")
	peer := flag.String("peer-url", "http://127.0.0.1:2380", "peer URL")
	cluster := flag.String("initial-cluster", "", "name=peer-url,... of every member")
	flag.Parse()
	cfg := embed.NewConfig()
	cfg.Name, cfg.Dir, cfg.LogLevel = *name, *dir, "warn"
	c, err := url.Parse(*client)
	if err != nil {
		fail(err)
	}
	p, err := url.Parse(*peer)
	if err != nil {
		fail(err)
	}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*c}, []url.URL{*c}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*p}, []url.URL{*p}
	cfg.InitialCluster = *cluster
	if cfg.InitialCluster == "" {
		cfg.InitialCluster = *name + "=" + *peer
	}
	cfg.InitialClusterToken = "kapot-e2e"
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		fail(err)
	}
	defer e.Close()
	select {
	case <-e.Server.ReadyNotify():
		fmt.Println("etcd member ready")
	case <-time.After(60 * time.Second):
		fail(fmt.Errorf("not ready after 60 s"))
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	select {
	case <-sig:
	case err := <-e.Err():
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "etcdmember:", err)
	os.Exit(1)
}
