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
