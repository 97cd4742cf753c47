package scheduler

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	kflight "github.com/kapot-go/kapot/flight"
	"github.com/kapot-go/kapot/internal/config"
	"github.com/kapot-go/kapot/internal/security"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/scheduler/cluster"
	"github.com/kapot-go/kapot/scheduler/pgwire"
	"github.com/kapot-go/kapot/session"
)

// pgEndpoint is the PostgreSQL front door (--pg-port): its listener,
// server and the client that reads result partitions for it.
type pgEndpoint struct {
	lis   net.Listener
	srv   *pgwire.Server
	fetch *kflight.Client
}

// listenPG binds the PostgreSQL port, if configured, and builds its
// server: the cluster's TLS (then required), SCRAM against the cluster's
// secrets, statements through session.Execute over the cluster, queries
// as jobs of the Flight SQL endpoint's kind (detached from any session),
// served by the leader only.
func (s *Scheduler) listenPG() error {
	if s.cfg.PGPort < 0 {
		return nil
	}
	dial, err := s.cfg.Security.DialOptions(security.Client)
	if err != nil {
		return fmt.Errorf("%v: %w", err, config.ErrInvalid)
	}
	var tlsCfg *tls.Config
	if s.cfg.Security.TLS.Enabled() {
		if tlsCfg, err = s.cfg.Security.TLS.ServerConfig(); err != nil {
			return fmt.Errorf("--pg-port: %v: %w", err, config.ErrInvalid)
		}
	}
	var auth *pgwire.Auth
	if sec := s.cfg.Security.Secrets; sec.Enabled() {
		if auth, err = pgwire.NewAuth(sec.For(security.Client), sec.Scheduler, sec.Principals); err != nil {
			return fmt.Errorf("--pg-port: %w", err)
		}
	}
	fetch := kflight.NewClient(3, 100*time.Millisecond, 0, dial...)
	srv, err := pgwire.NewServer(pgwire.Config{Backend: backend{s}, Jobs: pgJobs{flightJobs{s}}, Fetch: fetch, TLS: tlsCfg, Auth: auth,
		Serving: func(ctx context.Context) error { return s.refuse(ctx, "/kapot.pgwire/Connect") }, Log: s.log})
	if err != nil {
		fetch.Close()
		return err
	}
	lis, err := net.Listen("tcp", net.JoinHostPort(s.cfg.BindHost, strconv.Itoa(s.cfg.PGPort)))
	if err != nil {
		fetch.Close()
		return fmt.Errorf("--pg-port %d: %w", s.cfg.PGPort, err)
	}
	s.pg = &pgEndpoint{lis: lis, srv: srv, fetch: fetch}
	return nil
}

// servePG serves the PostgreSQL endpoint until ctx ends (the scheduler's
// background context: it ends when the scheduler stops).
func (s *Scheduler) servePG(ctx context.Context) {
	if s.pg == nil {
		return
	}
	defer s.pg.fetch.Close()
	s.log.Info().Str("addr", s.pg.lis.Addr().String()).Msg("postgresql wire protocol listening")
	if err := s.pg.srv.Serve(ctx, s.pg.lis); err != nil {
		s.fail(fmt.Errorf("postgresql endpoint: %w", err))
	}
}

// PGAddr is the PostgreSQL endpoint's address (nil when off).
func (s *Scheduler) PGAddr() net.Addr {
	if s.pg == nil {
		return nil
	}
	return s.pg.lis.Addr()
}

// pgJobs is the scheduler as the PostgreSQL endpoint sees it: jobs owned
// as the Flight SQL endpoint's are (detached from any session of the
// SchedulerService, outside its per-session cap; a client that leaves
// cancels its job), named "pg: …", and the recovery of a lost result
// partition.
type pgJobs struct{ flightJobs }

var _ pgwire.Jobs = pgJobs{}

func (p pgJobs) Submit(ctx context.Context, q *session.Query) (string, error) {
	return p.s.submitQuery(ctx, q, cluster.OwnerFlightSQL, &kapotv1.SubmitJobRequest{JobName: "pg: " + q.Name()})
}

func (p pgJobs) Recover(ctx context.Context, id string, loc *kapotv1.PartitionLocation) (*kapotv1.PartitionLocation, error) {
	p.Unreachable(ctx, id, []string{loc.GetExecutor().GetId()})
	for {
		js, err := p.Status(id)
		if err != nil {
			return nil, err
		}
		switch js.GetState() {
		case kapotv1.JobState_JOB_STATE_SUCCESSFUL:
			for _, l := range js.GetResultLocations() {
				if l.GetStageId() == loc.GetStageId() && l.GetMapPartition() == loc.GetMapPartition() && l.GetOutputPartition() == loc.GetOutputPartition() {
					return l, nil
				}
			}
			return nil, status.Errorf(codes.NotFound, "job %s has no result partition %d", id, loc.GetMapPartition())
		case kapotv1.JobState_JOB_STATE_FAILED, kapotv1.JobState_JOB_STATE_CANCELLED:
			return nil, status.Errorf(codes.Aborted, "job %s %s: %s", id, js.GetState(), js.GetError())
		}
		if p.s.stopping.Load() {
			// Await answers at once while the scheduler stops (see waitJob).
			return nil, status.Errorf(codes.Unavailable, "job %s: the scheduler is stopping", id)
		}
		if err := p.Await(ctx, id, time.Minute); err != nil {
			return nil, err
		}
	}
}
