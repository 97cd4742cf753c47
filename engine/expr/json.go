package expr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/scalar"

	"github.com/kapot-go/kapot/errs"
)

// JSON held in VARCHAR values, as DuckDB 1.5 reads it:
// json_extract(j, path) is the JSON text at path (DuckDB's JSON type; kapot
// returns it as VARCHAR), json_extract_string(j, path) the same but a
// string's value unquoted and JSON null as NULL; the planner binds j -> p
// and j ->> p to them. A path is '$' followed by .key, ."quoted key" and
// [i] steps (i < 0 counts from the end), or a plain string (one key), or
// an integer (an array index). A missing value is NULL; text that is not
// one JSON value fails the query, as in DuckDB. JSON text comes out as
// DuckDB writes it: minified, keys in their order, numbers normalised
// (2.50 as 2.5, 1e2 as 100.0). Wildcards and JSON pointers are refused.

// addJSONFunctions registers the JSON functions.
func addJSONFunctions(m map[string]scalarFunction) {
	m["json_extract"] = jsonExtractFunc
	m["json_extract_path"] = jsonExtractFunc
	m["json_extract_string"] = jsonExtractFunc
	m["json_extract_path_text"] = jsonExtractFunc
}

// jsonStep is one step of a path: a key, or an array index.
type jsonStep struct {
	key   string
	index int
	isIdx bool
}

// jsonPath reads a constant path argument; null is true for a NULL path.
func jsonPath(arg Expr) (steps []jsonStep, null bool, err error) {
	l, ok := arg.(*literalExpr)
	if !ok {
		return nil, false, fmt.Errorf("a JSON path that is not a constant: %w", errs.ErrNotSupported)
	}
	if !l.value.IsValid() {
		return nil, true, nil
	}
	switch v := l.value.(type) {
	case *scalar.Int64:
		return []jsonStep{{index: int(v.Value), isIdx: true}}, false, nil
	case *scalar.Int32:
		return []jsonStep{{index: int(v.Value), isIdx: true}}, false, nil
	}
	s, ok := literalString(arg)
	if !ok {
		return nil, false, fmt.Errorf("a JSON path of type %s: %w", arg.DataType(), errs.ErrNotSupported)
	}
	switch {
	case strings.HasPrefix(s, "$"):
		steps, err = parseJSONPath(s)
		return steps, false, err
	case strings.HasPrefix(s, "/"):
		return nil, false, fmt.Errorf("JSON pointer paths (%q): %w", s, errs.ErrNotSupported)
	}
	return []jsonStep{{key: s}}, false, nil
}

// parseJSONPath reads a '$' path: .key, ."key", [i], [#-i].
func parseJSONPath(p string) ([]jsonStep, error) {
	var steps []jsonStep
	bad := func() error { return fmt.Errorf("JSON path error near %q: %w", p, errs.ErrInvalidPlan) }
	rest := p[1:]
	for rest != "" {
		switch rest[0] {
		case '.':
			rest = rest[1:]
			if strings.HasPrefix(rest, "*") {
				return nil, fmt.Errorf("JSON path wildcards (%q): %w", p, errs.ErrNotSupported)
			}
			if strings.HasPrefix(rest, `"`) {
				end := strings.IndexByte(rest[1:], '"')
				if end < 0 {
					return nil, bad()
				}
				steps = append(steps, jsonStep{key: rest[1 : 1+end]})
				rest = rest[end+2:]
				continue
			}
			end := strings.IndexAny(rest, ".[")
			if end < 0 {
				end = len(rest)
			}
			if end == 0 || strings.ContainsAny(rest[:end], " \t\"") {
				return nil, bad()
			}
			steps = append(steps, jsonStep{key: rest[:end]})
			rest = rest[end:]
		case '[':
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return nil, bad()
			}
			in := rest[1:end]
			if in == "*" {
				return nil, fmt.Errorf("JSON path wildcards (%q): %w", p, errs.ErrNotSupported)
			}
			if strings.HasPrefix(in, "#-") {
				in = in[1:]
			}
			i, err := strconv.Atoi(in)
			if err != nil {
				return nil, bad()
			}
			steps = append(steps, jsonStep{index: i, isIdx: true})
			rest = rest[end+1:]
		default:
			return nil, bad()
		}
	}
	return steps, nil
}

