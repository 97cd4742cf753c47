package pgwire

import (
	"context"
	"strings"
	"testing"

	"github.com/kapot-go/kapot/catalog"
	"github.com/kapot-go/kapot/session"
	"github.com/kapot-go/kapot/warehouse"
)

// TestTransactionStatements: BEGIN/COMMIT mark a block ('T', and 'E'
// after an error, as ReadyForQuery says), ROLLBACK of a block that wrote
// is an error that says the writes stay, savepoints, SET TRANSACTION and
// READ ONLY blocks.
func TestTransactionStatements(t *testing.T) {
	addr := serve(t, func(c *Config) {
		cat := catalog.New()
		wh := &warehouse.Warehouse{Root: t.TempDir(), Store: cat.Store()}
		c.Backend = &session.Local{Cat: cat, Tables: &warehouse.Tables{Catalog: cat, Store: cat.Store(), Warehouse: wh}}
	})
	c, err := connect(t, addr, "sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pc := c.PgConn()
	exec := func(sql string) error {
		t.Helper()
		_, err := pc.Exec(ctx, sql).ReadAll()
		return err
	}
	status := func(want byte) {
		t.Helper()
		if got := pc.TxStatus(); got != want {
			t.Fatalf("transaction status %q, want %q", got, want)
		}
	}
	mustFail := func(sql, code, text string) {
		t.Helper()
		err := exec(sql)
		if err == nil || !strings.Contains(err.Error(), "SQLSTATE "+code) || !strings.Contains(err.Error(), text) {
			t.Fatalf("%s: %v, want SQLSTATE %s and %q", sql, err, code, text)
		}
	}
	status('I')
	for _, sql := range []string{"BEGIN", "START TRANSACTION ISOLATION LEVEL READ COMMITTED", "BEGIN READ WRITE"} {
		if err := exec(sql); err != nil {
			t.Fatal(err)
		}
		status('T')
		if err := exec("SELECT current_user"); err != nil {
			t.Fatal(err)
		}
		if err := exec("COMMIT"); err != nil {
			t.Fatal(err)
		}
		status('I')
	}
	// A block without writes rolls back; one with writes says it cannot.
	for _, sql := range []string{"BEGIN", "SAVEPOINT a", "SELECT current_user", "RELEASE SAVEPOINT a", "ROLLBACK"} {
		if err := exec(sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	status('I')
	if err := exec("BEGIN; CREATE VIEW tx_v AS SELECT 1 AS x; SAVEPOINT s; SELECT current_user"); err != nil {
		t.Fatal(err)
	}
	if err := exec("ROLLBACK TO SAVEPOINT s"); err != nil {
		t.Fatalf("rolling back to a savepoint after no write: %v", err)
	}
	mustFail("ROLLBACK", "25000", "ROLLBACK cannot undo what this block wrote: CREATE VIEW tx_v")
	status('I')
	if err := exec("SELECT relname FROM pg_class WHERE relname = 'tx_v'"); err != nil {
		t.Fatal(err)
	}
	// An error fails the block: statements are refused until it ends;
	// COMMIT of a failed block is a ROLLBACK.
	if err := exec("BEGIN"); err != nil {
		t.Fatal(err)
	}
	mustFail("SELECT * FROM pg_catalog.pg_nosuch", "0A000", "pg_nosuch")
	status('E')
	mustFail("SELECT current_user", "25P02", "current transaction is aborted")
	res := pc.Exec(ctx, "COMMIT")
	rs, err := res.ReadAll()
	if err != nil || len(rs) != 1 || rs[0].CommandTag.String() != "ROLLBACK" {
		t.Fatalf("COMMIT of a failed block: %v %v", rs, err)
	}
	status('I')
	// ROLLBACK TO SAVEPOINT recovers a failed block (pgjdbc's autosave).
	if err := exec("BEGIN; SAVEPOINT a"); err != nil {
		t.Fatal(err)
	}
	mustFail("SELECT * FROM pg_catalog.pg_nosuch", "0A000", "pg_nosuch")
	if err := exec("ROLLBACK TO SAVEPOINT a; SELECT current_user; COMMIT"); err != nil {
		t.Fatal(err)
	}
	// Read-only blocks refuse writes; isolation levels kapot cannot give
	// are refused.
	if err := exec("BEGIN; SET TRANSACTION READ ONLY"); err != nil {
		t.Fatal(err)
	}
	mustFail("CREATE VIEW tx_w AS SELECT 1 AS x", "25006", "read-only transaction")
	if err := exec("ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	mustFail("BEGIN ISOLATION LEVEL SERIALIZABLE", "0A000", "isolation level serializable")
	status('I')
	mustFail("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL REPEATABLE READ", "0A000", "repeatable read")
	if err := exec("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED"); err != nil {
		t.Fatal(err)
	}
	mustFail("SAVEPOINT a", "25P01", "transaction blocks")
	// A read-only session (pgjdbc's setReadOnly with readOnlyMode=always)
	// refuses writes, in blocks too unless they say READ WRITE.
	if err := exec("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY"); err != nil {
		t.Fatal(err)
	}
	mustFail("CREATE VIEW tx_r AS SELECT 1 AS x", "25006", "read-only transaction")
	if err := exec("BEGIN READ WRITE; CREATE VIEW tx_r AS SELECT 1 AS x; COMMIT; SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE; DROP VIEW tx_r"); err != nil {
		t.Fatal(err)
	}
	var s string
	if err := c.QueryRow(ctx, "SHOW transaction isolation level").Scan(&s); err != nil || s != "read committed" {
		t.Fatalf("SHOW transaction isolation level: %q %v", s, err)
	}
}

// TestCursors: DECLARE, FETCH, MOVE and CLOSE over a catalog query (no
// cluster), in the simple and the extended protocol.
func TestCursors(t *testing.T) {
	addr := serve(t, nil)
	c, err := connect(t, addr, "sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pc := c.PgConn()
	if _, err := pc.Exec(ctx, "DECLARE c CURSOR FOR SELECT name FROM pg_settings ORDER BY name").ReadAll(); err == nil || !strings.Contains(err.Error(), "25P01") {
		t.Fatalf("DECLARE outside a block: %v", err)
	}
	if _, err := pc.Exec(ctx, "BEGIN; DECLARE c CURSOR FOR SELECT name FROM pg_settings ORDER BY name").ReadAll(); err != nil {
		t.Fatal(err)
	}
	var all []string
	rs, err := pc.Exec(ctx, "FETCH 2 FROM c; MOVE FORWARD 1 IN c; FETCH NEXT FROM c").ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 3 || len(rs[0].Rows) != 2 || rs[0].CommandTag.String() != "FETCH 2" || rs[1].CommandTag.String() != "MOVE 1" || len(rs[2].Rows) != 1 {
		t.Fatalf("FETCH 2, MOVE 1, FETCH NEXT: %+v", rs)
	}
	all = append(all, string(rs[0].Rows[0][0]), string(rs[0].Rows[1][0]), string(rs[2].Rows[0][0]))
	// The extended protocol (pgx's Query) fetches the rest.
	rows, err := c.Query(ctx, "FETCH ALL FROM c")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		n++
	}
	if rows.Err() != nil || n == 0 {
		t.Fatalf("FETCH ALL: %d rows, %v", n, rows.Err())
	}
	if all[0] != "DateStyle" || all[1] != "IntervalStyle" || all[2] != "application_name" {
		t.Fatalf("fetched %v", all)
	}
	rs, err = pc.Exec(ctx, "FETCH 5 FROM c; COMMIT").ReadAll()
	if err != nil || len(rs[0].Rows) != 0 || rs[0].CommandTag.String() != "FETCH 0" {
		t.Fatalf("FETCH past the end: %+v %v", rs, err)
	}
	// The block's end closed c; WITH HOLD cursors outlive it.
	if _, err := pc.Exec(ctx, "FETCH 1 FROM c").ReadAll(); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("FETCH after COMMIT: %v", err)
	}
	if _, err := pc.Exec(ctx, "DECLARE h CURSOR WITH HOLD FOR SELECT relname FROM pg_class; FETCH 1 FROM h; CLOSE h").ReadAll(); err != nil {
		t.Fatal(err)
	}
	if _, err := pc.Exec(ctx, "BEGIN; DECLARE s SCROLL CURSOR FOR SELECT 1").ReadAll(); err == nil || !strings.Contains(err.Error(), "0A000") {
		t.Fatalf("SCROLL: %v", err)
	}
	if _, err := pc.Exec(ctx, "ROLLBACK").ReadAll(); err != nil {
		t.Fatal(err)
	}
}
