package logging

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func files(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		if e.Type().IsRegular() {
			out = append(out, e.Name())
		}
	}
	return out
}

func TestSizeRotationAndCaps(t *testing.T) {
	dir := t.TempDir()
	clock := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	w := &RotatingWriter{dir: dir, prefix: "x.log", period: 24 * time.Hour, layout: "2006-01-02", loc: time.UTC,
		now: func() time.Time { return clock }, maxSize: 100, maxArchived: 2}
	defer w.Close()
	line := []byte(strings.Repeat("a", 39) + "\n") // 40 bytes: two lines per file
	for i := 0; i < 9; i++ {
		if _, err := w.Write(line); err != nil {
			t.Fatal(err)
		}
		// Distinct modification times order the archive.
		clock = clock.Add(time.Second)
		os.Chtimes(filepath.Join(dir, w.name), clock, clock)
	}
	// 9 lines, 2 per file: files .1 .2 .3 .4 archived and the current one;
	// only the newest 2 archived survive.
	if got, want := files(t, dir), []string{"x.log.2026-11-23", "x.log.2026-11-23.3", "x.log.2026-11-23.4"}; !slices.Equal(got, want) {
		t.Fatalf("files %v, want %v", got, want)
	}
	// A new day starts a new file; the total cap then drops old files
	// until everything fits in 100 bytes.
	w.totalCap, w.maxArchived = 100, 0
	clock = clock.Add(24 * time.Hour)
	w.Write(line)
	if got, want := files(t, dir), []string{"x.log.2026-11-23", "x.log.2026-11-24"}; !slices.Equal(got, want) {
		t.Fatalf("files %v, want %v", got, want)
	}
}

func TestPeriodsFollowTheTimeZone(t *testing.T) {
	kolkata, err := ParseTimeZone("Asia/Kolkata")
	if err != nil {
		t.Skipf("no tz database: %v", err)
	}
	// 20:00 UTC is 01:30 the next day in Kolkata (+05:30).
	at := time.Date(2026, 11, 23, 20, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		loc    *time.Location
		period time.Duration
		layout string
		want   string
	}{
		{time.UTC, 24 * time.Hour, "2006-01-02", "x.2026-11-23"},
		{kolkata, 24 * time.Hour, "2006-01-02", "x.2026-11-24"},
		{kolkata, time.Hour, "2006-01-02-15", "x.2026-11-24-01"},
		{kolkata, time.Minute, "2006-01-02-15-04", "x.2026-11-24-01-30"},
	} {
		w := &RotatingWriter{prefix: "x", period: tc.period, layout: tc.layout, loc: tc.loc, now: func() time.Time { return at }}
		if got := w.fileName(); got != tc.want {
			t.Errorf("%s %v: %s, want %s", tc.loc, tc.period, got, tc.want)
		}
	}
}

func TestFormatsAndJobLogs(t *testing.T) {
	dir := t.TempDir()
	logs, err := New(Options{Dir: dir, Prefix: "executor.log", Rotation: "never", Level: "info", Format: "json", TimeZone: "UTC", Component: "executor"})
	if err != nil {
		t.Fatal(err)
	}
	logs.Logger.Info().Msg("process line")
	task, closer, err := logs.TaskLogger(logs.Logger.With().Str("job", "j1").Logger(), "j1", 2, 5)
	if err != nil {
		t.Fatal(err)
	}
	task.Info().Msg("task line")
	task.Debug().Msg("below the level")
	closer.Close()
	logs.Close()
	main, _ := os.ReadFile(filepath.Join(dir, "executor.log"))
	job, _ := os.ReadFile(filepath.Join(dir, "jobs", "j1", "2-5.log"))
	if n := strings.Count(string(main), "\n"); n != 2 || !strings.Contains(string(main), "task line") {
		t.Fatalf("main log:\n%s", main)
	}
	if strings.Contains(string(job), "process line") || strings.Count(string(job), "\n") != 1 {
		t.Fatalf("job log:\n%s", job)
	}
	var rec map[string]any
	if err := json.Unmarshal(job, &rec); err != nil {
		t.Fatal(err)
	}
	ts, _ := rec["time"].(string)
	if rec["job"] != "j1" || rec["component"] != "executor" || !strings.HasSuffix(ts, "Z") {
		t.Fatalf("record %v", rec)
	}
	if logs.JobDir("j1") != filepath.Join(dir, "jobs", "j1") {
		t.Fatal(logs.JobDir("j1"))
	}

	// Console output is human: level and message, no JSON braces.
	cdir := t.TempDir()
	clogs, err := New(Options{Dir: cdir, Prefix: "s.log", Rotation: "never", Level: "info", Format: "console", TimeZone: "Asia/Kolkata"})
	if err != nil {
		t.Skipf("no tz database: %v", err)
	}
	clogs.Logger.Warn().Str("k", "v").Msg("hello")
	clogs.Close()
	b, _ := os.ReadFile(filepath.Join(cdir, "s.log"))
	if s := string(b); !strings.Contains(s, "WRN hello k=v") || !strings.Contains(s, "+05:30") || strings.Contains(s, "{") {
		t.Fatalf("console line %q", s)
	}

	// Without a log dir there are no job logs.
	stdout, err := New(Options{Level: "info"})
	if err != nil {
		t.Fatal(err)
	}
	if l, c, err := stdout.TaskLogger(stdout.Logger, "j", 1, 1); err != nil || c == nil || stdout.JobDir("j") != "" {
		t.Fatalf("%v %v %v", l, c, err)
	}
}

func TestValidate(t *testing.T) {
	ok := Options{Level: "info", Format: "json", Rotation: "daily"}
	for _, tc := range []struct {
		mod  func(*Options)
		want string
	}{
		{func(o *Options) { o.Level = "loud" }, "--log-level"},
		{func(o *Options) { o.Format = "xml" }, "--log-format"},
		{func(o *Options) { o.Rotation = "weekly" }, "--log-rotation-policy"},
		{func(o *Options) { o.TimeZone = "Mars/Olympus" }, "--log-timezone"},
		{func(o *Options) { o.MaxSize = -1 }, "--log-max-file-size"},
		{func(o *Options) { o.MaxArchived = -1 }, "--log-archived-file-count"},
		{func(o *Options) { o.TotalSizeCap = -1 }, "--log-total-size-cap"},
	} {
		o := ok
		tc.mod(&o)
		if err := o.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want %q", err, tc.want)
		}
	}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
}
