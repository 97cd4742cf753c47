package security

import "github.com/spf13/pflag"

// SecretFlags are the flags whose values are secrets: never logged, redacted
// by --print-config.
var SecretFlags = []string{"scheduler-secret", "executor-secret", "client-secret", "secret", "admin-token", "etcd-password"}

// AddNodeFlags registers the security flags of a cluster node (scheduler or
// executor) on fs.
func AddNodeFlags(fs *pflag.FlagSet, c *Config) {
	fs.StringVar(&c.Secrets.Scheduler, "scheduler-secret", c.Secrets.Scheduler, "shared secret the scheduler presents to executors (cluster authentication; set with --executor-secret, best from the environment or the config file)")
	fs.StringVar(&c.Secrets.Executor, "executor-secret", c.Secrets.Executor, "shared secret executors present to the scheduler and to each other's Flight servers")
	fs.StringVar(&c.Secrets.Client, "client-secret", c.Secrets.Client, "secret clients present (kapot sql --secret); default: the executor secret")
	fs.StringVar(&c.SecretFiles.Scheduler, "scheduler-secret-file", "", "read --scheduler-secret from this file (keeps it out of ps and /proc)")
	fs.StringVar(&c.SecretFiles.Executor, "executor-secret-file", "", "read --executor-secret from this file")
	fs.StringVar(&c.SecretFiles.Client, "client-secret-file", "", "read --client-secret from this file")
	fs.StringVar(&c.PrincipalsFile, "principals-file", c.PrincipalsFile, "file of clients with secrets of their own, one 'NAME SECRET' a line ('#' comments): each name is a principal that owns the tables and views it creates (kapot sql --principal NAME --secret-file …); give the same file to the scheduler and the executors")
	addTLSFlags(fs, &c.TLS)
	fs.BoolVar(&c.TLS.ClientAuth, "tls-client-auth", c.TLS.ClientAuth, "require callers to present a certificate signed by --tls-ca (mutual TLS)")
}

// AddClientFlags registers the security flags of a client command.
func AddClientFlags(fs *pflag.FlagSet, c *Config) {
	fs.StringVar(&c.Secrets.Client, "secret", c.Secrets.Client, "client secret of a cluster with authentication (the scheduler's --client-secret, or its --executor-secret); better: --secret-file or KAPOT_SECRET")
	fs.StringVar(&c.SecretFiles.Client, "secret-file", "", "read --secret from this file")
	fs.StringVar(&c.Secrets.Principal, "principal", c.Secrets.Principal, "present the secret as this principal's own (a name of the scheduler's --principals-file; default KAPOT_PRINCIPAL): what it creates is its own")
	addTLSFlags(fs, &c.TLS)
}

func addTLSFlags(fs *pflag.FlagSet, t *TLS) {
	fs.StringVar(&t.CertFile, "tls-cert", t.CertFile, "PEM certificate: served by listeners, presented to peers for mutual TLS")
	fs.StringVar(&t.KeyFile, "tls-key", t.KeyFile, "PEM private key of --tls-cert")
	fs.StringVar(&t.CAFile, "tls-ca", t.CAFile, "PEM CA bundle that peers' certificates must chain to (turns TLS on for callers)")
	fs.StringVar(&t.ServerName, "tls-server-name", t.ServerName, "name to verify in server certificates (default: the host dialled)")
}
