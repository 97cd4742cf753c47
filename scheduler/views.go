package scheduler

import (
	"embed"
	"encoding/json"
	"io/fs"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/kapot-go/kapot/internal/admin"
	"github.com/kapot-go/kapot/scheduler/cluster"
)

// ExecutorView is an executor as the web UI and /api/executors show it.
type ExecutorView struct {
	ID         string `json:"id"`
	Host       string `json:"host"`
	FlightPort uint32 `json:"flight_port"`
	GRPCPort   uint32 `json:"grpc_port"`
	State      string `json:"state"`
	// Suspect is set while the scheduler probes the executor (its link
	// broke, a fetch from it failed): it gets no new tasks meanwhile.
	Suspect bool `json:"suspect,omitempty"`
	// Linked tells whether the executor's link to the scheduler is open.
	Linked              bool      `json:"linked"`
	Slots               int       `json:"slots"`
	SlotsUsed           int       `json:"slots_used"`
	MemoryPoolBytes     uint64    `json:"memory_pool_bytes"`
	MemoryPoolUsedBytes uint64    `json:"memory_pool_used_bytes"`
	LastHeartbeat       time.Time `json:"last_heartbeat"`
	Tags                []string  `json:"tags"`
	Version             string    `json:"version"`
}

// OperatorView is one operator of a stage with its metrics summed over the
// stage's finished tasks.
type OperatorView struct {
	NodeID       uint32           `json:"node_id"`
	ParentID     *uint32          `json:"parent_id,omitempty"`
	Name         string           `json:"name"`
	OutputRows   int64            `json:"output_rows"`
	Batches      int64            `json:"output_batches"`
	ComputeNanos int64            `json:"elapsed_compute_ns"`
	SpilledBytes int64            `json:"spilled_bytes"`
	Counters     map[string]int64 `json:"counters,omitempty"`
}

// StageView is one stage of a job.
type StageView struct {
	ID           uint32   `json:"id"`
	State        string   `json:"state"`
	Attempt      uint32   `json:"attempt"`
	Partitions   int      `json:"partitions"`
	Completed    int      `json:"completed"`
	Running      int      `json:"running"`
	Inputs       []uint32 `json:"inputs"`
	OutputRows   int64    `json:"output_rows"`
	ShuffleBytes int64    `json:"shuffle_bytes"`
	// FailedAttempts counts the stage's task launches that failed (a
	// retried failure counts once per launch; a lost executor's or a
	// killed task does not): 1 for a job that failed at once.
	FailedAttempts int            `json:"failed_attempts"`
	Operators      []OperatorView `json:"operators,omitempty"`
}

// JobView is a job as /api/jobs (without operators) and /api/jobs/{id}
// show it.
type JobView struct {
	ID         string      `json:"id"`
	Name       string      `json:"name"`
	State      string      `json:"state"`
	Error      string      `json:"error,omitempty"`
	Queued     time.Time   `json:"queued"`
	Started    time.Time   `json:"started"`
	Ended      *time.Time  `json:"ended,omitempty"`
	DurationMs int64       `json:"duration_ms"`
	Stages     []StageView `json:"stages"`
	// Past marks a job that finished before the scheduler last started
	// (from its state store): its summary is all there is.
	Past bool `json:"past,omitempty"`
}

func stateName(s interface{ String() string }, prefix string) string {
	return strings.TrimPrefix(s.String(), prefix)
}

