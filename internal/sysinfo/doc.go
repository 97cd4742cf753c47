// Package sysinfo reads what the machine (or the process's cgroup) offers:
// memory today, CPU topology later.
package sysinfo
