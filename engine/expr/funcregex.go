package expr

import (
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/kapot-go/kapot/errs"
)

// Regular expressions (RE2 syntax, as DuckDB's, which uses RE2 too) and
// date formatting and parts under DuckDB's names.

// addRegexFunctions adds the regular expression and formatting functions
// to the registry functions.
func addRegexFunctions(functions map[string]scalarFunction) {
	re := &regexCache{m: map[string]*regexp.Regexp{}}
	functions["regexp_matches"] = regexBoolFunc(re, false)
	functions["regexp_full_match"] = regexBoolFunc(re, true)
	functions["regexp_replace"] = func(name string, args []Expr) (Expr, error) {
		if err := wantArgs(args, 3, 4); err != nil {
			return nil, err
		}
		return rowFunc(name, args, []argKind{argText}, arrow.BinaryTypes.String, func(v []any) (any, error) {
			r, err := re.get(v[1].(string))
			if err != nil {
				return nil, err
			}
			global := false
			if len(v) == 4 {
				for _, o := range v[3].(string) {
					switch o {
					case 'g':
						global = true
					case 'i', 'c', 's', 'm':
						if o == 'i' {
							if r, err = re.get("(?i)" + v[1].(string)); err != nil {
								return nil, err
							}
						}
					default:
						return nil, fmt.Errorf("regexp_replace: unknown option %q", o)
					}
				}
			}
			repl := goReplacement(v[2].(string))
			s := v[0].(string)
			if global {
				return r.ReplaceAllString(s, repl), nil
			}
			loc := r.FindStringSubmatchIndex(s)
			if loc == nil {
				return s, nil
			}
			var out []byte
			out = r.ExpandString(out, repl, s, loc)
			return s[:loc[0]] + string(out) + s[loc[1]:], nil
		})
	}
	functions["regexp_extract"] = func(name string, args []Expr) (Expr, error) {
		if err := wantArgs(args, 2, 3); err != nil {
			return nil, err
		}
		return rowFunc(name, args, []argKind{argText, argText, argInt}, arrow.BinaryTypes.String, func(v []any) (any, error) {
			r, err := re.get(v[1].(string))
			if err != nil {
				return nil, err
			}
			group := int64(0)
			if len(v) == 3 {
				group = v[2].(int64)
			}
			if group < 0 || group > int64(r.NumSubexp()) {
				return nil, fmt.Errorf("regexp_extract: pattern has no group %d", group)
			}
			m := r.FindStringSubmatch(v[0].(string))
			if m == nil {
				return "", nil
			}
			return m[group], nil
		})
	}
}

// regexCache compiles each pattern once (patterns are almost always
// constants); past its bound it compiles without keeping.
type regexCache struct {
	mu sync.Mutex
	m  map[string]*regexp.Regexp
}

func (c *regexCache) get(p string) (*regexp.Regexp, error) {
	c.mu.Lock()
	r, ok := c.m[p]
	c.mu.Unlock()
	if ok {
		return r, nil
	}
	r, err := regexp.Compile(p)
	if err != nil {
		return nil, fmt.Errorf("invalid regular expression %q: %v: %w", p, err, errs.ErrInvalidPlan)
	}
	c.mu.Lock()
	if len(c.m) < 256 {
		c.m[p] = r
	}
	c.mu.Unlock()
	return r, nil
}

// regexBoolFunc is regexp_matches (a match anywhere) or
// regexp_full_match (the whole string).
func regexBoolFunc(c *regexCache, full bool) scalarFunction {
	return func(name string, args []Expr) (Expr, error) {
		if err := wantArgs(args, 2, 3); err != nil {
			return nil, err
		}
		return rowFunc(name, args, []argKind{argText}, arrow.FixedWidthTypes.Boolean, func(v []any) (any, error) {
			p := v[1].(string)
			if len(v) == 3 {
				for _, o := range v[2].(string) {
					switch o {
					case 'i':
						p = "(?i)" + p
					case 'c':
					default:
						return nil, fmt.Errorf("%s: unknown option %q", name, o)
					}
				}
			}
			if full {
				p = `^(?:` + p + `)$`
			}
			r, err := c.get(p)
			if err != nil {
				return nil, err
			}
			return r.MatchString(v[0].(string)), nil
		})
	}
}

// goReplacement turns a replacement's \1 group references (RE2's, DuckDB's)
// into Go's ${1}, and keeps a literal $ literal.
func goReplacement(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '$':
			b.WriteString("$$")
		case s[i] == '\\' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9':
			b.WriteString("${" + string(s[i+1]) + "}")
			i++
		case s[i] == '\\' && i+1 < len(s) && s[i+1] == '\\':
			b.WriteByte('\\')
			i++
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}
