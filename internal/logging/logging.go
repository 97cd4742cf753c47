package logging

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"

	"github.com/kapot-go/kapot/internal/config"
)

// Options configures a logger.
type Options struct {
	// Dir is where log files go; empty means stdout.
	Dir string
	// Prefix names the log files: <prefix>.<period>[.<n>].
	Prefix string
	// Rotation is minutely, hourly, daily or never.
	Rotation string
	// Level is a zerolog level name (trace, debug, info, warn, error).
	Level string
	// Format is json (one JSON object per line) or console (human).
	Format string
	// MaxSize rotates the current file once it reaches this many bytes
	// (0: rotate by time only).
	MaxSize int64
	// MaxArchived is how many rotated files are kept (0: all).
	MaxArchived int
	// TotalSizeCap deletes the oldest rotated files while all of them
	// together (with the current file) exceed this many bytes (0: no cap).
	TotalSizeCap int64
	// TimeZone is an IANA zone name (UTC, Europe/Berlin) for timestamps and
	// for the rotation periods' boundaries; empty means the local zone.
	TimeZone string
	// ThreadInfo adds the process and OS thread ids to every line.
	ThreadInfo bool
	// Component is added to every line.
	Component string
}

// ParseRotation validates a rotation policy name.
func ParseRotation(s string) (time.Duration, string, error) {
	switch strings.ToLower(s) {
	case "minutely":
		return time.Minute, "2006-01-02-15-04", nil
	case "hourly":
		return time.Hour, "2006-01-02-15", nil
	case "daily":
		return 24 * time.Hour, "2006-01-02", nil
	case "never":
		return 0, "", nil
	}
	return 0, "", fmt.Errorf("log rotation %q: want minutely, hourly, daily or never", s)
}

// ParseLevel validates a level name.
func ParseLevel(s string) (zerolog.Level, error) {
	l, err := zerolog.ParseLevel(strings.ToLower(strings.TrimSpace(s)))
	if err != nil || s == "" {
		return 0, fmt.Errorf("log level %q: want trace, debug, info, warn or error", s)
	}
	return l, nil
}

// ParseFormat validates a format name.
func ParseFormat(s string) (string, error) {
	switch f := strings.ToLower(s); f {
	case "json", "console":
		return f, nil
	}
	return "", fmt.Errorf("log format %q: want json or console", s)
}

// ParseTimeZone loads a zone name ("" and "local" mean the local zone).
func ParseTimeZone(s string) (*time.Location, error) {
	if s == "" || strings.EqualFold(s, "local") {
		return time.Local, nil
	}
	loc, err := time.LoadLocation(s)
	if err != nil {
		return nil, fmt.Errorf("time zone %q: %v", s, err)
	}
	return loc, nil
}

// Validate checks every option; errors name the flag.
func (o Options) Validate() error {
	if _, err := ParseLevel(o.Level); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	if _, err := ParseFormat(o.Format); err != nil {
		return fmt.Errorf("--log-format: %w", err)
	}
	if _, _, err := ParseRotation(o.Rotation); err != nil {
		return fmt.Errorf("--log-rotation-policy: %w", err)
	}
	if _, err := ParseTimeZone(o.TimeZone); err != nil {
		return fmt.Errorf("--log-timezone: %w", err)
	}
	switch {
	case o.MaxSize < 0:
		return errors.New("--log-max-file-size: negative")
	case o.MaxArchived < 0:
		return errors.New("--log-archived-file-count: negative")
	case o.TotalSizeCap < 0:
		return errors.New("--log-total-size-cap: negative")
	}
	return nil
}

// Logs is a process's log output: its logger, and per-job files when it
// writes to a log dir.
type Logs struct {
	Logger zerolog.Logger
	out    io.Writer // formatted main output
	closer io.Closer
	format string
	loc    *time.Location
	jobDir string // <dir>/jobs, empty when logging to stdout
}

