// Package logging builds zerolog loggers writing to stdout or to a log dir
// with time-based rotation (minutely, hourly, daily, never).
package logging

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"
)

// Options configures a logger.
type Options struct {
	// Dir is where log files go; empty means stdout.
	Dir string
	// Prefix names the log files: <prefix>.<period>.
	Prefix string
	// Rotation is minutely, hourly, daily or never.
	Rotation string
	// Level is a zerolog level name (trace, debug, info, warn, error).
	Level string
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

// New builds a logger; the closer closes its file, if any.
func New(o Options) (zerolog.Logger, io.Closer, error) {
	lvl, err := ParseLevel(o.Level)
	if err != nil {
		return zerolog.Nop(), nil, err
	}
	var w io.Writer = os.Stdout
	var closer io.Closer = io.NopCloser(nil)
	if o.Dir != "" {
		period, layout, err := ParseRotation(o.Rotation)
		if err != nil {
			return zerolog.Nop(), nil, err
		}
		if err := os.MkdirAll(o.Dir, 0o755); err != nil {
			return zerolog.Nop(), nil, fmt.Errorf("log dir: %w", err)
		}
		prefix := o.Prefix
		if prefix == "" {
			prefix = "kapot.log"
		}
		rw := &RotatingWriter{dir: o.Dir, prefix: prefix, period: period, layout: layout, now: time.Now}
		w, closer = rw, rw
	}
	ctx := zerolog.New(w).Level(lvl).With().Timestamp()
	if o.Component != "" {
		ctx = ctx.Str("component", o.Component)
	}
	l := ctx.Logger()
	if o.ThreadInfo {
		l = l.Hook(threadHook{pid: os.Getpid()})
	}
	return l, closer, nil
}

type threadHook struct{ pid int }

func (h threadHook) Run(e *zerolog.Event, _ zerolog.Level, _ string) {
	e.Int("pid", h.pid).Int("tid", unix.Gettid())
}

// RotatingWriter writes to <dir>/<prefix>.<period start>, opening a new file
// when the period changes (or one file, <prefix>, for never).
type RotatingWriter struct {
	dir, prefix, layout string
	period              time.Duration
	now                 func() time.Time
	mu                  sync.Mutex
	f                   *os.File
	name                string
}

func (r *RotatingWriter) fileName() string {
	if r.period == 0 {
		return r.prefix
	}
	return r.prefix + "." + r.now().UTC().Truncate(r.period).Format(r.layout)
}

// Write appends p to the current period's file.
func (r *RotatingWriter) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	name := r.fileName()
	if r.f == nil || name != r.name {
		if r.f != nil {
			r.f.Close()
		}
		f, err := os.OpenFile(filepath.Join(r.dir, name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return 0, err
		}
		r.f, r.name = f, name
	}
	return r.f.Write(p)
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
