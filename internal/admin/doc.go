// Package admin is the HTTP admin port of kapot processes: /healthz (the
// process is alive), /readyz (it can take work), /metrics (Prometheus text
// from the process's own registry) and /debug/pprof/.
package admin