// New builds the logs of a process.
func New(o Options) (*Logs, error) {
	if o.Format == "" {
		o.Format = "json"
	}
	if o.Rotation == "" {
		o.Rotation = "never"
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	lvl, _ := ParseLevel(o.Level)
	loc, _ := ParseTimeZone(o.TimeZone)
	l := &Logs{format: strings.ToLower(o.Format), loc: loc, closer: io.NopCloser(nil)}
	var raw io.Writer = os.Stdout
	if o.Dir != "" {
		period, layout, _ := ParseRotation(o.Rotation)
		if err := os.MkdirAll(o.Dir, 0o755); err != nil {
			return nil, fmt.Errorf("log dir: %w", err)
		}
		prefix := o.Prefix
		if prefix == "" {
			prefix = "kapot.log"
		}
		rw := &RotatingWriter{dir: o.Dir, prefix: prefix, period: period, layout: layout, loc: loc, now: time.Now,
			maxSize: o.MaxSize, maxArchived: o.MaxArchived, totalCap: o.TotalSizeCap}
		raw, l.closer = rw, rw
		l.jobDir = filepath.Join(o.Dir, "jobs")
	}
	l.out = l.formatted(raw, o.Dir == "")
	ctx := zerolog.New(cappedWriter{l.out}).Level(lvl).With()
	if o.Component != "" {
		ctx = ctx.Str("component", o.Component)
	}
	logger := ctx.Logger().Hook(timestampHook{loc: loc})
	if o.ThreadInfo {
		logger = logger.Hook(threadHook{pid: os.Getpid()})
	}
	l.Logger = logger
	return l, nil
}

// formatted wraps w in the console writer when the format is console.
func (l *Logs) formatted(w io.Writer, color bool) io.Writer {
	if l.format != "console" {
		return w
	}
	return zerolog.ConsoleWriter{Out: w, NoColor: !color, TimeFormat: "2006-01-02T15:04:05.000Z07:00", TimeLocation: l.loc}
}

// Close closes the log file, if any.
func (l *Logs) Close() error { return l.closer.Close() }

// JobDir is the directory of a job's log files; empty when there are none.
func (l *Logs) JobDir(jobID string) string {
	if l == nil || l.jobDir == "" {
		return ""
	}
	return filepath.Join(l.jobDir, jobID)
}

// JobsDir is the parent of every job's log directory; empty when there are
// none.
func (l *Logs) JobsDir() string {
	if l == nil {
		return ""
	}
	return l.jobDir
}

// TaskLogger returns base writing also to <log-dir>/jobs/<job>/<stage>-
// <partition>.log (appending, so a retried task adds to its file), and the
// closer of that file. Without a log dir it returns base unchanged. Job and
// stage ids come from plans: the caller has validated them as path-safe.
func (l *Logs) TaskLogger(base zerolog.Logger, jobID string, stage, partition uint32) (zerolog.Logger, io.Closer, error) {
	dir := l.JobDir(jobID)
	if dir == "" {
		return base, io.NopCloser(nil), nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return base, io.NopCloser(nil), fmt.Errorf("job log dir: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(int(stage))+"-"+strconv.Itoa(int(partition))+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return base, io.NopCloser(nil), fmt.Errorf("job log file: %w", err)
	}
	return base.Output(io.MultiWriter(l.out, l.formatted(f, false))), f, nil
}

// timestampHook stamps every line in the configured zone.
type timestampHook struct{ loc *time.Location }

func (h timestampHook) Run(e *zerolog.Event, _ zerolog.Level, _ string) {
	e.Str(zerolog.TimestampFieldName, time.Now().In(h.loc).Format("2006-01-02T15:04:05.000Z07:00"))
}

type threadHook struct{ pid int }

func (h threadHook) Run(e *zerolog.Event, _ zerolog.Level, _ string) {
	e.Int("pid", h.pid).Int("tid", unix.Gettid())
}

// RotatingWriter writes to <dir>/<prefix>.<period start> (or <prefix> for
// never), opening a new file when the period changes or the file reaches
// maxSize; a file full before its period ends is renamed
// <prefix>.<period>.<n>. After each rotation the oldest rotated files are
// deleted beyond maxArchived and while everything exceeds totalCap.
type RotatingWriter struct {
	dir, prefix, layout string
	period              time.Duration
	loc                 *time.Location
	now                 func() time.Time
	maxSize             int64
	maxArchived         int
	totalCap            int64

	mu   sync.Mutex
	f    *os.File
	name string
	size int64
}

// periodStart truncates t to its period in the writer's zone (days start at
// local midnight).
func (r *RotatingWriter) periodStart(t time.Time) time.Time {
	t = t.In(r.loc)
	if r.period >= 24*time.Hour {
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, r.loc)
	}
	_, off := t.Zone()
	shift := time.Duration(off) * time.Second
	return t.Add(shift).Truncate(r.period).Add(-shift)
}

func (r *RotatingWriter) fileName() string {
	if r.period == 0 {
		return r.prefix
	}
	return r.prefix + "." + r.periodStart(r.now()).Format(r.layout)
}

// Write appends p to the current file.
func (r *RotatingWriter) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	name := r.fileName()
	rotated := false
	if r.f != nil && name != r.name {
		r.f.Close()
		r.f = nil
		rotated = true
	}
	if r.f != nil && r.maxSize > 0 && r.size > 0 && r.size+int64(len(p)) > r.maxSize {
		r.f.Close()
		r.f = nil
		if err := r.archive(name); err != nil {
			return 0, err
		}
		rotated = true
	}
	if r.f == nil {
		f, err := os.OpenFile(filepath.Join(r.dir, name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return 0, err
		}
		info, err := f.Stat()
		if err != nil {
			f.Close()
			return 0, err
		}
		r.f, r.name, r.size = f, name, info.Size()
		if rotated {
			r.prune()
		}
	}
	n, err := r.f.Write(p)
	r.size += int64(n)
	return n, err
}

// archive renames the full current file to <name>.<n>, n one past the
// highest number in use, so numbers grow with age even after pruning.
func (r *RotatingWriter) archive(name string) error {
	next := 1
	if entries, err := os.ReadDir(r.dir); err == nil {
		for _, e := range entries {
			if n, err := strconv.Atoi(strings.TrimPrefix(e.Name(), name+".")); err == nil && strings.HasPrefix(e.Name(), name+".") && n >= next {
				next = n + 1
			}
		}
	}
	return os.Rename(filepath.Join(r.dir, name), filepath.Join(r.dir, name+"."+strconv.Itoa(next)))
}

// prune deletes the oldest rotated files beyond the count and size caps.
func (r *RotatingWriter) prune() {
	if r.maxArchived == 0 && r.totalCap == 0 {
		return
	}
	entries, err := os.ReadDir(r.dir)
	if err != nil {
		return
	}
	type file struct {
		name string
		size int64
		mod  time.Time
	}
	var old []file
	total := r.size
	for _, e := range entries {
		if !e.Type().IsRegular() || e.Name() == r.name || !strings.HasPrefix(e.Name(), r.prefix) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		old = append(old, file{e.Name(), info.Size(), info.ModTime()})
		total += info.Size()
	}
	sort.Slice(old, func(i, j int) bool {
		if !old[i].mod.Equal(old[j].mod) {
			return old[i].mod.Before(old[j].mod)
		}
		return old[i].name < old[j].name
	})
	for len(old) > 0 && ((r.maxArchived > 0 && len(old) > r.maxArchived) || (r.totalCap > 0 && total > r.totalCap)) {
		if os.Remove(filepath.Join(r.dir, old[0].name)) == nil {
			total -= old[0].size
		}
		old = old[1:]
	}
}

// Close closes the current file.
func (r *RotatingWriter) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f = nil
	return err
}

