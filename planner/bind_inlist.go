package planner

import (
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	pg "github.com/pganalyze/pg_query_go/v6"
)

// Long IN lists. `x IN (1, 2, …)` with a million constants is 7 MB of SQL
// that PostgreSQL's scanner and parser turn into two million tokens and a
// million parse nodes (measured: 2.7 s of CPU and 500 MB in Go, more in C),
// then one bound literal and one Arrow array each (2.4 s, 680 MB). Instead,
// before the parser sees the text, each long list of plain integer or
// string constants after IN is read here and replaced by a placeholder
// name (padded with spaces, so every position in the text stays where it
// was); the binder turns `x IN (placeholder)` into one set of values, which
// the plan carries as such (InListExpr.int_set, string_set) and the engine
// holds as one hash set. Planning a million integers then costs one pass
// over the text.

// minLongList is the number of constants from which an IN list is read as
// a set; shorter lists are parsed and bound one constant at a time.
const minLongList = 256

// longList is the constants of one long IN list: all integers or all
// strings.
type longList struct {
	n      int  // how many
	isInts bool // integers, else strings
	ints   []int64
	strs   []string
	pos    int32 // offset of the list's "(" in the SQL text
	// digest identifies the values, for expression keys.
	digest uint64
}

func (l *longList) len() int { return l.n }

// nodes are the constants as PostgreSQL's parser gives them, for an IN
// whose tested value is of a type the set does not apply to.
func (l *longList) nodes() []*pg.Node {
	out := make([]*pg.Node, 0, l.len())
	for _, v := range l.ints {
		c := &pg.A_Const{Location: l.pos}
		// The lexer reads the digits without the sign: those that fit an
		// int4 are an integer, longer ones a numeric (negated as text).
		if v >= -math.MaxInt32 && v <= math.MaxInt32 {
			c.Val = &pg.A_Const_Ival{Ival: &pg.Integer{Ival: int32(v)}}
		} else {
			c.Val = &pg.A_Const_Fval{Fval: &pg.Float{Fval: strconv.FormatInt(v, 10)}}
		}
		out = append(out, &pg.Node{Node: &pg.Node_AConst{AConst: c}})
	}
	for _, s := range l.strs {
		out = append(out, &pg.Node{Node: &pg.Node_AConst{AConst: &pg.A_Const{Location: l.pos, Val: &pg.A_Const_Sval{Sval: &pg.String{Sval: s}}}}})
	}
	return out
}

// longLists finds the long IN lists of sql in its code (not inside
// strings, quoted names or comments) and returns the text with each one
// replaced by "(name)" and spaces, and the lists by name (with their
// values when keep is set). It returns sql itself and no lists when there
// are none. Only lists of integers (optionally negative, within int64) or
// of standard strings ('…'), one kind per list, are taken; anything else
// is left to the parser.
func longLists(sql string, keep bool) (string, map[string]*longList) {
	if len(sql) < 2*minLongList {
		return sql, nil
	}
	var out strings.Builder
	done := 0 // sql[:done] is in out
	var lists map[string]*longList
	prefix := ""
	afterIn := false // the last token was the word IN
	for i := 0; i < len(sql); {
		c := sql[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			i++
			continue
		case c == '\'':
			i = skipQuoted(sql, i, '\'', false)
		case c == '"':
			i = skipQuoted(sql, i, '"', false)
		case c == '-' && i+1 < len(sql) && sql[i+1] == '-':
			if j := strings.IndexByte(sql[i:], '\n'); j >= 0 {
				i += j + 1
			} else {
				i = len(sql)
			}
		case c == '/' && i+1 < len(sql) && sql[i+1] == '*':
			i = skipComment(sql, i)
		case c == '$':
			i = skipDollar(sql, i)
		case identStart(c):
			j := i + 1
			for j < len(sql) && identChar(sql[j]) {
				j++
			}
			word := sql[i:j]
			i = j
			if i < len(sql) && sql[i] == '\'' && (word == "e" || word == "E") {
				i = skipQuoted(sql, i, '\'', true)
				break
			}
			afterIn = strings.EqualFold(word, "in")
			continue
		case c >= '0' && c <= '9':
			for i < len(sql) && (identChar(sql[i]) || sql[i] == '.') {
				i++
			}
		case c == '(' && afterIn:
			end, l, ok := readList(sql, i, keep)
			if !ok || l.len() < minLongList {
				i++
				break
			}
			if lists == nil {
				lists = map[string]*longList{}
				out.Grow(len(sql))
				prefix = placeholderPrefix(sql)
			}
			name := prefix + strconv.Itoa(len(lists))
			l.pos = int32(i)
			lists[name] = l
			// "(name" then spaces up to the list's ")".
			out.WriteString(sql[done : i+1])
			out.WriteString(name)
			for k := i + 1 + len(name); k < end; k++ {
				out.WriteByte(' ')
			}
			done = end
			i = end + 1
		default:
			i++
		}
		afterIn = false
	}
	if lists == nil {
		return sql, nil
	}
	out.WriteString(sql[done:])
	return out.String(), lists
}

