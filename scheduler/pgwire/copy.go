package pgwire

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgproto3"
	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/kapot-go/kapot/session"
)

// copyFormat is how COPY … TO STDOUT writes rows: PostgreSQL's text
// format (tab-separated, \N for NULL) or CSV.
type copyFormat struct {
	csv    bool
	header bool
	delim  byte
	null   string
	names  []string
}

// response is the CopyOutResponse of n text columns.
func (f *copyFormat) response(n int) *pgproto3.CopyOutResponse {
	return &pgproto3.CopyOutResponse{OverallFormat: 0, ColumnFormatCodes: make([]uint16, n)}
}

// headerLine is the CSV header, nil without one.
func (f *copyFormat) headerLine() []byte {
	if !f.header {
		return nil
	}
	vals := make([][]byte, len(f.names))
	for i, n := range f.names {
		vals[i] = []byte(n)
	}
	return f.line(vals)
}

// line is one row of text values (nil: NULL) in the format.
func (f *copyFormat) line(vals [][]byte) []byte {
	var b bytes.Buffer
	for i, v := range vals {
		if i > 0 {
			b.WriteByte(f.delim)
		}
		switch {
		case v == nil:
			b.WriteString(f.null)
		case f.csv:
			if len(v) == 0 || bytes.IndexByte(v, f.delim) >= 0 || bytes.ContainsAny(v, "\"\r\n") || string(v) == f.null {
				b.WriteByte('"')
				b.Write(bytes.ReplaceAll(v, []byte(`"`), []byte(`""`)))
				b.WriteByte('"')
			} else {
				b.Write(v)
			}
		default:
			for _, c := range v {
				switch c {
				case '\\':
					b.WriteString(`\\`)
				case '\n':
					b.WriteString(`\n`)
				case '\r':
					b.WriteString(`\r`)
				case '\t':
					b.WriteString(`\t`)
				default:
					if c == f.delim {
						b.WriteByte('\\')
					}
					b.WriteByte(c)
				}
			}
		}
	}
	b.WriteByte('\n')
	return b.Bytes()
}

// copyTo answers COPY (query) TO STDOUT and COPY table [(columns)] TO
// STDOUT: the query's rows, as CopyData.
func (c *conn) copyTo(ctx context.Context, cs *pg.CopyStmt, version int32) (*answer, error) {
	f := &copyFormat{delim: '\t', null: `\N`}
	for _, o := range cs.GetOptions() {
		d := o.GetDefElem()
		val := ""
		if a := d.GetArg(); a != nil {
			switch {
			case a.GetString_() != nil:
				val = a.GetString_().GetSval()
			case a.GetInteger() != nil:
				val = fmt.Sprint(a.GetInteger().GetIval())
			case a.GetBoolean() != nil:
				val = fmt.Sprint(a.GetBoolean().GetBoolval())
			}
		}
		switch strings.ToLower(d.GetDefname()) {
		case "format":
			switch strings.ToLower(val) {
			case "text":
			case "csv":
				f.csv, f.delim, f.null = true, ',', ""
			default:
				return nil, fmt.Errorf("%w: COPY format %s", errNotSupported, val)
			}
		case "header":
			f.header = val == "" || val == "true" || val == "1" || strings.EqualFold(val, "on")
		case "delimiter":
			if len(val) != 1 {
				return nil, fmt.Errorf("%w: COPY delimiter must be one byte", errInvalidParam)
			}
			f.delim = val[0]
		case "null":
			f.null = val
		default:
			return nil, fmt.Errorf("%w: COPY option %s", errNotSupported, d.GetDefname())
		}
	}
	var sql string
	if q := cs.GetQuery(); q != nil {
		text, err := pg.Deparse(&pg.ParseResult{Version: version, Stmts: []*pg.RawStmt{{Stmt: q}}})
		if err != nil {
			return nil, fmt.Errorf("%w: COPY of this query: %v", errNotSupported, err)
		}
		sql = text
	} else {
		cols := "*"
		if len(cs.GetAttlist()) > 0 {
			var names []string
			for _, a := range cs.GetAttlist() {
				names = append(names, quoteIdent(a.GetString_().GetSval()))
			}
			cols = strings.Join(names, ", ")
		}
		sql = "SELECT " + cols + " FROM " + quoteIdent(cs.GetRelation().GetRelname())
	}
	a, err := session.Execute(ctx, c.s.cfg.Backend, sql, c.props, c.who)
	if err != nil {
		return nil, err
	}
	if a.Query == nil || a.Query.Write != nil || a.Query.Analyze {
		return nil, fmt.Errorf("%w: COPY … TO STDOUT of anything but a query", errNotSupported)
	}
	for _, fl := range a.Query.Plan.Schema.Fields() {
		f.names = append(f.names, fl.Name)
	}
	return &answer{tag: "COPY", counted: true, query: a.Query, schema: a.Query.Plan.Schema, copyOut: f}, nil
}

// quoteIdent is name as a quoted SQL identifier.
func quoteIdent(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }

// startCopy sends the CopyOutResponse of n columns and the header line.
func (c *conn) startCopy(f *copyFormat, n int) {
	c.be.Send(f.response(n))
	if h := f.headerLine(); h != nil {
		c.be.Send(&pgproto3.CopyData{Data: h})
	}
	c.pending++
}
