// Package logging builds the zerolog loggers of kapot processes: console
// (human) or JSON lines, to stdout or to files under a log dir rotated by
// time (minutely, hourly, daily, never) and by size, with a cap on archived
// files and their total size, timestamps in a chosen time zone, and
// per-job log files that segregate each task's lines.
package logging
