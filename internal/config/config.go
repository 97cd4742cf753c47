package config

import (
	"errors"
	"fmt"
	"os"
	"slices"
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

// Sections are the top-level keys of a config file shared by the whole
// cluster: "common" applies to every component (so it holds settings they
// all have: secrets, TLS, logging), "executor" and "scheduler" to one each
// (and override common). A file without them is flat: its keys
// are the component's flag names.
var Sections = []string{"common", "executor", "scheduler"}

// component is the section name of an environment prefix
// (KAPOT_EXECUTOR → executor).
func component(prefix string) string {
	return strings.ToLower(strings.TrimPrefix(prefix, "KAPOT_"))
}

// Load reads a config file into flag-name → value strings for the component
// of prefix, with ${VAR} references substituted. Unknown keys are an error.
func Load(fs *pflag.FlagSet, prefix, path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config %s: %v: %w", path, err, ErrInvalid)
	}
	var raw map[string]any
	if err := yaml.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("parse config %s: %v: %w", path, err, ErrInvalid)
	}
	sectioned := false
	for _, s := range Sections {
		if _, ok := raw[s]; ok {
			sectioned = true
		}
	}
	layers := []map[string]any{raw}
	where := []string{path}
	if sectioned {
		var other []string
		for k := range raw {
			if !slices.Contains(Sections, k) {
				other = append(other, k)
			}
		}
		if len(other) > 0 {
			sort.Strings(other)
			return nil, fmt.Errorf("config %s: keys %s outside the sections %s: %w", path, strings.Join(other, ", "), strings.Join(Sections, ", "), ErrInvalid)
		}
		layers, where = nil, nil
		for _, s := range []string{"common", component(prefix)} {
			v, ok := raw[s]
			if !ok || v == nil {
				continue
			}
			m, ok := v.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("config %s: section %s is not a map of settings: %w", path, s, ErrInvalid)
			}
			layers, where = append(layers, m), append(where, path+" ("+s+")")
		}
	}
	values := map[string]string{}
	for i, layer := range layers {
		var unknown []string
		for k, v := range layer {
			if fs.Lookup(k) == nil {
				unknown = append(unknown, k)
				continue
			}
			var str string
			switch x := v.(type) {
			case []any:
				parts := make([]string, len(x))
				for i, p := range x {
					parts[i] = fmt.Sprint(p)
				}
				str = strings.Join(parts, ",")
			case nil:
				continue
			case map[string]any:
				return nil, fmt.Errorf("config %s: %s: want a value, not a map: %w", where[i], k, ErrInvalid)
			default:
				str = fmt.Sprint(x)
			}
			out, err := Expand(str)
			if err != nil {
				return nil, fmt.Errorf("config %s: %s: %v: %w", where[i], k, err, ErrInvalid)
			}
			values[k] = out
		}
		if len(unknown) > 0 {
			sort.Strings(unknown)
			return nil, fmt.Errorf("config %s: unknown keys %s: %w", where[i], strings.Join(unknown, ", "), ErrInvalid)
		}
	}
	return values, nil
}

// Expand substitutes ${VAR} and ${VAR:-default} with the environment. A
// reference to an unset variable without a default is an error (a secret
// silently left empty would turn authentication off); a lone $ is kept, so
// secrets may contain it.
func Expand(s string) (string, error) {
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return "", fmt.Errorf("unterminated ${ in %q", s)
		}
		b.WriteString(s[:i])
		ref := s[i+2 : i+j]
		name, def, hasDef := strings.Cut(ref, ":-")
		if name == "" {
			return "", fmt.Errorf("empty ${} reference")
		}
		if v, ok := os.LookupEnv(name); ok && (v != "" || !hasDef) {
			b.WriteString(v)
		} else if hasDef {
			b.WriteString(def)
		} else {
			return "", fmt.Errorf("environment variable %s is not set (use ${%s:-default} for a default)", name, name)
		}
		s = s[i+j+1:]
	}
}

// Apply sets every flag not given on the command line from the environment
// (prefix_FLAG_NAME) or, failing that, from the YAML file at path (see Load).
// Unknown keys are an error: a typo must not pass silently.
func Apply(fs *pflag.FlagSet, prefix, path string, skip ...string) error {
	values := map[string]string{}
	if path != "" {
		var err error
		if values, err = Load(fs, prefix, path); err != nil {
			return err
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
