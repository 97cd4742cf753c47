package scheduler

import (
	"errors"
	"net"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kapot-go/kapot/internal/admin"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// schedMetrics are the scheduler's Prometheus metrics, in its own registry.
type schedMetrics struct {
	reg           *prometheus.Registry
	authFailures  *prometheus.CounterVec
	executorsLost prometheus.Counter
	speculative   *prometheus.CounterVec
	recovered     *prometheus.CounterVec
}

func newSchedMetrics(s *Scheduler) *schedMetrics {
	m := &schedMetrics{reg: admin.NewRegistry()}
	m.authFailures = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kapot_scheduler_auth_failures_total", Help: "Calls rejected by cluster authentication, by reason."}, []string{"reason"})
	m.executorsLost = prometheus.NewCounter(prometheus.CounterOpts{Name: "kapot_scheduler_executors_lost_total", Help: "Executors declared lost (link broken and probes unanswered, or heartbeats stopped)."})
	m.speculative = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kapot_scheduler_speculative_copies_total",
		Help: "Speculative copies of straggling tasks: started, and won (finished before the original)."}, []string{"outcome"})
	m.recovered = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kapot_scheduler_recovered_tasks_total",
		Help: "Tasks of jobs carried on from a predecessor (take-over or restart): kept (completed, output still held), adopted (running on an executor that re-registered), rerun (completed, output gone)."}, []string{"outcome"})
	m.reg.MustRegister(m.authFailures, m.executorsLost, m.speculative, m.recovered, stateCollector{s})
	return m
}

var (
	executorsDesc = prometheus.NewDesc("kapot_scheduler_executors", "Registered executors, by state.", []string{"state"}, nil)
	slotsDesc     = prometheus.NewDesc("kapot_scheduler_task_slots", "Task slots of active executors.", nil, nil)
	jobsDesc      = prometheus.NewDesc("kapot_scheduler_jobs", "Jobs the scheduler holds, by state.", []string{"state"}, nil)
	leaderDesc    = prometheus.NewDesc("kapot_scheduler_leader", "1 while this scheduler leads (always, with the embedded state store), 0 while it follows.", nil, nil)
)

// stateCollector reads executor and job counts from the scheduler's state at
// scrape time.
type stateCollector struct{ s *Scheduler }

func (c stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- executorsDesc
	ch <- slotsDesc
	ch <- jobsDesc
	ch <- leaderDesc
}

func (c stateCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	execs := map[string]int{"active": 0, "terminating": 0, "dead": 0}
	jobs := map[string]int{"queued": 0, "running": 0, "successful": 0, "failed": 0, "cancelled": 0}
	slots := 0
	s.mu.Lock()
	for _, e := range s.cl.Executors() {
		st := strings.ToLower(strings.TrimPrefix(e.State.String(), "EXECUTOR_STATE_"))
		execs[st]++
		if e.State == kapotv1.ExecutorState_EXECUTOR_STATE_ACTIVE {
			slots += int(e.Reg.GetResources().GetTaskSlots())
		}
	}
	for j := range s.cl.Jobs() {
		jobs[strings.ToLower(strings.TrimPrefix(j.State.String(), "JOB_STATE_"))]++
	}
	s.mu.Unlock()
	for k, v := range execs {
		ch <- prometheus.MustNewConstMetric(executorsDesc, prometheus.GaugeValue, float64(v), k)
	}
	ch <- prometheus.MustNewConstMetric(slotsDesc, prometheus.GaugeValue, float64(slots))
	leading := 0.0
	if s.leading.Load() {
		leading = 1
	}
	ch <- prometheus.MustNewConstMetric(leaderDesc, prometheus.GaugeValue, leading)
	for k, v := range jobs {
		ch <- prometheus.MustNewConstMetric(jobsDesc, prometheus.GaugeValue, float64(v), k)
	}
}

// AdminAddr is the admin server's address, nil when it is off.
func (s *Scheduler) AdminAddr() net.Addr {
	if s.admin == nil {
		return nil
	}
	return s.admin.Addr()
}

func (s *Scheduler) listenAdmin() error {
	if s.cfg.AdminPort < 0 {
		return nil
	}
	// The admin port (metrics, pprof, the job list) is for the
	// operator: loopback unless --admin-bind-host says otherwise.
	host := s.cfg.AdminBindHost
	if host == "" {
		host = "127.0.0.1"
	}
	tlsCfg, err := s.cfg.Security.TLS.AdminConfig()
	if err != nil {
		return err
	}
	srv, err := admin.Listen(host, s.cfg.AdminPort, tlsCfg, s.prom.reg, func() error {
		if s.stopping.Load() {
			return errors.New("stopping")
		}
		if !s.leading.Load() {
			// A follower is alive (/healthz) but takes no work: a
			// Kubernetes Service over the schedulers' ready pods sends
			// clients to the leader.
			return errors.New("follower: not the leader")
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.routeUI(srv)
	srv.RequireToken(s.cfg.AdminToken)
	s.admin = srv
	return nil
}
