package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/kapot-go/kapot/internal/config"
)

func run(c *cobra.Command, args ...string) (string, error) {
	var out bytes.Buffer
	c.SetOut(&out)
	c.SetErr(&out)
	c.SetArgs(args)
	err := c.Execute()
	return out.String(), err
}

// TestSampleConfig: the documented sample config loads for both node types,
// with its ${VAR}s from the environment, and prints with secrets redacted.
func TestSampleConfig(t *testing.T) {
	t.Setenv("KAPOT_SCHEDULER_SECRET", "sched-hunter2")
	t.Setenv("KAPOT_EXECUTOR_SECRET", "exec-hunter2")
	t.Setenv("HOSTNAME", "node-7")
	sample := filepath.Join("..", "..", "examples", "deploy", "kapot.yaml")
	out, err := run(executorCmd(), "--config", sample, "--print-config", "--port", "6000")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"executor-secret: <redacted>\n", "scheduler-secret: <redacted>\n", "client-secret: \"\"\n",
		"external-host: node-7\n", "job-data-ttl-seconds: 604800\n", "job-data-clean-up-interval-seconds: 3600\n",
		"drain-timeout: 120\n", "os-cores:\n    - 0\n    - 1\n", "log-max-file-size: 104857600\n", "log-total-size-cap: 1073741824\n",
		"port: 6000\n", "admin-port: 9081\n", "scheduler-host: localhost\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("executor config lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "hunter2") {
		t.Fatalf("a secret was printed:\n%s", out)
	}
	out, err = run(schedulerCmd(), "--config", sample, "--print-config")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"executor-timeout-seconds: 30\n", "admin-port: 9080\n", "port: 50050\n", "log-timezone: UTC\n", "finished-job-data-clean-up-delay-seconds: 300\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("scheduler config lacks %q:\n%s", want, out)
		}
	}
	// Without the secret variables the file is refused, naming the variable.
	os.Unsetenv("KAPOT_EXECUTOR_SECRET")
	if _, err := run(executorCmd(), "--config", sample, "--print-config"); !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), "KAPOT_EXECUTOR_SECRET") {
		t.Fatalf("unset secret variable: %v", err)
	}
}

// TestPrecedenceAndValidation: flag > environment > file > default, and each
// invalid setting is refused with an error naming it.
func TestPrecedenceAndValidation(t *testing.T) {
	file := filepath.Join(t.TempDir(), "e.yaml")
	os.WriteFile(file, []byte("grpc-port: 7001\nport: 7002\nconcurrent-tasks: 3\n"), 0o644)
	t.Setenv("KAPOT_EXECUTOR_PORT", "7003")
	t.Setenv("KAPOT_EXECUTOR_CONCURRENT_TASKS", "5")
	out, err := run(executorCmd(), "--config", file, "--print-config", "--concurrent-tasks", "9")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"grpc-port: 7001\n", "port: 7003\n", "concurrent-tasks: 9\n", "scheduler-port: 50050\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("lacks %q:\n%s", want, out)
		}
	}
	os.Unsetenv("KAPOT_EXECUTOR_PORT")
	os.Unsetenv("KAPOT_EXECUTOR_CONCURRENT_TASKS")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--port", "70000"}, "--port"},
		{[]string{"--exposed-mem-percentage", "40"}, "--exposed-mem-percentage"},
		{[]string{"--cpu-multiplier", "21"}, "--cpu-multiplier"},
		{[]string{"--memory-multiplier", "0"}, "--memory-multiplier"},
		{[]string{"--task-scheduling-policy", "eager"}, "--task-scheduling-policy"},
		{[]string{"--admin-port", "-2"}, "--admin-port"},
		{[]string{"--os-cores", "-1"}, "--os-cores"},
		{[]string{"--memory-pool-size", "1k"}, "--memory-pool-size"},
		{[]string{"--executor-heartbeat-interval-seconds", "0"}, "--executor-heartbeat-interval-seconds"},
		{[]string{"--max-heartbeat-failures", "0"}, "--max-heartbeat-failures"},
		{[]string{"--grpc-max-decoding-message-size", "10"}, "--grpc-max-decoding-message-size"},
		{[]string{"--log-level", "loud"}, "--log-level"},
		{[]string{"--log-format", "xml"}, "--log-format"},
		{[]string{"--log-rotation-policy", "weekly"}, "--log-rotation-policy"},
		{[]string{"--log-timezone", "Mars/Base"}, "--log-timezone"},
		{[]string{"--scheduler-secret", "x"}, "--scheduler-secret and --executor-secret"},
		{[]string{"--tls-cert", "/nonexistent"}, "--tls-cert and --tls-key"},
		{[]string{"--tls-client-auth"}, "--tls-client-auth"},
		{[]string{"--job-data-ttl-seconds", "forever"}, "job-data-ttl-seconds"},
		{[]string{"--drain-timeout", "-5s"}, "drain-timeout"},
		{[]string{"--shuffle-compression", "brotli"}, "--shuffle-compression"},
		{[]string{"--data-cache-policy", "ram"}, "--data-cache-policy"},
		{[]string{"--data-cache-policy", "local-disk-file"}, "--cache-dir"},
		{[]string{"--data-cache-policy", "local-disk-file", "--cache-dir", "/tmp/w/c", "--work-dir", "/tmp/w"}, "inside --work-dir"},
		{[]string{"--data-cache-policy", "local-disk-file", "--cache-dir", "/tmp/c", "--cache-capacity", "1k"}, "--cache-capacity"},
		{[]string{"--data-cache-policy", "local-disk-file", "--cache-dir", "/tmp/c", "--cache-io-concurrency", "0"}, "--cache-io-concurrency"},
	} {
		_, err := run(executorCmd(), append(tc.args, "--print-config")...)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !(errors.Is(err, config.ErrInvalid) || isFlagError(err)) {
			t.Errorf("%v: got %v, want an invalid-config error naming %q", tc.args, err, tc.want)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--port", "-1"}, "--port"},
		{[]string{"--policy", "eager"}, "--policy"},
		{[]string{"--max-fetch-failures", "0"}, "--max-fetch-failures"},
		{[]string{"--executor-timeout-seconds", "0"}, "--executor-timeout-seconds"},
		{[]string{"--admin-port", "65536"}, "--admin-port"},
		{[]string{"--executor-secret", "x"}, "--scheduler-secret and --executor-secret"},
	} {
		_, err := run(schedulerCmd(), append(tc.args, "--print-config")...)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !(errors.Is(err, config.ErrInvalid) || isFlagError(err)) {
			t.Errorf("scheduler %v: got %v, want an invalid-config error naming %q", tc.args, err, tc.want)
		}
	}
}