// jsonValue is a parsed JSON value, objects' keys in their order.
type jsonValue struct {
	kind byte // 'o' object, 'a' array, 's' string, 'n' number, 't' true, 'f' false, 'z' null
	text string
	keys []string
	vals []*jsonValue
}

// errMalformedJSON is the failure of text that is not one JSON value.
var errMalformedJSON = fmt.Errorf("malformed JSON: %w", errs.ErrInvalidPlan)

// parseJSON reads s, which must hold exactly one JSON value.
func parseJSON(s string) (*jsonValue, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	v, err := readJSON(dec)
	if err == nil {
		if _, err = dec.Token(); err == io.EOF {
			return v, nil
		} else if err == nil {
			err = errors.New("unexpected content after document")
		}
	}
	return nil, fmt.Errorf("%w: %v; input: %.40q", errMalformedJSON, err, s)
}

func readJSON(dec *json.Decoder) (*jsonValue, error) {
	t, err := dec.Token()
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	switch x := t.(type) {
	case json.Delim:
		v := &jsonValue{kind: 'a'}
		if x == '{' {
			v.kind = 'o'
		}
		for dec.More() {
			if v.kind == 'o' {
				k, err := dec.Token()
				if err != nil {
					return nil, err
				}
				v.keys = append(v.keys, k.(string))
			}
			e, err := readJSON(dec)
			if err != nil {
				return nil, err
			}
			v.vals = append(v.vals, e)
		}
		if _, err := dec.Token(); err != nil { // the closing delimiter
			return nil, err
		}
		return v, nil
	case string:
		return &jsonValue{kind: 's', text: x}, nil
	case json.Number:
		return &jsonValue{kind: 'n', text: string(x)}, nil
	case bool:
		if x {
			return &jsonValue{kind: 't'}, nil
		}
		return &jsonValue{kind: 'f'}, nil
	case nil:
		return &jsonValue{kind: 'z'}, nil
	}
	return nil, fmt.Errorf("unexpected token %v", t)
}

// at follows steps from v; nil when a step finds nothing.
func (v *jsonValue) at(steps []jsonStep) *jsonValue {
	for _, s := range steps {
		switch {
		case s.isIdx && v.kind == 'a':
			i := s.index
			if i < 0 {
				i += len(v.vals)
			}
			if i < 0 || i >= len(v.vals) {
				return nil
			}
			v = v.vals[i]
		case !s.isIdx && v.kind == 'o':
			found := false
			for k, key := range v.keys {
				if key == s.key {
					v, found = v.vals[k], true
					break
				}
			}
			if !found {
				return nil
			}
		default:
			return nil
		}
	}
	return v
}

// write appends v as DuckDB writes JSON.
func (v *jsonValue) write(sb *strings.Builder) error {
	switch v.kind {
	case 'o', 'a':
		open, end := byte('['), byte(']')
		if v.kind == 'o' {
			open, end = '{', '}'
		}
		sb.WriteByte(open)
		for i, e := range v.vals {
			if i > 0 {
				sb.WriteByte(',')
			}
			if v.kind == 'o' {
				writeJSONString(sb, v.keys[i])
				sb.WriteByte(':')
			}
			if err := e.write(sb); err != nil {
				return err
			}
		}
		sb.WriteByte(end)
	case 's':
		writeJSONString(sb, v.text)
	case 'n':
		n, err := jsonNumber(v.text)
		if err != nil {
			return err
		}
		sb.WriteString(n)
	case 't':
		sb.WriteString("true")
	case 'f':
		sb.WriteString("false")
	default:
		sb.WriteString("null")
	}
	return nil
}

