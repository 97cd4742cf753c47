package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kapot-go/kapot/catalog"
	"github.com/kapot-go/kapot/internal/panics"
	"github.com/kapot-go/kapot/session"
)

// TestStatementPanicIsAnError: a panic while a statement is planned or run
// in this process (here: a session without a catalog, a bug) ends the
// statement with "internal error: …", not kapot sql with a crash, and the
// session runs the next statement.
func TestStatementPanicIsAnError(t *testing.T) {
	var out bytes.Buffer
	s := &sqlSession{out: &out, format: "csv", timeout: time.Minute}
	err := s.runContained(context.Background(), "select a from t")
	if !errors.Is(err, panics.ErrInternal) || !strings.HasPrefix(err.Error(), "internal error: ") {
		t.Fatalf("error %v, want an internal error", err)
	}
	s.cat = catalog.New()
	s.local = &session.Local{Cat: s.cat}
	if err := s.runContained(context.Background(), "show tables"); err != nil {
		t.Fatalf("the next statement: %v", err)
	}
}
