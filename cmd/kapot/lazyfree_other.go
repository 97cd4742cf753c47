//go:build !linux

package main

// reexecLazyFree is a Linux-only tuning (see lazyfree_linux.go).
func reexecLazyFree() {}
