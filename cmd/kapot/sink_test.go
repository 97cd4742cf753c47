package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

func sinkBatch(t *testing.T, mem memory.Allocator, ids []int64, names []string, nulls []bool) arrow.RecordBatch {
	t.Helper()
	schema := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "name", Type: arrow.BinaryTypes.String, Nullable: true}}, nil)
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	b.Field(0).(*array.Int64Builder).AppendValues(ids, nil)
	valid := make([]bool, len(nulls))
	for i, n := range nulls {
		valid[i] = !n
	}
	b.Field(1).(*array.StringBuilder).AppendValues(names, valid)
	return b.NewRecordBatch()
}

func TestSinks(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	b1 := sinkBatch(t, mem, []int64{1, 22}, []string{"a", "NULL"}, []bool{false, false})
	defer b1.Release()
	b2 := sinkBatch(t, mem, []int64{333}, []string{""}, []bool{true})
	defer b2.Release()
	for _, tc := range []struct{ format, want string }{
		{"csv", "id,name\n1,a\n22,NULL\n333,NULL\n"},
		{"json", `{"id":"1","name":"a"}` + "\n" + `{"id":"22","name":"NULL"}` + "\n" + `{"id":"333","name":null}` + "\n"},
		{"table", "+-----+------+\n| id  | name |\n+-----+------+\n| 1   | a    |\n| 22  | NULL |\n| 333 | NULL |\n+-----+------+\n"},
	} {
		var buf bytes.Buffer
		s := newSink(&buf, tc.format, b1.Schema())
		for _, b := range []arrow.RecordBatch{b1, b2} {
			if err := s.Write(b); err != nil {
				t.Fatal(err)
			}
		}
		n, err := s.Close()
		if err != nil || n != 3 {
			t.Fatalf("%s: %d rows, %v", tc.format, n, err)
		}
		if buf.String() != tc.want {
			t.Errorf("%s:\n%s\nwant\n%s", tc.format, buf.String(), tc.want)
		}
	}
}

// TestTableSinkStreams: past its preview the table sink writes each batch
// as it comes (it holds at most tablePreviewRows rows).
func TestTableSinkStreams(t *testing.T) {
	mem := memory.NewGoAllocator()
	var buf bytes.Buffer
	ids := make([]int64, tablePreviewRows)
	names := make([]string, tablePreviewRows)
	b := sinkBatch(t, mem, ids, names, make([]bool, tablePreviewRows))
	defer b.Release()
	s := newSink(&buf, "table", b.Schema())
	if err := s.Write(b); err != nil {
		t.Fatal(err)
	}
	before := buf.Len()
	if before == 0 {
		t.Fatal("nothing written after a full preview")
	}
	if err := s.Write(b); err != nil {
		t.Fatal(err)
	}
	if buf.Len() <= before || len(s.(*tableSink).preview) != 0 {
		t.Fatal("the second batch was held back")
	}
	s.Close()
	if lines := strings.Count(buf.String(), "\n"); lines != 2*tablePreviewRows+4 {
		t.Fatalf("%d lines", lines)
	}
}
