package security

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/pflag"
)

// maxSecretFile bounds what a secret file may hold.
const maxSecretFile = 64 << 10

// LoadSecretFiles reads the secrets named by --*-secret-file flags (a
// Kubernetes secret volume, a systemd credential) into c.Secrets. A secret
// given both ways, an unreadable or an empty file is an error. Loaded file
// names are cleared, so a second call does nothing.
func (c *Config) LoadSecretFiles() error {
	for _, f := range []struct {
		flag       string
		path, dest *string
	}{
		{"scheduler-secret", &c.SecretFiles.Scheduler, &c.Secrets.Scheduler},
		{"executor-secret", &c.SecretFiles.Executor, &c.Secrets.Executor},
		{"client-secret", &c.SecretFiles.Client, &c.Secrets.Client},
	} {
		if *f.path == "" {
			continue
		}
		if *f.dest != "" {
			return fmt.Errorf("--%s and --%s-file both set: give one", f.flag, f.flag)
		}
		v, err := readSecretFile(*f.path)
		if err != nil {
			return fmt.Errorf("--%s-file: %w", f.flag, err)
		}
		*f.dest, *f.path = v, ""
	}
	if c.PrincipalsFile != "" {
		ps, err := readPrincipals(c.PrincipalsFile)
		if err != nil {
			return fmt.Errorf("--principals-file: %w", err)
		}
		c.Secrets.Principals, c.PrincipalsFile = ps, ""
	}
	return nil
}

// readPrincipals reads a principals file: one "NAME SECRET" a line (the
// secret is the rest of the line), blank lines and '#' comments skipped.
func readPrincipals(path string) (map[string]string, error) {
	text, err := readSecretFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, secret, _ := strings.Cut(line, " ")
		if j := strings.IndexAny(line, " \t"); j > 0 {
			name, secret = line[:j], strings.TrimSpace(line[j+1:])
		}
		switch {
		case !ValidPrincipalName(name):
			return nil, fmt.Errorf("%s line %d: %q is not a principal name (1-64 of a-z 0-9 _ . -; not %q or %q)", path, i+1, truncate(name, 64), PrincipalOperator, PrincipalClient)
		case secret == "":
			return nil, fmt.Errorf("%s line %d: principal %s has no secret", path, i+1, name)
		case out[name] != "":
			return nil, fmt.Errorf("%s line %d: principal %s given twice", path, i+1, name)
		}
		out[name] = secret
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s names no principal", path)
	}
	return out, nil
}

// LoadSecretFile sets *dest from the file at path (if any) for the flag
// named flag; the flag and its -file form together are an error.
func LoadSecretFile(flag string, dest *string, path string) error {
	if path == "" {
		return nil
	}
	if *dest != "" {
		return fmt.Errorf("--%s and --%s-file both set: give one", flag, flag)
	}
	v, err := readSecretFile(path)
	if err != nil {
		return fmt.Errorf("--%s-file: %w", flag, err)
	}
	*dest = v
	return nil
}

func readSecretFile(path string) (string, error) {
	fh, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, maxSecretFile+1))
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	if len(b) > maxSecretFile {
		return "", fmt.Errorf("%s: larger than %d bytes", path, maxSecretFile)
	}
	v := strings.TrimRight(string(b), "\r\n")
	if v == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return v, nil
}

// ArgvSecrets names the secret flags given on fs's command line (before
// the environment or a config file fills others in): every user of the
// host sees them in ps and /proc.
func ArgvSecrets(fs *pflag.FlagSet) []string {
	var out []string
	for _, name := range SecretFlags {
		if f := fs.Lookup(name); f != nil && f.Changed {
			out = append(out, "--"+name)
		}
	}
	return out
}
