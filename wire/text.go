package wire

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// TextSchema is the schema of a small all-text result (SHOW TABLES,
// DESCRIBE, EXPLAIN): one nullable string column per name.
func TextSchema(columns []string) *arrow.Schema {
	fields := make([]arrow.Field, len(columns))
	for i, c := range columns {
		fields[i] = arrow.Field{Name: c, Type: arrow.BinaryTypes.String, Nullable: true}
	}
	return arrow.NewSchema(fields, nil)
}

// TextBatch builds one record batch of schema (string columns only) from
// rows of text; a row of the wrong width is an error. The caller
// releases the batch.
func TextBatch(mem memory.Allocator, schema *arrow.Schema, rows [][]string) (arrow.RecordBatch, error) {
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	for n, r := range rows {
		if len(r) != schema.NumFields() {
			return nil, fmt.Errorf("row %d has %d values for %d columns: %w", n, len(r), schema.NumFields(), ErrInvalidPlan)
		}
		for i, v := range r {
			sb, ok := b.Field(i).(*array.StringBuilder)
			if !ok {
				return nil, fmt.Errorf("column %d is %s, not text: %w", i, schema.Field(i).Type, ErrInvalidPlan)
			}
			sb.Append(v)
		}
	}
	return b.NewRecordBatch(), nil
}
