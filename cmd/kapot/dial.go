package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/kapot-go/kapot/client"
	"github.com/kapot-go/kapot/internal/config"
	"github.com/kapot-go/kapot/internal/security"
)

// dialScheduler connects a client command to the scheduler at addr with the
// command's --secret and --tls-* flags.
func dialScheduler(addr string, sec security.Config) (*client.Client, error) {
	if err := sec.TLS.Validate(false); err != nil {
		return nil, fmt.Errorf("%v: %w", err, config.ErrInvalid)
	}
	var opts []client.Option
	if sec.Secrets.Client != "" {
		opts = append(opts, client.WithSecret(sec.Secrets.Client))
	}
	if sec.Secrets.Principal != "" {
		opts = append(opts, client.WithPrincipal(sec.Secrets.Principal))
	}
	if sec.TLS.Enabled() {
		cfg, err := sec.TLS.ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("%v: %w", err, config.ErrInvalid)
		}
		opts = append(opts, client.WithTLS(cfg))
	}
	return client.Dial(addr, nil, opts...)
}

// warnArgvSecrets warns about secrets given on the command line, where
// every user of the host sees them (ps, /proc/PID/cmdline).
func warnArgvSecrets(cmd *cobra.Command) {
	for _, f := range security.ArgvSecrets(cmd.Flags()) {
		fmt.Fprintf(cmd.ErrOrStderr(), "kapot: warning: %s on the command line is visible to every user of this host; use %s-file, the environment or the config file\n", f, f)
	}
}

// clientSecurity completes a client command's security settings: a
// warning for a secret on the command line, KAPOT_SECRET when --secret is
// not given, KAPOT_PRINCIPAL when --principal is not, and --secret-file.
func clientSecurity(cmd *cobra.Command, sec *security.Config) error {
	warnArgvSecrets(cmd)
	if sec.Secrets.Client == "" && sec.SecretFiles.Client == "" {
		sec.Secrets.Client = os.Getenv("KAPOT_SECRET")
	}
	if sec.Secrets.Principal == "" {
		sec.Secrets.Principal = os.Getenv("KAPOT_PRINCIPAL")
	}
	if err := sec.LoadSecretFiles(); err != nil {
		return fmt.Errorf("%v: %w", err, config.ErrInvalid)
	}
	return nil
}

// printEffective writes the effective settings of a node command as YAML,
// secrets redacted.
func printEffective(cmd *cobra.Command, fs *pflag.FlagSet) error {
	out, err := config.Print(fs, security.SecretFlags, "config", "print-config", "help")
	if err != nil {
		return err
	}
	_, err = fmt.Fprint(cmd.OutOrStdout(), out)
	return err
}
