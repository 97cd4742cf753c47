package catalog

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
	"gopkg.in/yaml.v3"

	"github.com/kapot-go/kapot/objstore"
)

// Table definitions: CREATE EXTERNAL TABLE's, as a statement states them,
// as a YAML file lists them, and as a directory of Parquet tables holds
// them.

// ExternalTable is the definition of an external table, as CREATE
// EXTERNAL TABLE states it.
type ExternalTable struct {
	Name      string
	Format    string // "parquet" or "csv"
	Header    bool   // CSV: the first line names the columns
	Delimiter string // CSV: one character; "" is a comma
	Location  string // a file, a directory, s3://bucket/prefix or an http(s) URL
	// IfNotExists leaves an existing table of that name as it is.
	IfNotExists bool
	// PartitionBy names the Hive partition columns (Parquet only): each
	// file lies under col=value/ directories whose values are those
	// columns' values for its rows.
	PartitionBy []string
}

// SQL is the definition as one canonical CREATE EXTERNAL TABLE statement
// (without IF NOT EXISTS): two definitions are the same table exactly when
// their SQL is equal, and parsing it gives the definition back.
func (d *ExternalTable) SQL() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "CREATE EXTERNAL TABLE %s STORED AS %s", QuoteIdent(d.Name), strings.ToUpper(d.Format))
	if d.Header {
		sb.WriteString(" WITH HEADER ROW")
	}
	if d.Delimiter != "" {
		fmt.Fprintf(&sb, " DELIMITER %s", quoteString(d.Delimiter))
	}
	if len(d.PartitionBy) > 0 {
		quoted := make([]string, len(d.PartitionBy))
		for i, c := range d.PartitionBy {
			quoted[i] = QuoteIdent(c)
		}
		fmt.Fprintf(&sb, " PARTITIONED BY (%s)", strings.Join(quoted, ", "))
	}
	fmt.Fprintf(&sb, " LOCATION %s", quoteString(d.Location))
	return sb.String()
}

// QuoteIdent writes a name so that PostgreSQL's lexer reads it back
// unchanged: bare when it is lower-case letters, digits and underscores
// (and not a keyword), else in double quotes.
func QuoteIdent(s string) string {
	bare := s != "" && (s[0] < '0' || s[0] > '9')
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			bare = false
		}
	}
	if bare {
		if r, err := pg.Scan(s); err == nil && len(r.GetTokens()) == 1 && r.GetTokens()[0].GetToken() == pg.Token_IDENT {
			return s
		}
	}
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

func quoteString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// TableSpec declares an external table in a YAML config file:
//
//	tables:
//	  - name: lineitem
//	    format: parquet          # or csv
//	    location: /data/lineitem # a file or a directory
//	    header: true             # csv only
//	    delimiter: "|"           # csv only
type TableSpec struct {
	Name      string `yaml:"name"`
	Format    string `yaml:"format"`
	Location  string `yaml:"location"`
	Header    bool   `yaml:"header"`
	Delimiter string `yaml:"delimiter"`
}

// LoadTables registers the tables of a YAML file's `tables:` list (see
// LoadTableDefs).
func (c *Catalog) LoadTables(path string) (int, error) {
	defs, err := LoadTableDefs(path)
	if err != nil {
		return 0, err
	}
	for i, d := range defs {
		t, err := c.Resolve(context.Background(), d, nil)
		if err != nil {
			return 0, fmt.Errorf("%s: tables[%d]: %w", path, i, err)
		}
		if err := c.Register(t); err != nil {
			return 0, err
		}
	}
	return len(defs), nil
}

// LoadTableDefs reads the table definitions of a YAML file's `tables:`
// list; other keys are left to their owners. Unknown table keys are
// errors. Relative locations are taken from the working directory and
// made absolute.
func LoadTableDefs(path string) ([]*ExternalTable, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Tables yaml.Node `yaml:"tables"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if doc.Tables.Kind == 0 {
		return nil, nil
	}
	var specs []TableSpec
	dec := doc.Tables
	if err := decodeStrict(&dec, &specs); err != nil {
		return nil, fmt.Errorf("%s: tables: %w", path, err)
	}
	var out []*ExternalTable
	for i, s := range specs {
		format := strings.ToLower(s.Format)
		if format == "" {
			format = "parquet"
		}
		if s.Name == "" || s.Location == "" || (format != "parquet" && format != "csv") {
			return nil, fmt.Errorf("%s: tables[%d]: needs a name, a location and format parquet or csv", path, i)
		}
		if len([]rune(s.Delimiter)) > 1 {
			return nil, fmt.Errorf("%s: tables[%d]: delimiter %q must be one character", path, i, s.Delimiter)
		}
		if format != "csv" && (s.Header || s.Delimiter != "") {
			return nil, fmt.Errorf("%s: tables[%d]: header and delimiter apply to csv tables only", path, i)
		}
		loc, err := absLocation(s.Location)
		if err != nil {
			return nil, fmt.Errorf("%s: tables[%d]: %w", path, i, err)
		}
		out = append(out, &ExternalTable{Name: s.Name, Format: format, Header: s.Header, Delimiter: s.Delimiter, Location: loc})
	}
	return out, nil
}

// absLocation makes a local location absolute (a scheduler elsewhere
// reads it from its own working directory); URLs are kept as written.
func absLocation(loc string) (string, error) {
	if objstore.IsRemote(loc) {
		return loc, nil
	}
	return filepath.Abs(loc)
}

// ParquetDirDefs are the definitions of tables named names whose Parquet
// files lie under dir, each in a directory dir/<name>/ or a file
// dir/<name>.parquet (as kapot tpch gen writes them: pass tpch.Tables),
// with absolute locations.
func ParquetDirDefs(dir string, names []string) ([]*ExternalTable, error) {
	var out []*ExternalTable
	for _, name := range names {
		var files []string
		for _, pattern := range []string{filepath.Join(dir, name, "*.parquet"), filepath.Join(dir, name, "*.csv"), filepath.Join(dir, name+".parquet")} {
			m, err := filepath.Glob(pattern)
			if err != nil {
				return nil, err
			}
			files = append(files, m...)
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("no files for table %s under %s", name, dir)
		}
		for _, f := range files {
			if !strings.EqualFold(filepath.Ext(f), ".parquet") {
				return nil, fmt.Errorf("%s: not supported yet: tables of %s files here (generate Parquet)", f, filepath.Ext(f))
			}
		}
		loc := filepath.Join(dir, name)
		if st, err := os.Stat(loc); err != nil || !st.IsDir() {
			loc += ".parquet"
		}
		loc, err := filepath.Abs(loc)
		if err != nil {
			return nil, err
		}
		out = append(out, &ExternalTable{Name: name, Format: "parquet", Location: loc})
	}
	return out, nil
}

// decodeStrict decodes a YAML node rejecting unknown fields.
func decodeStrict(n *yaml.Node, out any) error {
	b, err := yaml.Marshal(n)
	if err != nil {
		return err
	}
	d := yaml.NewDecoder(strings.NewReader(string(b)))
	d.KnownFields(true)
	return d.Decode(out)
}
