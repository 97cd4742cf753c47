package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kapot-go/kapot/client"
)

// etcdRaftLeader is the index of the member that is etcd's raft leader
// now (-1: none answers, or they do not agree yet).
func etcdRaftLeader(ms []*etcdMember) int {
	var eps []string
	for _, m := range ms {
		eps = append(eps, m.endpoint)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 2 * time.Second})
	if err != nil {
		return -1
	}
	defer cli.Close()
	for i, m := range ms {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		st, err := cli.Status(ctx, m.endpoint)
		cancel()
		if err == nil && st.Leader != 0 && st.Header.GetMemberId() == st.Leader {
			return i
		}
	}
	return -1
}

// TestEtcdLeaderLoss (issue 36, item 7): 3 etcd members, 2 schedulers on
// them and 2 executors, all processes with default settings
// (--leader-lease-seconds 3). Queries run back to back, each one written
// to etcd when submitted; etcd's raft leader is SIGKILLed during them, 3
// times (the member restarts in between). Every query answers right, the
// leading scheduler keeps its leadership (etcd kept a quorum), and the
// extra time of the slowest query around each kill is logged and bounded
// (< 5 s; before: 4–7 s, and once the leader lost its lease and exited).
func TestEtcdLeaderLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("HA suite: skipped with -short")
	}
	dir := sharedTPCH(t, 0.01, 2).dir
	c := startHACluster(t, 2, 2)
	cl, err := client.Dial(c.addrs, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	waitExecutors(t, cl, 2, 60*time.Second)
	sess := cl.NewSession(nil)
	createTPCH(t, sess, dir)
	const q = "SELECT l_returnflag, count(*) FROM lineitem GROUP BY l_returnflag ORDER BY l_returnflag"
	want := queryText(t, sess, q)
	query := func() (time.Duration, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		start := time.Now()
		rows, err := sess.Query(ctx, q)
		if err != nil {
			return time.Since(start), err
		}
		got, err := readRowsErr(rows)
		took := time.Since(start)
		if err != nil {
			return took, err
		}
		if !slices.Equal(got, want) {
			return took, fmt.Errorf("answer %q, want %q", got, want)
		}
		return took, nil
	}
	var clean []time.Duration
	for range 10 {
		d, err := query()
		if err != nil {
			t.Fatal(err)
		}
		clean = append(clean, d)
	}
	slices.Sort(clean)
	median := clean[len(clean)/2]
	leader := c.leader(t)
	if leader < 0 {
		t.Fatal("no scheduler leads")
	}
	var extras []time.Duration
	for round := range 3 {
		m := -1
		for deadline := time.Now().Add(30 * time.Second); m < 0 && time.Now().Before(deadline); {
			if m = etcdRaftLeader(c.etcd); m < 0 {
				time.Sleep(100 * time.Millisecond)
			}
		}
		if m < 0 {
			t.Fatal("etcd has no raft leader")
		}
		type run struct {
			start time.Time
			took  time.Duration
			err   error
		}
		stop := make(chan struct{})
		runs := make(chan []run, 1)
		go func() {
			var rs []run
			for {
				select {
				case <-stop:
					runs <- rs
					return
				default:
				}
				start := time.Now()
				took, err := query()
				rs = append(rs, run{start, took, err})
			}
		}()
		time.Sleep(time.Second)
		killed := time.Now()
		c.etcd[m].p.cmd.Process.Signal(syscall.SIGKILL)
		c.etcd[m].p.wait(t, 10*time.Second)
		time.Sleep(10 * time.Second)
		close(stop)
		rs := <-runs
		// The slowest query that ran when etcd's leader died, or after.
		var worst time.Duration
		n := 0
		for _, r := range rs {
			if r.err != nil {
				t.Fatalf("round %d: a query started %s after the kill: %v", round, r.start.Sub(killed).Round(time.Millisecond), r.err)
			}
			if r.start.Add(r.took).After(killed) {
				worst = max(worst, r.took)
				n++
			}
		}
		extra := max(worst-median, 0)
		extras = append(extras, extra)
		t.Logf("round %d: etcd member m%d (raft leader) SIGKILLed: %d queries ran during the next 10 s, all right; slowest %s (clean median %s): extra %s",
			round, m, n, worst.Round(time.Millisecond), median.Round(time.Millisecond), extra.Round(time.Millisecond))
		select {
		case <-c.scheds[leader].done:
			t.Fatalf("round %d: the leading scheduler exited:\n%s", round, tail(readFile(t, c.scheds[leader].log), 3000))
		default:
		}
		if now := c.leader(t); now != leader {
			t.Fatalf("round %d: scheduler %d leads now, not %d", round, now, leader)
		}
		if log := readFile(t, c.scheds[leader].log); strings.Contains(log, "leadership lost") {
			t.Fatalf("round %d: the leader lost its leadership:\n%s", round, tail(log, 3000))
		}
		if extra > 5*time.Second {
			t.Fatalf("round %d: a query took %s longer than without the failure (want < 5 s)", round, extra.Round(time.Millisecond))
		}
		c.etcd[m].restart(t)
	}
	slices.Sort(extras)
	t.Logf("etcd raft leader SIGKILLed 3 times during queries: extra time of the slowest query %s (median), %s (max); the kapot leader kept its leadership",
		extras[1].Round(time.Millisecond), extras[2].Round(time.Millisecond))
}