// AddFlags registers the logging flags (the seed's names plus format,
// size rotation, caps and time zone) on fs, with o's values as defaults.
func AddFlags(fs *pflag.FlagSet, o *Options) {
	fs.StringVar(&o.Dir, "log-dir", o.Dir, "directory for log files, and per-job task logs under <log-dir>/jobs (default: stdout)")
	fs.StringVar(&o.Level, "log-level", o.Level, "log level filter: trace, debug, info, warn or error")
	fs.StringVar(&o.Format, "log-format", o.Format, "json (one object per line) or console (human)")
	fs.BoolVar(&o.ThreadInfo, "print-thread-info", o.ThreadInfo, "add process and thread ids to log lines")
	fs.StringVar(&o.Prefix, "log-file-name-prefix", o.Prefix, "log file name prefix")
	fs.StringVar(&o.Rotation, "log-rotation-policy", o.Rotation, "start a new log file every period: minutely, hourly, daily or never")
	fs.Var((*config.ByteSize)(&o.MaxSize), "log-max-file-size", "also rotate a log file once it reaches this size (e.g. 100MiB; 0: by time only)")
	fs.IntVar(&o.MaxArchived, "log-archived-file-count", o.MaxArchived, "rotated log files to keep (0: all)")
	fs.Var((*config.ByteSize)(&o.TotalSizeCap), "log-total-size-cap", "delete the oldest rotated log files while all log files exceed this size (0: no cap)")
	fs.StringVar(&o.TimeZone, "log-timezone", o.TimeZone, "time zone of log timestamps and rotation periods (IANA name such as UTC or Asia/Kolkata; default: local)")
}
