package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func flags() (*pflag.FlagSet, *string, *int, *ByteSize) {
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	host := fs.String("bind-host", "0.0.0.0", "")
	port := fs.Int("grpc-port", 50052, "")
	var size ByteSize = 16 << 20
	fs.Var(&size, "max-size", "")
	return fs, host, port, &size
}

func TestPrecedence(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.yaml")
	os.WriteFile(cfg, []byte("bind-host: from-file\ngrpc-port: 7\nmax-size: 2MiB\n"), 0o644)
	t.Setenv("KAPOT_X_GRPC_PORT", "8")
	fs, host, port, size := flags()
	if err := fs.Parse([]string{"--max-size", "1k"}); err != nil {
		t.Fatal(err)
	}
	if err := Apply(fs, "KAPOT_X", cfg); err != nil {
		t.Fatal(err)
	}
	if *host != "from-file" || *port != 8 || *size != 1024 {
		t.Fatalf("host=%s port=%d size=%d", *host, *port, *size)
	}
}

func TestErrorsNameTheFlag(t *testing.T) {
	t.Setenv("KAPOT_X_GRPC_PORT", "many")
	fs, _, _, _ := flags()
	fs.Parse(nil)
	err := Apply(fs, "KAPOT_X", "")
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "--grpc-port") || !strings.Contains(err.Error(), "KAPOT_X_GRPC_PORT") {
		t.Fatalf("got %v", err)
	}
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(cfg, []byte("bind-hots: typo\n"), 0o644)
	fs, _, _, _ = flags()
	if err := Apply(fs, "KAPOT_Y", cfg); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "bind-hots") {
		t.Fatalf("unknown key: %v", err)
	}
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]ByteSize{"0": 0, "512": 512, "1k": 1024, "16m": 16 << 20, "100MiB": 100 << 20, "2GB": 2 << 30} {
		got, err := ParseByteSize(in)
		if err != nil || got != want {
			t.Errorf("%q: %d %v, want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "-1", "1x", "mb", "99999999999999999999"} {
		if _, err := ParseByteSize(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestSectionsAndEnv(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "cluster.yaml")
	os.WriteFile(cfg, []byte(`
common:
  bind-host: ${KAPOT_TEST_HOST}
  max-size: ${KAPOT_TEST_UNSET:-1MiB}
executor:
  grpc-port: 9
scheduler:
  grpc-port: 10
  not-an-executor-flag: ignored by the executor
`), 0o644)
	t.Setenv("KAPOT_TEST_HOST", "h$st")
	fs, host, port, size := flags()
	fs.Parse(nil)
	if err := Apply(fs, "KAPOT_EXECUTOR", cfg); err != nil {
		t.Fatal(err)
	}
	if *host != "h$st" || *port != 9 || *size != 1<<20 {
		t.Fatalf("host=%s port=%d size=%d", *host, *port, *size)
	}
	for _, tc := range []struct{ name, yaml, want string }{
		{"unset variable", "bind-host: ${KAPOT_TEST_UNSET}\n", "KAPOT_TEST_UNSET is not set"},
		{"unterminated", "bind-host: ${KAPOT_TEST_HOST\n", "unterminated"},
		{"keys beside sections", "executor:\n  grpc-port: 1\nbind-host: x\n", "keys bind-host outside the sections"},
		{"unknown key in common", "common:\n  bind-hots: x\n", "unknown keys bind-hots"},
		{"section not a map", "executor: 5\n", "section executor is not a map"},
		{"map value", "bind-host:\n  a: b\n", "want a value, not a map"},
		{"not yaml", "bind-host: [\n", "parse config"},
		{"bad size", "max-size: 5 parsecs\n", "--max-size"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "c.yaml")
			os.WriteFile(p, []byte(tc.yaml), 0o644)
			fs, _, _, _ := flags()
			fs.Parse(nil)
			err := Apply(fs, "KAPOT_EXECUTOR", p)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	if err := Apply(fs, "KAPOT_EXECUTOR", filepath.Join(t.TempDir(), "missing.yaml")); !errors.Is(err, ErrInvalid) {
		t.Fatalf("missing file: %v", err)
	}
}

func TestSeconds(t *testing.T) {
	for in, want := range map[string]float64{"30": 30, "0.5": 0.5, "90s": 90, "5m": 300, "1h30m": 5400, "7d": 604800, "1.5d": 129600} {
		got, err := ParseSeconds(in)
		if err != nil || got != want {
			t.Errorf("%q: %v %v, want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "-1", "soon", "-5m", "xd", "NaN"} {
		if _, err := ParseSeconds(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	var whole int64
	var frac float64
	SecondsVar(fs, &whole, "ttl", 10, "")
	SecondsVar(fs, &frac, "drain", 1.5, "")
	if whole != 10 || frac != 1.5 {
		t.Fatalf("defaults %v %v", whole, frac)
	}
	if err := fs.Parse([]string{"--ttl", "2m", "--drain", "250ms"}); err != nil || whole != 120 || frac != 0.25 {
		t.Fatalf("%v %v %v", err, whole, frac)
	}
	if err := fs.Parse([]string{"--ttl", "1500ms"}); err == nil || !strings.Contains(err.Error(), "whole seconds") {
		t.Fatalf("fractional seconds into an integer flag: %v", err)
	}
}

func TestPrintRedactsSecrets(t *testing.T) {
	fs, _, _, _ := flags()
	fs.String("executor-secret", "", "")
	fs.String("client-secret", "", "")
	fs.StringSlice("tags", nil, "")
	fs.Bool("config-only", false, "")
	fs.Parse([]string{"--executor-secret", "hunter2", "--tags", "a,b", "--grpc-port", "7"})
	out, err := Print(fs, []string{"executor-secret", "client-secret"}, "config-only")
	if err != nil {
		t.Fatal(err)
	}
	want := "bind-host: 0.0.0.0\nclient-secret: \"\"\nexecutor-secret: <redacted>\ngrpc-port: 7\nmax-size: 16777216\ntags:\n    - a\n    - b\n"
	if out != want {
		t.Fatalf("got\n%s\nwant\n%s", out, want)
	}
	// What Print writes, Apply reads back.
	p := filepath.Join(t.TempDir(), "printed.yaml")
	os.WriteFile(p, []byte(strings.Replace(out, "<redacted>", "x", 1)), 0o644)
	fs2, _, port, _ := flags()
	fs2.String("executor-secret", "", "")
	fs2.String("client-secret", "", "")
	fs2.StringSlice("tags", nil, "")
	fs2.Parse(nil)
	if err := Apply(fs2, "KAPOT_Z", p); err != nil || *port != 7 {
		t.Fatalf("round trip: %v port=%d", err, *port)
	}
}

// FuzzLoad feeds arbitrary YAML to the config loader: errors are fine,
// panics are not, and whatever loads names only known flags.
func FuzzLoad(f *testing.F) {
	f.Add([]byte("bind-host: x\ngrpc-port: 7\nmax-size: 1MiB\n"))
	f.Add([]byte("common:\n  bind-host: ${HOME}\nexecutor:\n  grpc-port: 9\n"))
	f.Add([]byte("bind-host: ${UNSET_VAR:-d}\n"))
	f.Add([]byte("- a\n- b\n"))
	f.Add([]byte("bind-host: &a [*a]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		fs, _, _, _ := flags()
		fs.Parse(nil)
		values, err := Load(fs, "KAPOT_EXECUTOR", p)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error not marked invalid: %v", err)
			}
			return
		}
		for k := range values {
			if fs.Lookup(k) == nil {
				t.Fatalf("loaded unknown key %q", k)
			}
		}
		_ = Apply(fs, "KAPOT_EXECUTOR", p)
	})
}
