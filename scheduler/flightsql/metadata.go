package flightsql

import (
	"context"
	"regexp"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	fsql "github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql/schema_ref"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/kapot-go/kapot/wire"
)

// The catalog metadata Flight SQL clients ask for: catalogs, schemas,
// tables and table types.

// echo is the descriptor a FlightInfo carries back (optional in Flight):
// none for a large one. A statement of megabytes (a long IN list) echoed
// would make the answer larger than clients accept by default (4 MiB in
// the Go and Java clients): the query would fail for its reply.
func echo(desc *flight.FlightDescriptor) *flight.FlightDescriptor {
	if proto.Size(desc) > maxEcho {
		return nil
	}
	return desc
}

// metaInfo is the FlightInfo of a metadata command: one endpoint whose
// ticket is the command itself.
func (f *Server) metaInfo(desc *flight.FlightDescriptor, schema *arrow.Schema) (*flight.FlightInfo, error) {
	return &flight.FlightInfo{Schema: flight.SerializeSchema(schema, f.mem), FlightDescriptor: desc,
		Endpoint: []*flight.FlightEndpoint{{Ticket: &flight.Ticket{Ticket: desc.GetCmd()}}}, TotalRecords: -1, TotalBytes: -1}, nil
}

// GetFlightInfoCatalogs lists the one catalog.
func (f *Server) GetFlightInfoCatalogs(_ context.Context, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	return f.metaInfo(desc, schema_ref.Catalogs)
}

// DoGetCatalogs streams the one catalog.
func (f *Server) DoGetCatalogs(context.Context) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	return f.stringRows(schema_ref.Catalogs, [][]string{{sqlCatalog}})
}

// GetFlightInfoSchemas lists the one schema.
func (f *Server) GetFlightInfoSchemas(_ context.Context, _ fsql.GetDBSchemas, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	return f.metaInfo(desc, schema_ref.DBSchemas)
}

// DoGetDBSchemas streams the schema if it passes the filters.
func (f *Server) DoGetDBSchemas(_ context.Context, cmd fsql.GetDBSchemas) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	var rows [][]string
	if catalogMatches(cmd.GetCatalog()) && likeMatches(cmd.GetDBSchemaFilterPattern(), sqlSchema) {
		rows = append(rows, []string{sqlCatalog, sqlSchema})
	}
	return f.stringRows(schema_ref.DBSchemas, rows)
}

// GetFlightInfoTables lists tables.
func (f *Server) GetFlightInfoTables(_ context.Context, cmd fsql.GetTables, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	if cmd.GetIncludeSchema() {
		return f.metaInfo(desc, schema_ref.TablesWithIncludedSchema)
	}
	return f.metaInfo(desc, schema_ref.Tables)
}

// DoGetTables streams the catalog's tables that pass the filters, with
// their Arrow schemas when asked.
func (f *Server) DoGetTables(_ context.Context, cmd fsql.GetTables) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	schema := schema_ref.Tables
	if cmd.GetIncludeSchema() {
		schema = schema_ref.TablesWithIncludedSchema
	}
	b := array.NewRecordBuilder(f.mem, schema)
	defer b.Release()
	types := cmd.GetTableTypes()
	if catalogMatches(cmd.GetCatalog()) && likeMatches(cmd.GetDBSchemaFilterPattern(), sqlSchema) && (len(types) == 0 || slices.Contains(types, "TABLE")) {
		for _, name := range f.cat.Names() {
			if !likeMatches(cmd.GetTableNameFilterPattern(), name) {
				continue
			}
			t, ok := f.cat.Lookup(name)
			if !ok {
				continue
			}
			b.Field(0).(*array.StringBuilder).Append(sqlCatalog)
			b.Field(1).(*array.StringBuilder).Append(sqlSchema)
			b.Field(2).(*array.StringBuilder).Append(name)
			b.Field(3).(*array.StringBuilder).Append("TABLE")
			if cmd.GetIncludeSchema() {
				b.Field(4).(*array.BinaryBuilder).Append(flight.SerializeSchema(t.Schema, f.mem))
			}
		}
	}
	return oneBatch(schema, b.NewRecordBatch())
}

// GetFlightInfoTableTypes lists the table types.
func (f *Server) GetFlightInfoTableTypes(_ context.Context, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	return f.metaInfo(desc, schema_ref.TableTypes)
}

// DoGetTableTypes streams the one table type.
func (f *Server) DoGetTableTypes(context.Context) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	return f.stringRows(schema_ref.TableTypes, [][]string{{"TABLE"}})
}

// stringRows streams rows into a schema of string columns.
func (f *Server) stringRows(schema *arrow.Schema, rows [][]string) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	b, err := wire.TextBatch(f.mem, schema, rows)
	if err != nil {
		return nil, nil, status.Errorf(codes.Internal, "%v", err)
	}
	return oneBatch(schema, b)
}

func catalogMatches(c *string) bool { return c == nil || *c == "" || *c == sqlCatalog }

// likeMatches applies a Flight SQL filter pattern (SQL LIKE: % and _); a
// nil pattern matches everything.
func likeMatches(pattern *string, s string) bool {
	if pattern == nil {
		return true
	}
	var re strings.Builder
	re.WriteString("^")
	for _, r := range *pattern {
		switch r {
		case '%':
			re.WriteString(".*")
		case '_':
			re.WriteString(".")
		default:
			re.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	re.WriteString("$")
	ok, err := regexp.MatchString(re.String(), s)
	return err == nil && ok
}
