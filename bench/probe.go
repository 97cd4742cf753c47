package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/kapot-go/kapot/scheduler"
)

// procRSS reads a process's peak and current resident set (VmHWM, VmRSS).
func procRSS(pid int) (peak, cur int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		var dst *int64
		switch {
		case strings.HasPrefix(line, "VmHWM:"):
			dst = &peak
		case strings.HasPrefix(line, "VmRSS:"):
			dst = &cur
		default:
			continue
		}
		fields := strings.Fields(line)
		if len(fields) >= 2 {
			kb, _ := strconv.ParseInt(fields[1], 10, 64)
			*dst = kb << 10
		}
	}
	return peak, cur
}

// shuffleBytes sums what every stage of a job wrote (from the scheduler's
// JSON API); 0 when it cannot be read.
func shuffleBytes(admin, jobID string) int64 {
	resp, err := http.Get(admin + "/api/jobs/" + jobID)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	var j scheduler.JobView
	if err := json.NewDecoder(resp.Body).Decode(&j); err != nil {
		return 0
	}
	var n int64
	for _, st := range j.Stages {
		n += st.ShuffleBytes
	}
	return n
}

// metricValue reads one sample of the scheduler's /metrics (0 when absent).
func metricValue(admin, sample string) float64 {
	resp, err := http.Get(admin + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, sample+" "); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f
		}
	}
	return 0
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
