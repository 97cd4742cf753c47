package security

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestLoadSecretFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, v string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(v), 0o600)
		return p
	}
	c := Config{SecretFiles: Secrets{Scheduler: write("s", "sched\n"), Executor: write("e", "exec\r\n"), Client: write("c", "cli")}}
	if err := c.LoadSecretFiles(); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.Secrets, Secrets{Scheduler: "sched", Executor: "exec", Client: "cli"}) || !reflect.DeepEqual(c.SecretFiles, Secrets{}) {
		t.Fatalf("loaded %+v, files left %+v", c.Secrets, c.SecretFiles)
	}
	if err := c.LoadSecretFiles(); err != nil {
		t.Fatalf("second load: %v", err)
	}
	for name, tc := range map[string]struct {
		c    Config
		want string
	}{
		"both":    {Config{Secrets: Secrets{Executor: "x"}, SecretFiles: Secrets{Executor: write("e2", "y")}}, "--executor-secret and --executor-secret-file"},
		"empty":   {Config{SecretFiles: Secrets{Client: write("empty", "\n")}}, "empty"},
		"missing": {Config{SecretFiles: Secrets{Scheduler: filepath.Join(dir, "nope")}}, "no such file"},
		"huge":    {Config{SecretFiles: Secrets{Scheduler: write("huge", strings.Repeat("x", maxSecretFile+1))}}, "larger than"},
	} {
		if err := tc.c.LoadSecretFiles(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", name, err, tc.want)
		}
	}
}
