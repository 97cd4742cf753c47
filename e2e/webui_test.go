package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/scheduler"
)

// chromium finds a headless-capable Chromium (installed by .ci/run from
// Debian's chromium package). Under CI a missing browser fails the test.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no chromium on PATH: .ci/run installs it (apt-get install chromium)")
	}
	t.Skip("no chromium on PATH (apt-get install chromium)")
	return ""
}

// browser runs headless Chromium on url and returns the DOM after the
// page's scripts ran (virtual time lets its fetches and timers proceed).
func browser(t *testing.T, bin, url string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--no-first-run", "--user-data-dir=" + t.TempDir(), "--virtual-time-budget=5000", "--dump-dom"}, append(args, url)...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium %s: %v\n%s", url, err, tail(stderr.String(), 2000))
	}
	return string(out)
}

// screenshotOnFailure saves what the browser shows at url when the test
// fails, under $KAPOT_TEST_ARTIFACTS (default: <tmp>/kapot-test-artifacts).
func screenshotOnFailure(t *testing.T, bin string, url *string, name string) {
	t.Cleanup(func() {
		if !t.Failed() || *url == "" {
			return
		}
		dir := os.Getenv("KAPOT_TEST_ARTIFACTS")
		if dir == "" {
			dir = filepath.Join(os.TempDir(), "kapot-test-artifacts")
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Logf("no screenshot: %v", err)
			return
		}
		path := filepath.Join(dir, name+".png")
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
			"--user-data-dir="+t.TempDir(), "--virtual-time-budget=5000", "--window-size=1400,1000", "--screenshot="+path, *url)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Logf("screenshot failed: %v\n%s", err, tail(string(out), 1000))
			return
		}
		t.Logf("screenshot of %s saved to %s", *url, path)
	})
}

