package config

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"
)

// ParseSeconds reads a duration as seconds: a plain number ("30", "0.5") or
// a Go duration with an optional day unit ("90s", "5m", "1h30m", "7d").
func ParseSeconds(s string) (float64, error) {
	t := strings.TrimSpace(s)
	if v, err := strconv.ParseFloat(t, 64); err == nil {
		if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			return 0, fmt.Errorf("duration %q: want a non-negative number of seconds", s)
		}
		return v, nil
	}
	if d, ok := strings.CutSuffix(t, "d"); ok {
		v, err := strconv.ParseFloat(d, 64)
		if err != nil || v < 0 {
			return 0, fmt.Errorf("duration %q: want seconds or a duration (30s, 5m, 2h, 7d)", s)
		}
		return v * 86400, nil
	}
	d, err := time.ParseDuration(t)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("duration %q: want seconds or a duration (30s, 5m, 2h, 7d)", s)
	}
	return d.Seconds(), nil
}

// seconds is a flag holding a number of seconds in an int, int64 or float64
// field, set from a number or a duration.
type seconds[T int | int64 | float64] struct{ p *T }

func (v seconds[T]) String() string {
	if v.p == nil {
		return "0"
	}
	return strconv.FormatFloat(float64(*v.p), 'f', -1, 64)
}

func (v seconds[T]) Set(s string) error {
	f, err := ParseSeconds(s)
	if err != nil {
		return err
	}
	var zero T
	if _, isFloat := any(zero).(float64); !isFloat && f != math.Trunc(f) {
		return fmt.Errorf("duration %q: want whole seconds", s)
	}
	if f > math.MaxInt32*100 {
		return fmt.Errorf("duration %q: too long", s)
	}
	*v.p = T(f)
	return nil
}

func (v seconds[T]) Type() string { return "seconds" }

// SecondsVar defines a flag of seconds that also takes durations (5m, 7d).
func SecondsVar[T int | int64 | float64](fs *pflag.FlagSet, p *T, name string, value T, usage string) {
	*p = value
	fs.Var(seconds[T]{p}, name, usage+" (seconds, or a duration: 30s, 5m, 7d)")
}

// Print writes the effective value of every flag as YAML that --config
// accepts (flat keys), with the flags named in secret shown as <redacted>
// when set. skip names flags that are not settings (config, print-config).
func Print(fs *pflag.FlagSet, secret []string, skip ...string) (string, error) {
	out := map[string]any{}
	fs.VisitAll(func(f *pflag.Flag) {
		if slices.Contains(skip, f.Name) || f.Hidden {
			return
		}
		v := f.Value.String()
		switch {
		case slices.Contains(secret, f.Name):
			if v != "" {
				out[f.Name] = "<redacted>"
			} else {
				out[f.Name] = ""
			}
		case strings.HasSuffix(f.Value.Type(), "Slice"):
			list := []any{}
			if sv, ok := f.Value.(pflag.SliceValue); ok {
				for _, item := range sv.GetSlice() {
					list = append(list, typed(strings.TrimSuffix(f.Value.Type(), "Slice"), item))
				}
			}
			out[f.Name] = list
		default:
			out[f.Name] = typed(f.Value.Type(), v)
		}
	})
	b, err := yaml.Marshal(out)
	return string(b), err
}

// typed keeps numbers and booleans unquoted in printed YAML.
func typed(kind, v string) any {
	switch kind {
	case "bool":
		if b, err := strconv.ParseBool(v); err == nil {
			return b
		}
	case "int", "int64", "int32", "uint", "uint32", "uint64", "float64", "seconds", "size":
		if i, err := strconv.ParseInt(v, 10, 64); err == nil {
			return i
		}
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			return f
		}
	}
	return v
}

// duration is a flag holding a time.Duration, set like a seconds flag
// (whole seconds or a duration) and shown in seconds.
type duration struct{ p *time.Duration }

func (v duration) String() string {
	if v.p == nil {
		return "0"
	}
	return strconv.FormatFloat(v.p.Seconds(), 'f', -1, 64)
}

func (v duration) Set(s string) error {
	f, err := ParseSeconds(s)
	if err != nil {
		return err
	}
	if f > math.MaxInt32*100 {
		return fmt.Errorf("duration %q: too long", s)
	}
	*v.p = time.Duration(f * float64(time.Second))
	return nil
}

func (v duration) Type() string { return "seconds" }

// DurationVar defines a flag of seconds (or a duration: 5m, 7d) held in a
// time.Duration field: configuration structs keep durations as
// time.Duration, whatever their flags are named.
func DurationVar(fs *pflag.FlagSet, p *time.Duration, name string, value time.Duration, usage string) {
	*p = value
	fs.Var(duration{p}, name, usage+" (seconds, or a duration: 30s, 5m, 7d)")
}
