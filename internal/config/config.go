// Package config fills command-line flags from, in order of precedence, the
// command line, KAPOT_<COMPONENT>_* environment variables and a YAML file,
// so every setting has one parser and one error message naming its flag.
package config

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"
)

// ErrInvalid marks configuration a user must fix; commands exit with code 2.
var ErrInvalid = errors.New("invalid configuration")

// EnvName is the environment variable of a flag, e.g. KAPOT_EXECUTOR_BIND_HOST.
func EnvName(prefix, flag string) string {
	return prefix + "_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// Apply sets every flag not given on the command line from the environment
// (prefix_FLAG_NAME) or, failing that, from the YAML file at path (keys are
// flag names). Unknown YAML keys are an error: a typo must not pass silently.
func Apply(fs *pflag.FlagSet, prefix, path string, skip ...string) error {
	values := map[string]string{}
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("read config %s: %v: %w", path, err, ErrInvalid)
		}
		var raw map[string]any
		if err := yaml.Unmarshal(b, &raw); err != nil {
			return fmt.Errorf("parse config %s: %v: %w", path, err, ErrInvalid)
		}
		var unknown []string
		for k, v := range raw {
			if fs.Lookup(k) == nil {
				unknown = append(unknown, k)
				continue
			}
			switch x := v.(type) {
			case []any:
				parts := make([]string, len(x))
				for i, p := range x {
					parts[i] = fmt.Sprint(p)
				}
				values[k] = strings.Join(parts, ",")
			case nil:
			default:
				values[k] = os.ExpandEnv(fmt.Sprint(x))
			}
		}
		if len(unknown) > 0 {
			sort.Strings(unknown)
			return fmt.Errorf("config %s: unknown keys %s: %w", path, strings.Join(unknown, ", "), ErrInvalid)
		}
	}
	skipped := map[string]bool{}
	for _, s := range skip {
		skipped[s] = true
	}
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed || skipped[f.Name] {
			return
		}
		env := EnvName(prefix, f.Name)
		if v, ok := os.LookupEnv(env); ok {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("invalid value %q for --%s (from %s): %v: %w", v, f.Name, env, e, ErrInvalid)
			}
			return
		}
		if v, ok := values[f.Name]; ok {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("invalid value %q for --%s (from %s): %v: %w", v, f.Name, path, e, ErrInvalid)
			}
		}
	})
	return err
}