// placeholderPrefix is a name for long lists that sql does not contain in
// any case.
func placeholderPrefix(sql string) string {
	p := "kapot_in_list_"
	for containsFold(sql, p) {
		p += "x_"
	}
	return p
}

// containsFold reports whether s contains sub, a lower-case ASCII word,
// in any case.
func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i]|0x20 == sub[0] && strings.EqualFold(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}

func identStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c >= 0x80
}

func identChar(c byte) bool { return identStart(c) || c >= '0' && c <= '9' || c == '$' }

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

// skipQuoted returns the offset after the quoted text opening at i (a
// doubled quote stands for itself; with backslash, so does \x).
func skipQuoted(s string, i int, q byte, backslash bool) int {
	for j := i + 1; j < len(s); j++ {
		switch {
		case backslash && s[j] == '\\':
			j++
		case s[j] == q:
			if j+1 < len(s) && s[j+1] == q {
				j++
				continue
			}
			return j + 1
		}
	}
	return len(s)
}

// skipComment returns the offset after the (nested) /* comment */ at i.
func skipComment(s string, i int) int {
	depth := 0
	for j := i; j+1 < len(s); j++ {
		switch {
		case s[j] == '/' && s[j+1] == '*':
			depth++
			j++
		case s[j] == '*' && s[j+1] == '/':
			depth--
			j++
			if depth == 0 {
				return j + 1
			}
		}
	}
	return len(s)
}

// skipDollar returns the offset after a $tag$ … $tag$ string at i, or
// after the $ (or $n parameter) when none opens there.
func skipDollar(s string, i int) int {
	j := i + 1
	if j < len(s) && s[j] >= '0' && s[j] <= '9' {
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		return j
	}
	for j < len(s) && identChar(s[j]) && s[j] != '$' {
		j++
	}
	if j >= len(s) || s[j] != '$' {
		return i + 1
	}
	tag := s[i : j+1]
	if k := strings.Index(s[j+1:], tag); k >= 0 {
		return j + 1 + k + len(tag)
	}
	return len(s)
}

// readList reads "(c, c, …)" at i: integers or standard strings, one kind.
// end is the offset of the ")". With keep, l holds the values; without,
// only how many there are.
func readList(s string, i int, keep bool) (end int, l *longList, ok bool) {
	l = &longList{}
	end, ok = walkList(s, i, l, false)
	if !ok || !keep || l.n < minLongList {
		return end, l, ok
	}
	// Again, into slices of the right size.
	if l.isInts {
		l.ints = make([]int64, 0, l.n)
	} else {
		l.strs = make([]string, 0, l.n)
	}
	walkList(s, i, l, true)
	return end, l, true
}

