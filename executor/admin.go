package executor

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

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
}

func newExecMetrics(e *Executor) *execMetrics {
	m := &execMetrics{reg: prometheus.NewRegistry()}
	f := func(c prometheus.Collector) { m.reg.MustRegister(c) }
	f(collectors.NewGoCollector())
	f(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
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
	m.heartbeat = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "kapot_executor_heartbeat_seconds", Help: "Heartbeat round trips to the scheduler.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 4, 8)})
	f(m.heartbeat)
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

// adminHandler serves /healthz, /readyz, /metrics and /debug/pprof/.
func (e *Executor) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		select {
		case <-e.ready:
			if !e.terminating.Load() {
				w.Write([]byte("ready\n"))
				return
			}
			http.Error(w, "terminating", http.StatusServiceUnavailable)
		default:
			http.Error(w, "not registered yet", http.StatusServiceUnavailable)
		}
	})
	mux.Handle("/metrics", promhttp.HandlerFor(e.prom.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// AdminAddr is the admin server's address, nil when it is off.
func (e *Executor) AdminAddr() net.Addr {
	if e.adminLis == nil {
		return nil
	}
	return e.adminLis.Addr()
}

func (e *Executor) listenAdmin() error {
	if e.cfg.AdminPort < 0 {
		return nil
	}
	host := e.cfg.AdminBindHost
	if host == "" {
		host = e.cfg.BindHost
	}
	lis, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(e.cfg.AdminPort)))
	if err != nil {
		return err
	}
	e.adminLis = lis
	e.admin = &http.Server{Handler: e.adminHandler(), ReadHeaderTimeout: 10 * time.Second}
	return nil
}

// serveAdmin runs the admin server until stopAdmin.
func (e *Executor) serveAdmin() error {
	if e.admin == nil {
		return nil
	}
	if err := e.admin.Serve(e.adminLis); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func (e *Executor) stopAdmin() {
	if e.admin != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		e.admin.Shutdown(ctx)
	}
}
