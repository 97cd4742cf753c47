package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kapot-go/kapot/client"
	"github.com/kapot-go/kapot/engine"
	kflight "github.com/kapot-go/kapot/flight"
	"github.com/kapot-go/kapot/internal/security"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// TestJobOwnershipProcesses: on a secured cluster of real processes, a
// client holding only the client secret cannot see, cancel or read another
// client's job (status, results, intermediate shuffle data), cannot forge
// or alter a result ticket, and cannot repoint a table another client
// created through Flight SQL; the owner and an operator (the scheduler
// secret) can.
func TestJobOwnershipProcesses(t *testing.T) {
	examples, err := filepath.Abs("../examples")
	if err != nil {
		t.Fatal(err)
	}
	c := startSecureCluster(t, 2, []string{examples}, "")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r := &ownershipRun{parent: t, c: c, ctx: ctx, examples: examples}
	owner := r.dial()
	r.owner, r.other = owner, r.dial()
	id, err := owner.Submit(ctx, groupByPlan(t))
	if err != nil {
		t.Fatal(err)
	}
	st, err := owner.Wait(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	r.id, r.st, r.locs = id, st, st.GetResultLocations()
	if locs := r.locs; len(locs) == 0 || len(locs[0].GetTicket()) == 0 {
		t.Fatalf("result locations without signed tickets: %v", locs)
	}

	t.Run("another session cannot see or cancel the job", r.cannotSeeOrCancel)
	t.Run("an operator with the scheduler secret sees every job", r.operatorSeesEveryJob)
	t.Run("the admin port lists jobs only with the admin token", r.adminPortNeedsToken)
	t.Run("executors refuse clients without the scheduler's signed ticket", r.ticketsRefused)
	t.Run("the owner reads its result", r.ownerReadsResult)
	t.Run("locations outside the data roots are refused before they are listed", r.locationsOutsideRoots)
	t.Run("Flight SQL clients cannot repoint each other's tables", r.tablesNotRepointed)
}

// ownershipRun holds TestJobOwnershipProcesses's cluster and the job its
// owner ran, for its subtests.
type ownershipRun struct {
	parent       *testing.T
	c            *secureCluster
	ctx          context.Context
	examples     string
	owner, other *client.Client
	id           string
	st           *kapotv1.GetJobStatusResponse
	locs         []*kapotv1.PartitionLocation
}

// dial connects a client holding only the client secret; it is closed
// when the test ends.
func (r *ownershipRun) dial(opts ...client.Option) *client.Client {
	t := r.parent
	cl, err := client.Dial(r.c.addr, memory.NewGoAllocator(), append([]client.Option{client.WithSecret(r.c.secrets.Client)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// cannotSeeOrCancel: another session cannot see or cancel the job.
func (r *ownershipRun) cannotSeeOrCancel(t *testing.T) {
	ctx, other, id := r.ctx, r.other, r.id
	if _, err := other.Scheduler().GetJobStatus(ctx, &kapotv1.GetJobStatusRequest{JobId: id}); status.Code(err) != codes.NotFound {
		t.Fatalf("status of another session's job: %v, want NotFound", err)
	}
	if _, err := other.Scheduler().CancelJob(ctx, &kapotv1.CancelJobRequest{JobId: id}); status.Code(err) != codes.NotFound {
		t.Fatalf("cancel of another session's job: %v, want NotFound", err)
	}
	// Reusing the owner's session (it is the capability) reaches it.
	again := r.dial(client.WithSession("not-the-owners"))
	if _, err := again.Scheduler().GetJobStatus(ctx, &kapotv1.GetJobStatusRequest{JobId: id}); status.Code(err) != codes.NotFound {
		t.Fatalf("a guessed session: %v, want NotFound", err)
	}
}

// operatorSeesEveryJob: an operator with the scheduler secret sees every job.
func (o *ownershipRun) operatorSeesEveryJob(t *testing.T) {
	ctx, addr, secrets, id := o.ctx, o.c.addr, o.c.secrets, o.id
	cc, err := grpc.NewClient(addr, append(mustDial(t), grpc.WithPerRPCCredentials(security.Credentials{Node: security.Scheduler, Secret: secrets.Scheduler}))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	r, err := kapotv1.NewSchedulerServiceClient(cc).GetJobStatus(ctx, &kapotv1.GetJobStatusRequest{JobId: id})
	if err != nil || r.GetState() != kapotv1.JobState_JOB_STATE_SUCCESSFUL {
		t.Fatalf("operator status: %v %v", r, err)
	}
}

// adminPortNeedsToken: the admin port lists jobs only with the admin token.
func (r *ownershipRun) adminPortNeedsToken(t *testing.T) {
	c, adminPort, id := r.c, r.c.adminPort, r.id
	url := "http://127.0.0.1:" + strconv.Itoa(adminPort) + "/api/jobs"
	if code, body, err := httpGet(url); err != nil || code != 401 || strings.Contains(body, id) {
		t.Fatalf("without the token: %d %v %.200s", code, err, body)
	}
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+c.adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), id) {
		t.Fatalf("with the token: %d %.300s", resp.StatusCode, body)
	}
}

// ticketsRefused: executors refuse clients without the scheduler's signed ticket.
func (r *ownershipRun) ticketsRefused(t *testing.T) {
	ctx, secrets, id, locs := r.ctx, r.c.secrets, r.id, r.locs
	loc := locs[0]
	cc, err := grpc.NewClient(kflight.Addr(loc.GetExecutor()), append(mustDial(t), grpc.WithPerRPCCredentials(security.Credentials{Node: security.Client, Secret: secrets.Client}))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	fc := flight.NewFlightServiceClient(cc)
	get := func(ticket []byte) codes.Code {
		s, err := fc.DoGet(ctx, &flight.Ticket{Ticket: ticket})
		if err == nil {
			for err == nil {
				_, err = s.Recv()
			}
			if err.Error() == "EOF" {
				return codes.OK
			}
		}
		return status.Code(err)
	}
	signed, err := kflight.ParseTicket(loc.GetTicket())
	if err != nil {
		t.Fatal(err)
	}
	altered := func(f func(*kapotv1.ShuffleTicket)) []byte {
		c := &kapotv1.ShuffleTicket{JobId: signed.GetJobId(), StageId: signed.GetStageId(), MapPartition: signed.GetMapPartition(),
			OutputPartition: signed.GetOutputPartition(), ExpiresMs: signed.GetExpiresMs(), Signature: signed.GetSignature()}
		f(c)
		return kflight.EncodeTicket(c)
	}
	for _, tc := range []struct {
		name   string
		ticket []byte
		want   codes.Code
	}{
		{"the owner's signed ticket", loc.GetTicket(), codes.OK},
		{"an unsigned ticket for the result", kflight.EncodeTicket(&kapotv1.ShuffleTicket{JobId: id, StageId: loc.GetStageId(), MapPartition: loc.GetMapPartition()}), codes.PermissionDenied},
		{"an unsigned ticket for intermediate shuffle data", kflight.EncodeTicket(&kapotv1.ShuffleTicket{JobId: id, StageId: 1}), codes.PermissionDenied},
		{"the signature on another partition", altered(func(c *kapotv1.ShuffleTicket) { c.MapPartition++ }), codes.PermissionDenied},
		{"the signature on stage 1", altered(func(c *kapotv1.ShuffleTicket) { c.StageId = 1 }), codes.PermissionDenied},
		{"a later expiry", altered(func(c *kapotv1.ShuffleTicket) { c.ExpiresMs += 3_600_000 }), codes.PermissionDenied},
		{"a made-up signature", altered(func(c *kapotv1.ShuffleTicket) { c.Signature = []byte("0123456789abcdef0123456789abcdef") }), codes.PermissionDenied},
	} {
		if got := get(tc.ticket); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// ownerReadsResult: the owner reads its result.
func (r *ownershipRun) ownerReadsResult(t *testing.T) {
	ctx, owner, st := r.ctx, r.owner, r.st
	_, batches, err := owner.Fetch(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	got := engine.FormatRows(batches, "|")
	for _, b := range batches {
		b.Release()
	}
	slices.Sort(got)
	if !slices.Equal(got, expectedGroupBy) {
		t.Fatalf("got %q", got)
	}
}

// locationsOutsideRoots: locations outside the data roots are refused before they are listed.
func (r *ownershipRun) locationsOutsideRoots(t *testing.T) {
	c, port, secrets, examples := r.c, r.c.port, r.c.secrets, r.examples
	db, err := sql.Open("flightsql", c.flightSQLDSN(secrets.Client))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, loc := range []string{"/etc", "/etc/passwd", examples + "/../e2e", "http://127.0.0.1:" + strconv.Itoa(port) + "/x.csv"} {
		_, err := db.Exec(fmt.Sprintf("CREATE EXTERNAL TABLE evil STORED AS CSV LOCATION '%s'", loc))
		if err == nil || !strings.Contains(err.Error(), "outside the allowed data roots") {
			t.Errorf("%s: %v, want refused as outside the roots", loc, err)
			continue
		}
		if strings.Contains(err.Error(), "passwd") && loc != "/etc/passwd" || strings.Contains(err.Error(), ".go") {
			t.Errorf("%s: the refusal names files under it: %v", loc, err)
		}
	}
}

// tablesNotRepointed: Flight SQL clients cannot repoint each other's tables.
func (r *ownershipRun) tablesNotRepointed(t *testing.T) {
	c, secrets := r.c, r.c.secrets
	data, err := filepath.Abs("../examples/groupby/data")
	if err != nil {
		t.Fatal(err)
	}
	open := func(password string) *sql.DB {
		db, err := sql.Open("flightsql", c.flightSQLDSN(password))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	alice, mallory, operator := open(secrets.Client), open(secrets.Client), open(secrets.Scheduler)
	create := func(db *sql.DB, location string) error {
		_, err := db.Exec(fmt.Sprintf("CREATE EXTERNAL TABLE sales STORED AS CSV WITH HEADER ROW LOCATION '%s'", location))
		return err
	}
	if err := create(alice, data); err != nil {
		t.Fatal(err)
	}
	if err := create(mallory, filepath.Join(data, "sales-1.csv")); err == nil || !strings.Contains(err.Error(), "exists in the shared catalog") {
		t.Fatalf("repointing another client's table: %v", err)
	}
	count := func() string {
		var n string
		if err := alice.QueryRow("SELECT count(*) FROM sales").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(); n != "8" {
		t.Fatalf("sales has %s rows, want 8 (both files)", n)
	}
	if err := create(operator, filepath.Join(data, "sales-1.csv")); err != nil {
		t.Fatalf("operator replacing a table: %v", err)
	}
	if n := count(); n == "8" {
		t.Fatal("the operator's replacement did not take")
	}
}

// mustDial is the plain-text transport option of the tests' raw dials.
func mustDial(t *testing.T) []grpc.DialOption {
	t.Helper()
	plain, err := security.TLS{}.DialOption()
	if err != nil {
		t.Fatal(err)
	}
	return []grpc.DialOption{plain}
}