// walkList reads the list at i, counting its values in l.n and its kind
// in l.isInts; with keep, it appends them and sets l.digest too.
func walkList(s string, i int, l *longList, keep bool) (end int, ok bool) {
	// FNV-1a over the values, for the digest.
	const prime = 1099511628211
	h := uint64(14695981039346656037)
	n := 0
	j := i + 1
	for {
		for j < len(s) && isSpace(s[j]) {
			j++
		}
		if j >= len(s) {
			return 0, false
		}
		switch c := s[j]; {
		case c == '\'':
			if n > 0 && l.isInts {
				return 0, false
			}
			k := skipQuoted(s, j, '\'', false)
			if k > len(s) || s[k-1] != '\'' || k-j < 2 {
				return 0, false
			}
			v := s[j+1 : k-1]
			if !utf8.ValidString(v) {
				return 0, false
			}
			if keep {
				v = strings.ReplaceAll(v, "''", "'")
				l.strs = append(l.strs, v)
				for b := 0; b < len(v); b++ {
					h = (h ^ uint64(v[b])) * prime
				}
				h = (h ^ 0xff) * prime // no string byte is 0xff
			}
			j = k
		case c == '-' || c >= '0' && c <= '9':
			if n > 0 && !l.isInts {
				return 0, false
			}
			l.isInts = true
			k := j
			if c == '-' {
				k++
				for k < len(s) && isSpace(s[k]) {
					k++
				}
			}
			start := k
			var u uint64 // the digits' value, at most 2^63
			for k < len(s) && s[k] >= '0' && s[k] <= '9' {
				if u > (1<<63-9)/10 && (u > 1<<63/10 || u*10+uint64(s[k]-'0') > 1<<63) {
					return 0, false // a numeric, not an int8
				}
				u = u*10 + uint64(s[k]-'0')
				k++
			}
			if k == start || k < len(s) && (identChar(s[k]) || s[k] == '.') || u == 1<<63 && c != '-' {
				return 0, false
			}
			if keep {
				v := int64(u)
				if c == '-' {
					v = -v
				}
				l.ints = append(l.ints, v)
				h = (h ^ uint64(v)) * prime
			}
			j = k
		default:
			return 0, false
		}
		n++
		for j < len(s) && isSpace(s[j]) {
			j++
		}
		if j >= len(s) {
			return 0, false
		}
		switch s[j] {
		case ',':
			j++
		case ')':
			l.n, l.digest = n, h
			return j, true
		default:
			return 0, false
		}
	}
}

// placeholdersAreNames reports whether each list's placeholder is a name
// token of the scanned text (and so was code, not inside a string or a
// comment, in the original text).
func placeholdersAreNames(tokens []*pg.ScanToken, lists map[string]*longList) bool {
	names := map[int32]bool{}
	for _, t := range tokens {
		if t.GetToken() == pg.Token_IDENT {
			names[t.GetStart()] = true
		}
	}
	for _, l := range lists {
		if !names[l.pos+1] {
			return false
		}
	}
	return true
}

// longListOf returns the long list an IN list of one placeholder stands
// for, or nil.
func (b *binder) longListOf(items []*pg.Node) *longList {
	if len(items) != 1 || b.lists == nil {
		return nil
	}
	cr := items[0].GetColumnRef()
	if cr == nil || len(cr.GetFields()) != 1 {
		return nil
	}
	return b.lists[cr.GetFields()[0].GetString_().GetSval()]
}

// inSet binds l [NOT] IN (the list's values) as one set when the values
// compare with l as they are: integers with a signed integer, strings with
// a string. Otherwise it returns nil and the caller binds the values one by
// one, as the parser would have given them.
func inSet(l *expr, list *longList, negated bool) *expr {
	if l.typ == nil {
		return nil
	}
	switch {
	case list.isInts && arrow.IsSignedInteger(l.typ.ID()):
	case !list.isInts && (l.typ.ID() == arrow.STRING || l.typ.ID() == arrow.LARGE_STRING):
	default:
		return nil
	}
	return &expr{kind: eInList, args: []*expr{l}, set: list, negated: negated, typ: arrow.FixedWidthTypes.Boolean}
}