// jsonNumber is a JSON number as DuckDB writes it back: an integer of 64
// bits as it is (-0 as 0), a longer one as written, a fraction or exponent
// as the shortest double that reads back, with ".0" when whole, plain
// between 1e-6 and 1e21, else as 1.5e-7.
func jsonNumber(t string) (string, error) {
	if !strings.ContainsAny(t, ".eE") {
		if i, err := strconv.ParseInt(t, 10, 64); err == nil {
			return strconv.FormatInt(i, 10), nil
		}
		if u, err := strconv.ParseUint(t, 10, 64); err == nil {
			return strconv.FormatUint(u, 10), nil
		}
		return t, nil
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsInf(f, 0) {
		return "", fmt.Errorf("the JSON number %s (outside a double's range): %w", t, errs.ErrNotSupported)
	}
	if a := math.Abs(f); a == 0 || a >= 1e-6 && a < 1e21 {
		s := strconv.FormatFloat(f, 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s, nil
	}
	s := strconv.FormatFloat(f, 'e', -1, 64)
	mant, exp, _ := strings.Cut(s, "e")
	neg := strings.HasPrefix(exp, "-")
	exp = strings.TrimLeft(strings.TrimLeft(exp, "+-"), "0")
	if neg {
		exp = "-" + exp
	}
	return mant + "e" + exp, nil
}

// writeJSONString writes s quoted: quotes, backslashes and control
// characters escaped (\n, \u001F), everything else as it is.
func writeJSONString(sb *strings.Builder, s string) {
	sb.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"':
			sb.WriteString(`\"`)
		case '\\':
			sb.WriteString(`\\`)
		case '\b':
			sb.WriteString(`\b`)
		case '\f':
			sb.WriteString(`\f`)
		case '\n':
			sb.WriteString(`\n`)
		case '\r':
			sb.WriteString(`\r`)
		case '\t':
			sb.WriteString(`\t`)
		default:
			if c < 0x20 {
				fmt.Fprintf(sb, `\u%04X`, c)
			} else {
				sb.WriteByte(c)
			}
		}
	}
	sb.WriteByte('"')
}

// jsonExtractFunc is json_extract (JSON text) and json_extract_string (a
// string unquoted, JSON null as NULL) of VARCHAR j at a constant path.
func jsonExtractFunc(name string, args []Expr) (Expr, error) {
	if err := wantArgs(args, 2, 2); err != nil {
		return nil, err
	}
	if t := args[0].DataType().ID(); t != arrow.STRING && t != arrow.NULL {
		return nil, fmt.Errorf("%s of %s (JSON is read from VARCHAR): %w", name, args[0].DataType(), errs.ErrInvalidPlan)
	}
	steps, nullPath, err := jsonPath(args[1])
	if err != nil {
		return nil, err
	}
	asString := strings.HasSuffix(name, "_string") || strings.HasSuffix(name, "_text")
	return &kernelExpr{display: name, args: args, typ: arrow.BinaryTypes.String,
		fn: func(_ context.Context, mem memory.Allocator, a []arrow.Array) (arrow.Array, error) {
			b := array.NewStringBuilder(mem)
			defer b.Release()
			s, _ := a[0].(*array.String)
			var sb strings.Builder
			for i := 0; i < a[0].Len(); i++ {
				if s == nil || s.IsNull(i) || nullPath {
					b.AppendNull()
					continue
				}
				doc, err := parseJSON(s.Value(i))
				if err != nil {
					return nil, fmt.Errorf("%s: %w", name, err)
				}
				v := doc.at(steps)
				switch {
				case v == nil || asString && v.kind == 'z':
					b.AppendNull()
				case asString && v.kind == 's':
					b.Append(v.text)
				default:
					sb.Reset()
					if err := v.write(&sb); err != nil {
						return nil, fmt.Errorf("%s: %w", name, err)
					}
					b.Append(sb.String())
				}
			}
			return b.NewArray(), nil
		}}, nil
}
