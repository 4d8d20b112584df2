package main

import (
	"flag"
	"fmt"
	"net/url"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// startEtcd runs a single-member etcd inside this process, so one process is
// one cluster's storage and API server: killing it is losing that control plane,
// restarting it with the same data dir brings the same cluster back.
func startEtcd(args []string) (stop func(), err error) {
	fs := flag.NewFlagSet("etcd", flag.ContinueOnError)
	dir := fs.String("etcd-dir", "", "etcd data directory")
	clientPort := fs.Int("etcd-client-port", 0, "etcd client port on 127.0.0.1")
	peerPort := fs.Int("etcd-peer-port", 0, "etcd peer port on 127.0.0.1")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if *dir == "" || *clientPort == 0 || *peerPort == 0 {
		return nil, fmt.Errorf("--etcd-dir, --etcd-client-port and --etcd-peer-port are required")
	}
	clientURL, _ := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", *clientPort))
	peerURL, _ := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", *peerPort))

	cfg := embed.NewConfig()
	cfg.Name = "default"
	cfg.Dir = *dir
	cfg.ListenClientUrls = []url.URL{*clientURL}
	cfg.AdvertiseClientUrls = []url.URL{*clientURL}
	cfg.ListenPeerUrls = []url.URL{*peerURL}
	cfg.AdvertisePeerUrls = []url.URL{*peerURL}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.LogLevel = "error"
	// Test clusters are small and short-lived; keep the WAL from fsyncing
	// on every write so that four control planes fit on two cores.
	cfg.UnsafeNoFsync = true

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, err
	}
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(60 * time.Second):
		e.Close()
		return nil, fmt.Errorf("etcd not ready within 60s")
	}
	return e.Close, nil
}
