package executor

import (
	"errors"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kapot-go/kapot/cache"
	"github.com/kapot-go/kapot/internal/admin"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// execMetrics are the executor's Prometheus metrics, in a registry of its
// own (no package-level state: two executors in one process do not clash).
type execMetrics struct {
	reg          *prometheus.Registry
	slotsUsed    prometheus.Gauge
	tasks        *prometheus.CounterVec
	taskSeconds  prometheus.Histogram
	shuffleBytes prometheus.Counter
	spillBytes   prometheus.Counter
	heartbeat    prometheus.Histogram
	janitor      prometheus.Counter
	authFailures *prometheus.CounterVec
}

func newExecMetrics(e *Executor) *execMetrics {
	m := &execMetrics{reg: admin.NewRegistry()}
	f := func(c prometheus.Collector) { m.reg.MustRegister(c) }
	f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "kapot_executor_slots", Help: "Task slots."}, func() float64 { return float64(e.slots) }))
	m.slotsUsed = prometheus.NewGauge(prometheus.GaugeOpts{Name: "kapot_executor_slots_used", Help: "Task slots running a task."})
	f(m.slotsUsed)
	m.tasks = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kapot_executor_tasks_total", Help: "Tasks finished, by final state."}, []string{"state"})
	f(m.tasks)
	m.taskSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "kapot_executor_task_duration_seconds", Help: "Task run time.",
		Buckets: prometheus.ExponentialBuckets(0.001, 4, 10)})
	f(m.taskSeconds)
	m.shuffleBytes = prometheus.NewCounter(prometheus.CounterOpts{Name: "kapot_executor_shuffle_written_bytes_total", Help: "Shuffle bytes written by map tasks."})
	f(m.shuffleBytes)
	m.spillBytes = prometheus.NewCounter(prometheus.CounterOpts{Name: "kapot_executor_spilled_bytes_total", Help: "Bytes operators spilled to disk."})
	f(m.spillBytes)
	f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "kapot_executor_memory_pool_bytes", Help: "Size of the memory pool."}, func() float64 { return float64(e.pool.Stats().Limit) }))
	f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "kapot_executor_memory_pool_used_bytes", Help: "Memory reserved from the pool."}, func() float64 { return float64(e.pool.Stats().Used) }))
	f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "kapot_executor_arrow_allocated_bytes", Help: "Arrow buffer bytes allocated by tasks and Flight streams and not yet released (returns to its idle value when no job runs; growth is a leak)."}, func() float64 { return float64(e.arrowMem.Allocated()) }))
	m.heartbeat = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "kapot_executor_heartbeat_seconds", Help: "Heartbeat round trips to the scheduler.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 4, 8)})
	f(m.heartbeat)
	f(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "kapot_executor_shuffle_served_bytes_total", Help: "Shuffle bytes served to fetchers over Flight."}, func() float64 {
		if s := e.flightSrv.Load(); s != nil {
			return float64(s.BytesServed())
		}
		return 0
	}))
	m.janitor = prometheus.NewCounter(prometheus.CounterOpts{Name: "kapot_executor_janitor_deleted_jobs_total", Help: "Job directories the TTL janitor deleted."})
	f(m.janitor)
	if e.cache != nil {
		stat := func(get func(cache.Stats) int64) func() float64 {
			return func() float64 { return float64(get(e.cache.Stats())) }
		}
		f(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "kapot_executor_cache_hits_total", Help: "Data cache page hits."}, stat(func(s cache.Stats) int64 { return s.Hits })))
		f(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "kapot_executor_cache_misses_total", Help: "Data cache page misses (fetched from the store)."}, stat(func(s cache.Stats) int64 { return s.Misses })))
		const readHelp = "Bytes of object-store data read through the data cache, by where they came from (cache or store)."
		f(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "kapot_executor_cache_read_bytes_total", Help: readHelp, ConstLabels: prometheus.Labels{"source": "cache"}}, stat(func(s cache.Stats) int64 { return s.BytesFromCache })))
		f(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "kapot_executor_cache_read_bytes_total", Help: readHelp, ConstLabels: prometheus.Labels{"source": "store"}}, stat(func(s cache.Stats) int64 { return s.BytesFromStore })))
		f(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "kapot_executor_cache_evictions_total", Help: "Data cache pages evicted to stay under capacity."}, stat(func(s cache.Stats) int64 { return s.Evictions })))
		f(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "kapot_executor_cache_corrupt_total", Help: "Data cache pages dropped for a bad checksum."}, stat(func(s cache.Stats) int64 { return s.Corrupt })))
		f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "kapot_executor_cache_entries", Help: "Pages in the data cache."}, stat(func(s cache.Stats) int64 { return s.Entries })))
		f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "kapot_executor_cache_bytes", Help: "Bytes in the data cache."}, stat(func(s cache.Stats) int64 { return s.Bytes })))
	}
	m.authFailures = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kapot_executor_auth_failures_total", Help: "Calls rejected by cluster authentication, by server (grpc, flight) and reason."}, []string{"server", "reason"})
	f(m.authFailures)
	return m
}

// taskDone records a finished task.
func (m *execMetrics) taskDone(st *kapotv1.TaskStatus, d time.Duration) {
	state := "succeeded"
	switch {
	case st.GetFailed().GetTaskKilled() != nil:
		state = "killed"
	case st.GetFailed() != nil:
		state = "failed"
	}
	m.tasks.WithLabelValues(state).Inc()
	m.taskSeconds.Observe(d.Seconds())
	for _, p := range st.GetSuccessful().GetPartitions() {
		m.shuffleBytes.Add(float64(p.GetStats().GetNumBytes()))
	}
	for _, om := range st.GetSuccessful().GetOperatorMetrics() {
		m.spillBytes.Add(float64(om.GetSpilledBytes()))
	}
}

// AdminAddr is the admin server's address, nil when it is off.
func (e *Executor) AdminAddr() net.Addr {
	if e.admin == nil {
		return nil
	}
	return e.admin.Addr()
}

// ready says whether the executor takes work: registered and not fenced.
func (e *Executor) readiness() error {
	select {
	case <-e.ready:
		if e.terminating.Load() {
			return errors.New("terminating")
		}
		return nil
	default:
		return errors.New("not registered yet")
	}
}

func (e *Executor) listenAdmin() error {
	if e.cfg.AdminPort < 0 {
		return nil
	}
	// The admin port (metrics, pprof, the job list) is for the
	// operator: loopback unless --admin-bind-host says otherwise.
	host := e.cfg.AdminBindHost
	if host == "" {
		host = "127.0.0.1"
	}
	tlsCfg, err := e.cfg.Security.TLS.AdminConfig()
	if err != nil {
		return err
	}
	srv, err := admin.Listen(host, e.cfg.AdminPort, tlsCfg, e.prom.reg, e.readiness)
	if err != nil {
		return err
	}
	srv.RequireToken(e.cfg.AdminToken)
	e.admin = srv
	return nil
}

// serveAdmin runs the admin server until stopAdmin.
func (e *Executor) serveAdmin() error {
	if e.admin == nil {
		return nil
	}
	return e.admin.Serve()
}

func (e *Executor) stopAdmin() {
	if e.admin != nil {
		e.admin.Shutdown()
	}
}