// Executors lists the registered executors, by id.
func (s *Scheduler) Executors() []ExecutorView {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ExecutorView, 0, s.cl.NumExecutors())
	for _, e := range s.cl.Executors() {
		r := e.Reg
		pool := e.Metrics.GetMemoryPoolBytes()
		if pool == 0 { // no heartbeat yet: the size it registered with
			pool = r.GetResources().GetMemoryBytes()
		}
		out = append(out, ExecutorView{ID: r.GetId(), Host: r.GetHost(), FlightPort: r.GetFlightPort(), GRPCPort: r.GetGrpcPort(),
			State: stateName(e.State, "EXECUTOR_STATE_"), Suspect: e.Suspect, Linked: e.Linked, Slots: int(r.GetResources().GetTaskSlots()), SlotsUsed: len(e.Running),
			MemoryPoolBytes: pool, MemoryPoolUsedBytes: e.Metrics.GetMemoryPoolUsedBytes(),
			LastHeartbeat: e.LastSeen.UTC(), Tags: r.GetTags(), Version: r.GetVersion()})
	}
	slices.SortFunc(out, func(a, b ExecutorView) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Jobs lists the jobs the scheduler holds, newest first, without operator
// metrics.
func (s *Scheduler) Jobs() []JobView {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]JobView, 0, s.cl.NumJobs()+len(s.past))
	for j := range s.cl.Jobs() {
		out = append(out, s.jobView(j, false))
	}
	slices.Reverse(out) // newest first
	for _, v := range s.past {
		if _, live := s.cl.Job(v.ID); !live { // a job recovered after a restart is listed once
			out = append(out, v)
		}
	}
	return out
}

// Job returns one job with its stages' operator metrics.
func (s *Scheduler) Job(id string) (JobView, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.cl.Job(id)
	if !ok {
		for _, v := range s.past {
			if v.ID == id {
				return v, true
			}
		}
		return JobView{}, false
	}
	return s.jobView(j, true), true
}

// jobView renders j. Called with mu held.
func (s *Scheduler) jobView(j *cluster.Job, operators bool) JobView {
	v := JobView{ID: j.ID, Name: j.Name, State: stateName(j.State, "JOB_STATE_"), Error: j.Err, Queued: j.Queued.UTC(), Started: j.Start.UTC()}
	end := time.Now()
	if !j.End.IsZero() {
		e := j.End.UTC()
		v.Ended, end = &e, j.End
	}
	v.DurationMs = end.Sub(j.Start).Milliseconds()
	for _, sid := range j.Order {
		st := j.Stages[sid]
		done, running := st.Counts()
		sv := StageView{ID: sid, State: j.StageState(st), Attempt: st.Attempt, Partitions: len(st.Tasks), Completed: done, Running: running, Inputs: slices.Clone(st.Inputs)}
		for _, t := range st.Tasks {
			sv.FailedAttempts += t.Attempts
			if t.Phase != cluster.TaskDone {
				continue
			}
			for _, o := range t.Outputs {
				sv.OutputRows += o.GetStats().GetNumRows()
				sv.ShuffleBytes += o.GetStats().GetNumBytes()
			}
		}
		if operators {
			for _, m := range st.Metrics() {
				sv.Operators = append(sv.Operators, OperatorView{NodeID: m.GetNodeId(), ParentID: m.ParentId, Name: m.GetName(), OutputRows: m.GetOutputRows(),
					Batches: m.GetOutputBatches(), ComputeNanos: m.GetElapsedComputeNs(), SpilledBytes: m.GetSpilledBytes(), Counters: m.GetCounters()})
			}
		}
		v.Stages = append(v.Stages, sv)
	}
	if v.Stages == nil {
		v.Stages = []StageView{}
	}
	return v
}

//go:embed ui
var uiFiles embed.FS

// routeUI serves the read-only web UI at /ui/ and its JSON API at /api/.
func (s *Scheduler) routeUI(srv *admin.Server) {
	sub, err := fs.Sub(uiFiles, "ui")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	srv.Handle("/ui/", http.StripPrefix("/ui/", http.FileServer(http.FS(sub))))
	srv.Handle("/{$}", http.RedirectHandler("/ui/", http.StatusFound))
	srv.Handle("GET /api/executors", jsonHandler(func(*http.Request) (any, int) { return s.Executors(), http.StatusOK }))
	srv.Handle("GET /api/jobs", jsonHandler(func(*http.Request) (any, int) { return s.Jobs(), http.StatusOK }))
	srv.Handle("GET /api/jobs/{id}", jsonHandler(func(r *http.Request) (any, int) {
		if j, ok := s.Job(r.PathValue("id")); ok {
			return j, http.StatusOK
		}
		return map[string]string{"error": "no job " + r.PathValue("id")}, http.StatusNotFound
	}))
}

func jsonHandler(f func(*http.Request) (any, int)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, code := f(r)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(v)
	})
}
