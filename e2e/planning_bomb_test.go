package e2e

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kapot-go/kapot/client"
)

// TestPlanningBombsDoNotJamTheScheduler (issue 36, item 4): clients send
// planning bombs and go away: a chain of 40 WITH queries each joining the
// previous one with itself (1.9 KB; the plan doubles at every level) and
// an IN list of a million integers (6.9 MB). Meanwhile another client's
// light query answers within a few seconds every time, and the
// scheduler's peak RSS stays under 1 GiB. Before, the WITH chain took the
// scheduler to 7.1 GB and planned on after its client had gone, the IN
// list to 6.2 GB, and the light query took minutes.
func TestPlanningBombsDoNotJamTheScheduler(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	const (
		rssBound   = 1 << 30
		lightBound = 5 * time.Second
		// The light query runs during the attack and this long after it:
		// a scheduler that plans on for clients gone is caught then.
		aftermath = 20 * time.Second
	)
	dir := sharedTPCH(t, 0.01, 2).dir
	c := startProcCluster(t, 2, "push-staged")
	cl, err := client.Dial(c.addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	sess := cl.NewSession(nil)
	createTPCH(t, sess, dir)
	lineitems := queryText(t, sess, "select count(*) from lineitem")

	var chain strings.Builder
	chain.WriteString("with c0 as (select 1 a)")
	for i := 1; i <= 40; i++ {
		fmt.Fprintf(&chain, ", c%d as (select x.a + y.a a from c%d x, c%d y)", i, i-1, i-1)
	}
	chain.WriteString(" select a from c40")
	var in strings.Builder
	in.WriteString("select count(*) from lineitem where l_orderkey in (")
	for i := 0; i < 1000000; i++ {
		if i > 0 {
			in.WriteString(",")
		}
		in.WriteString(strconv.Itoa(i))
	}
	in.WriteString(")")
	bombs := []string{chain.String(), in.String()}
	t.Logf("bombs of %d and %d bytes", len(bombs[0]), len(bombs[1]))

	// Attackers: each sends a bomb on a connection of its own and hangs
	// up a second later, three rounds.
	attack := func(sql string) {
		acl, err := client.Dial(c.addr, nil)
		if err != nil {
			t.Error(err)
			return
		}
		defer acl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		acl.NewSession(nil).Exec(ctx, sql)
	}
	stop := make(chan struct{})
	var attackers sync.WaitGroup
	attackers.Add(1)
	go func() {
		defer attackers.Done()
		for round := 0; round < 3; round++ {
			var wg sync.WaitGroup
			for _, b := range bombs {
				wg.Add(1)
				go func() { defer wg.Done(); attack(b) }()
			}
			wg.Wait()
		}
		close(stop)
	}()
	// The light query, over and over while the attack lasts and after.
	var lat []time.Duration
	var until time.Time
	for until.IsZero() || time.Now().Before(until) {
		select {
		case <-stop:
			until, stop = time.Now().Add(aftermath), nil
		case <-time.After(200 * time.Millisecond):
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		start := time.Now()
		var got []string
		rows, err := sess.Query(ctx, "select count(*) from nation")
		if err == nil {
			got, err = readRowsErr(rows)
		}
		cancel()
		lat = append(lat, time.Since(start))
		if err != nil || !slices.Equal(got, []string{"25"}) {
			t.Errorf("light query during the attack: %q, %v", got, err)
			break
		}
	}
	attackers.Wait()
	slices.Sort(lat)
	t.Logf("light query during the attack and %s after: %d runs, median %s, slowest %s", aftermath, len(lat), lat[len(lat)/2].Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond))
	if lat[len(lat)-1] > lightBound {
		t.Errorf("the light query took %s during the attack, more than %s", lat[len(lat)-1].Round(time.Millisecond), lightBound)
	}

	// A client that waits gets the answers: the chain is refused as over
	// the plan budget, the IN list answers.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	start := time.Now()
	err = sess.Exec(ctx, bombs[0])
	cancel()
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "resources exhausted: planning") {
		t.Errorf("WITH chain: %v, want ResourceExhausted: resources exhausted: planning …", err)
	}
	t.Logf("WITH chain refused in %s", time.Since(start).Round(time.Millisecond))
	ctx, cancel = context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start = time.Now()
	if rows, err := sess.Query(ctx, bombs[1]); err != nil {
		t.Errorf("IN list of a million: %v", err)
	} else if got, err := readRowsErr(rows); err != nil || !slices.Equal(got, lineitems) {
		t.Errorf("IN list of a million: %q (%v), want %q", got, err, lineitems)
	}
	t.Logf("IN list of a million answered in %s", time.Since(start).Round(time.Millisecond))

	select {
	case <-c.sched.done:
		t.Fatalf("the scheduler exited: %v", c.sched.err)
	default:
	}
	peak := peakRSS(t, c.sched.cmd.Process.Pid)
	t.Logf("scheduler peak RSS %d MiB (bound %d MiB)", peak>>20, rssBound>>20)
	if peak > rssBound {
		t.Errorf("scheduler peaked at %d MiB RSS, over %d MiB", peak>>20, rssBound>>20)
	}
}
