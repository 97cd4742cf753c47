package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/kapot-go/kapot/client"
	"github.com/kapot-go/kapot/engine"
)

// concurrentDrop: bob makes a table of his own, a reader (alice, or
// another session of bob) starts a query on it, and bob drops, replaces
// or appends to it meanwhile. The reader must get the exact answer of the
// version it planned with. The read takes some 10 ms, quicker than most
// changes, so in half the attacks the executors are paused (SIGSTOP)
// from before the reader's job starts until the change is made (DROP, or
// CREATE OR REPLACE with columns: the scheduler alone runs them): its tasks
// then read after the change, for sure.
func (h *hostileData) concurrentDrop(ctx context.Context) error {
	h.names++
	name := fmt.Sprintf("b_cd%d", h.names)
	off := h.rng.Int64N(1000)
	// Several files, so the read spans several tasks.
	create := fmt.Sprintf("CREATE TABLE %s AS SELECT k + %d AS k, v FROM %s", name, off, h.source)
	h.last = create
	if err := h.bobClient.NewSession(map[string]string{"kapot.shuffle.partitions": "8"}).Exec(ctx, create); err != nil {
		return fmt.Errorf("bob's own table: %w", err)
	}
	want := []string{fmt.Sprintf("%d|%d", h.srcRows, h.srcSum+off*h.srcRows)}
	reader := h.alice
	if h.rng.IntN(2) == 0 {
		reader = h.bob2
	}
	changes := []string{"DROP TABLE %s", "CREATE OR REPLACE TABLE %s (k BIGINT, v VARCHAR)"}
	paused := h.rng.IntN(2) == 0
	if paused {
		h.pauseExecutors(true)
		defer h.pauseExecutors(false) // on every way out; resuming twice is harmless
	} else {
		changes = append(changes, "CREATE OR REPLACE TABLE %s AS SELECT k FROM "+h.source+" WHERE k < 7", "INSERT INTO %s VALUES (1, 'x')")
	}
	job, err := reader.Start(ctx, "SELECT count(*), sum(k) FROM "+name)
	if err != nil {
		return fmt.Errorf("the read of bob's table: %w", err)
	}
	type result struct {
		got []string
		err error
		at  time.Time // when the read ended
	}
	done := make(chan result, 1)
	go func() {
		rows, err := job.Wait(ctx)
		if err != nil {
			done <- result{err: err, at: time.Now()}
			return
		}
		got, err := drainText(rows)
		done <- result{got, err, time.Now()}
	}()
	if !paused {
		time.Sleep(time.Duration(h.rng.IntN(30)) * time.Millisecond)
	}
	change := fmt.Sprintf(h.pick(changes), name)
	h.last = change + " while a query reads it"
	if paused {
		h.last += " (executors paused)"
	}
	changeErr := h.bob.Exec(ctx, change)
	changed := time.Now()
	if paused {
		h.pauseExecutors(false)
	}
	r := <-done
	if r.at.After(changed) {
		h.overlaps++
	}
	if !strings.HasPrefix(change, "DROP") {
		if err := h.bob.Exec(ctx, "DROP TABLE "+name); err != nil && changeErr == nil {
			changeErr = err
		}
	}
	h.reads++
	if changeErr != nil {
		return fmt.Errorf("bob's change of his own table: %w", changeErr)
	}
	if r.err != nil || !slices.Equal(r.got, want) {
		// Readers keep their snapshot (issue 35, finding 5): a reader that
		// does not get its version's exact answer fails the run.
		h.snapshotFailures++
		msg := fmt.Sprintf("%s: %q %v, want %q", h.last, r.got, r.err, want)
		if len(h.snapshotErrs) < 3 {
			h.snapshotErrs = append(h.snapshotErrs, msg)
		}
		return fmt.Errorf("%w: a reader lost its snapshot: %s", errLeak, msg)
	}
	return nil
}

// pauseExecutors stops (SIGSTOP) or resumes (SIGCONT) the cluster's
// executor processes.
func (h *hostileData) pauseExecutors(stop bool) {
	sig := syscall.SIGCONT
	if stop {
		sig = syscall.SIGSTOP
	}
	for _, e := range h.c.executors {
		_ = e.cmd.Process.Signal(sig)
	}
}

// drainText reads rows to their end as "a|b" lines.
func drainText(rows *client.Rows) ([]string, error) {
	bs, err := client.ReadAll(rows)
	defer func() {
		for _, b := range bs {
			b.Release()
		}
	}()
	if err != nil {
		return nil, err
	}
	return engine.FormatRows(bs, "|"), nil
}
