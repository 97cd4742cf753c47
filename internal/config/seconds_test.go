package config

import (
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// TestDurationVar: a duration flag takes seconds or a duration and shows
// seconds (what --print-config writes and --config reads back).
func TestDurationVar(t *testing.T) {
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	var d time.Duration
	DurationVar(fs, &d, "wait-seconds", 5*time.Second, "wait")
	if d != 5*time.Second || fs.Lookup("wait-seconds").Value.String() != "5" {
		t.Fatalf("default %v %q", d, fs.Lookup("wait-seconds").Value.String())
	}
	for in, want := range map[string]time.Duration{"30": 30 * time.Second, "0.5": 500 * time.Millisecond, "5m": 5 * time.Minute, "7d": 7 * 24 * time.Hour} {
		if err := fs.Set("wait-seconds", in); err != nil || d != want {
			t.Errorf("%s: %v %v, want %v", in, d, err, want)
		}
	}
	if err := fs.Set("wait-seconds", "-1"); err == nil {
		t.Error("a negative duration was taken")
	}
}