// TestWebUI starts a cluster, runs a job, and checks what a real browser
// shows: a row per executor with its slots and status, the finished job
// with its stages, and the job page's stage graph and operator metrics.
// The JSON API behind the page is checked too.
func TestWebUI(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test: skipped with -short")
	}
	bin := chromium(t)
	s := startScheduler(t, 0, func(c *scheduler.Config) { c.AdminPort, c.AdminBindHost = 0, "127.0.0.1" })
	e1 := startExecutor(t, s.addr, "push-staged", nil)
	e2 := startExecutor(t, s.addr, "pull-staged", nil)
	waitFor(t, func() bool { return len(s.Executors()) == 2 })
	if got := runJob(t, s.addr, groupByPlan(t)); !slices.Equal(got, expectedGroupBy) {
		t.Fatalf("job: %q", got)
	}
	jobs := s.Jobs()
	if len(jobs) != 1 || jobs[0].State != "SUCCESSFUL" {
		t.Fatalf("jobs: %+v", jobs)
	}
	job := jobs[0]
	base := "http://" + s.AdminAddr().String()
	var shown string
	screenshotOnFailure(t, bin, &shown, "webui-"+strings.ReplaceAll(t.Name(), "/", "-"))

	// The JSON API.
	var apiExecs []scheduler.ExecutorView
	getJSON(t, base+"/api/executors", &apiExecs)
	if len(apiExecs) != 2 || apiExecs[0].Slots != 1 || apiExecs[0].State != "ACTIVE" || apiExecs[0].MemoryPoolBytes == 0 {
		t.Fatalf("/api/executors: %+v", apiExecs)
	}
	var detail scheduler.JobView
	getJSON(t, base+"/api/jobs/"+job.ID, &detail)
	if len(detail.Stages) != 2 || detail.Stages[1].Inputs[0] != detail.Stages[0].ID || len(detail.Stages[0].Operators) == 0 {
		t.Fatalf("/api/jobs/%s: %+v", job.ID, detail)
	}
	if detail.Stages[0].OutputRows == 0 || detail.Stages[0].ShuffleBytes == 0 {
		t.Fatalf("stage 1 shows no rows or shuffle bytes: %+v", detail.Stages[0])
	}
	if code, _, _ := httpGet(base + "/api/jobs/nope"); code != 404 {
		t.Fatalf("/api/jobs/nope: %d, want 404", code)
	}

	// The overview page in a browser.
	shown = base + "/ui/"
	dom := browser(t, bin, shown)
	for _, id := range []string{e1.ID(), e2.ID()} {
		row := between(dom, `data-executor="`+id+`"`, "</tr>")
		if row == "" {
			t.Fatalf("no row for executor %s in:\n%s", id, tail(dom, 3000))
		}
		for _, want := range []string{"ACTIVE", "0 / 1", "127.0.0.1:"} {
			if !strings.Contains(row, want) {
				t.Errorf("executor %s row lacks %q: %s", id, want, row)
			}
		}
	}
	jobRow := between(dom, `data-job="`+job.ID+`"`, "</tr>")
	for _, want := range []string{"SUCCESSFUL", "2 / 2", job.Name} {
		if !strings.Contains(jobRow, want) {
			t.Errorf("job row lacks %q: %s", want, jobRow)
		}
	}

	// A failed job shows its error in the list.
	bad := filepath.Join(t.TempDir(), "bad.csv")
	if err := os.WriteFile(bad, []byte("region,product,qty,price\neast,p1,notanumber,1.5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	req := groupByPlan(t)
	req.JobName = "bad input"
	req.Plan.GetHashAggregate().GetInput().GetExchange().GetInput().GetHashAggregate().GetInput().GetCsvScan().FileGroups = []*kapotv1.FileGroup{{Paths: []string{bad}}}
	if _, err := runJobErr(s.addr, req); err == nil {
		t.Fatal("a job over a malformed CSV succeeded")
	}
	var failed scheduler.JobView
	for _, j := range s.Jobs() {
		if j.Name == "bad input" {
			failed = j
		}
	}
	if failed.State != "FAILED" || failed.Error == "" {
		t.Fatalf("failed job: %+v", failed)
	}
	shown = base + "/ui/"
	dom = browser(t, bin, shown)
	row := between(dom, `data-job="`+failed.ID+`"`, "</tr>")
	if !strings.Contains(row, "FAILED") || !strings.Contains(row, `class="error">`+htmlText(failed.Error[:min(40, len(failed.Error))])) {
		t.Errorf("failed job row lacks its state or error %q: %s", failed.Error, row)
	}

	// The job page: the stage graph and each stage's operators.
	shown = base + "/ui/#job=" + job.ID
	dom = browser(t, bin, shown)
	if !strings.Contains(dom, `id="job-id">`+job.ID) || !strings.Contains(dom, "SUCCESSFUL") {
		t.Fatalf("job page lacks the job:\n%s", tail(dom, 3000))
	}
	for _, st := range detail.Stages {
		if !strings.Contains(dom, fmt.Sprintf(`<g data-stage="%d"`, st.ID)) {
			t.Errorf("stage graph lacks stage %d", st.ID)
		}
		box := between(dom, fmt.Sprintf(`<div class="stage" data-stage="%d"`, st.ID), "</table>")
		if !strings.Contains(box, "completed") || !strings.Contains(box, fmt.Sprintf("%d rows", st.OutputRows)) {
			t.Errorf("stage %d box: %s", st.ID, box)
		}
		for _, op := range st.Operators {
			name := op.Name
			if i := strings.IndexAny(name, "(:["); i > 0 {
				name = name[:i]
			}
			if !strings.Contains(box, strings.TrimSpace(name)) {
				t.Errorf("stage %d lacks operator %q", st.ID, op.Name)
			}
		}
	}
	if strings.Count(dom, "<line ") < 1 {
		t.Error("stage graph has no edge")
	}
}

// htmlText escapes s as a serialized DOM text node shows it.
func htmlText(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "\u00a0", "&nbsp;").Replace(s)
}

func between(s, start, end string) string {
	i := strings.Index(s, start)
	if i < 0 {
		return ""
	}
	rest := s[i:]
	if j := strings.Index(rest, end); j >= 0 {
		return rest[:j]
	}
	return rest
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	code, body, err := httpGet(url)
	if err != nil || code != 200 {
		t.Fatalf("GET %s: %d %v", url, code, err)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("GET %s: %v\n%s", url, err, body)
	}
}

// waitFor polls cond for up to 30 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 30s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
