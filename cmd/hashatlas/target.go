package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashatlas/hashatlas/sinks/clickhouse"
)

// demoDatabaseDir is where `hashatlas demo` (and `make demo`) leaves its ClickHouse data.
var demoDatabaseDir = filepath.Join(demoOut, "clickhouse")

// runDemoFirst is what every "no hashatlas database here" error ends with.
const runDemoFirst = "run `hashatlas demo` or `hashatlas replay` first"

// readTarget is the ClickHouse that `sql` and `report` read. With neither --clickhouse.addr
// nor --clickhouse.embedded-dir given (on the command line or in the environment), it is the
// demo's database when ./hashatlas-demo/clickhouse exists, else the server at the default
// address; both commands say on stderr which one they read.
type readTarget struct {
	cfg  *clickhouse.Config
	demo bool // the demo's database, chosen because nothing else was configured
	// unset: nothing chose the database (no flag, no variable, no demo database here)
	unset bool
}

// readTargetFlags registers, after the ClickHouse flags, the rule that picks the demo's
// database when nothing else is configured.
func (c *cli) readTargetFlags(cfg *clickhouse.Config) *readTarget {
	t := &readTarget{cfg: cfg}
	c.addValidator(func() error {
		if c.sources["clickhouse.addr"] != "" || c.sources["clickhouse.embedded-dir"] != "" {
			return nil
		}
		if fi, err := os.Stat(demoDatabaseDir); err == nil && fi.IsDir() {
			cfg.EmbeddedDir, t.demo = demoDatabaseDir, true
			c.sources["clickhouse.embedded-dir"] = "default: the demo's database, found in the working directory"
			return nil
		}
		t.unset = true
		return nil
	})
	return t
}

// String says which database is read, e.g. "database hashatlas in the demo's embedded
// ClickHouse at hashatlas-demo/clickhouse".
func (t *readTarget) String() string {
	if t.cfg.EmbeddedDir == "" {
		return fmt.Sprintf("database %s on the ClickHouse server at %s", t.cfg.Database, t.cfg.Addr)
	}
	owner := "the"
	if t.demo {
		owner = "the demo's"
	}
	return fmt.Sprintf("database %s in %s embedded ClickHouse at %s", t.cfg.Database, owner, t.cfg.EmbeddedDir)
}

// announce prints the one line that says which database the command read.
func (t *readTarget) announce(c *cli) {
	line := "reading " + t.String()
	if t.demo {
		line += " (--clickhouse.addr or --clickhouse.embedded-dir reads another)"
	}
	fmt.Fprintln(c.stderr, line)
}

// open checks that the target can hold a hashatlas database before opening it — a
// --clickhouse.embedded-dir that does not exist is never created, and a directory that is not
// a ClickHouse data directory is not written to — and opens it. With needTables (report), the
// database must also hold the hashatlas tables. Every error names the target and says what to
// do.
func (t *readTarget) open(ctx context.Context, c *cli, needTables bool) (*clickhouse.DB, error) {
	if t.cfg.EmbeddedDir != "" {
		if err := checkEmbeddedDir(t.cfg.EmbeddedDir, t.cfg.Database, needTables); err != nil {
			return nil, err
		}
	}
	db, err := c.openClickHouse(ctx, t.cfg)
	if err != nil {
		if t.unset {
			return nil, fmt.Errorf("%w; no --clickhouse.addr or --clickhouse.embedded-dir was given and there is no demo database in %s: run `make demo` first, or point --clickhouse.embedded-dir at a database", err, demoDatabaseDir)
		}
		return nil, err
	}
	if needTables {
		if ok, err := hasHashatlasTables(ctx, db); err != nil {
			return nil, fmt.Errorf("%w (reading %s)", err, t)
		} else if !ok {
			return nil, t.noDatabase()
		}
	}
	return db, nil
}

// noDatabase is the error for a target without the hashatlas tables.
func (t *readTarget) noDatabase() error {
	if t.cfg.EmbeddedDir != "" {
		return fmt.Errorf("no hashatlas database in %s (--clickhouse.embedded-dir, database %s); %s", t.cfg.EmbeddedDir, t.cfg.Database, runDemoFirst)
	}
	return fmt.Errorf("no hashatlas tables in database %s on the ClickHouse server at %s (--clickhouse.addr, --clickhouse.database); run `hashatlas migrate` and `hashatlas replay` (or `estimate`) first, or read the demo's database with --clickhouse.embedded-dir=%s",
		t.cfg.Database, t.cfg.Addr, demoDatabaseDir)
}

// explain turns a failed statement into one line that names the database it ran on, and
// into "no hashatlas database here" when the database has none of the hashatlas tables.
func (t *readTarget) explain(ctx context.Context, db *clickhouse.DB, err error) error {
	if err == nil || errors.Is(err, context.Canceled) {
		return err
	}
	// UNKNOWN_TABLE (60) or UNKNOWN_DATABASE (81) in a database without the hashatlas tables.
	if code, ok := clickhouse.ErrorCode(err); ok && (code == 60 || code == 81) {
		ok, qerr := hasHashatlasTables(ctx, db)
		if qerr == nil && !ok {
			return t.noDatabase()
		}
		if qerr == nil && code == 60 {
			// Some hashatlas tables but not this one: the database predates a migration.
			return fmt.Errorf("%w (reading %s; the database was made by an older hashatlas: `hashatlas migrate` with the same ClickHouse flags adds the missing tables, and the next `estimate` run fills them)", err, t)
		}
	}
	return fmt.Errorf("%w (reading %s)", err, t)
}

// checkEmbeddedDir refuses an embedded directory that cannot be a hashatlas database: one
// that does not exist (opening it would create it), or one with files that is not a
// ClickHouse data directory (the engine would write its own beside them). With needDatabase
// the directory must hold the database too.
func checkEmbeddedDir(dir, database string, needDatabase bool) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("no hashatlas database in %s (--clickhouse.embedded-dir): no such directory%s; %s", dir, didYouMean(dir), runDemoFirst)
	case err != nil:
		return fmt.Errorf("--clickhouse.embedded-dir %s: %w", dir, err)
	case !fi.IsDir():
		return fmt.Errorf("no hashatlas database in %s (--clickhouse.embedded-dir): not a directory", dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("--clickhouse.embedded-dir %s: %w", dir, err)
	}
	if len(entries) == 0 {
		if !needDatabase {
			return nil // an empty directory: sql may create what it likes in it
		}
		return fmt.Errorf("no hashatlas database in %s (--clickhouse.embedded-dir): the directory is empty%s; %s", dir, didYouMean(dir), runDemoFirst)
	}
	if _, err := os.Stat(filepath.Join(dir, "metadata")); err != nil {
		return fmt.Errorf("no hashatlas database in %s (--clickhouse.embedded-dir): it is not a ClickHouse data directory%s; %s", dir, didYouMean(dir), runDemoFirst)
	}
	if needDatabase {
		if _, err := os.Stat(filepath.Join(dir, "metadata", database+".sql")); err != nil {
			return fmt.Errorf("no hashatlas database in %s (--clickhouse.embedded-dir, database %s); %s", dir, database, runDemoFirst)
		}
	}
	return nil
}

// didYouMean suggests a data directory near dir: its clickhouse subdirectory (dir is the
// demo's output directory), else the demo's database in the working directory.
func didYouMean(dir string) string {
	for _, cand := range []string{filepath.Join(dir, "clickhouse"), demoDatabaseDir} {
		if filepath.Clean(cand) == filepath.Clean(dir) {
			continue
		}
		if fi, err := os.Stat(filepath.Join(cand, "metadata")); err == nil && fi.IsDir() {
			return " (did you mean " + cand + "?)"
		}
	}
	return ""
}

// hasHashatlasTables reports whether db's database holds the hashatlas tables (its
// migrations table, which `migrate` creates first).
func hasHashatlasTables(ctx context.Context, db *clickhouse.DB) (bool, error) {
	res, err := db.Query(ctx, "SELECT count() FROM system.tables WHERE database = "+clickhouse.QuoteString(db.Database())+" AND name = 'schema_migrations'")
	if err != nil {
		return false, err
	}
	if len(res.Rows) != 1 {
		return false, nil
	}
	n, _ := res.Rows[0][0].(uint64)
	return n > 0, nil
}

// httpProbeAfter is how long opening a server may take before hashatlas asks whether the
// address is ClickHouse's HTTP interface rather than its native one (a native-protocol
// handshake with an HTTP port waits for the dial timeout, 10 s, twice).
const httpProbeAfter = 500 * time.Millisecond

// openServerOrExplain opens the ClickHouse that cfg names; when a server is slow to answer or
// its handshake fails, it asks each address whether it speaks HTTP, and if one does, fails at
// once saying that the native port (9000) is wanted.
func openServerOrExplain(ctx context.Context, cfg *clickhouse.Config, open func(context.Context) (*clickhouse.DB, error)) (*clickhouse.DB, error) {
	if cfg.EmbeddedDir != "" {
		return open(ctx)
	}
	type result struct {
		db  *clickhouse.DB
		err error
	}
	done := make(chan result, 1)
	octx, cancel := context.WithCancel(ctx)
	go func() {
		db, err := open(octx)
		done <- result{db, err}
	}()
	timer := time.NewTimer(httpProbeAfter)
	defer timer.Stop()
	select {
	case r := <-done:
		cancel()
		if r.err != nil && strings.Contains(r.err.Error(), "handshake") {
			if err := httpPortError(ctx, cfg); err != nil {
				return nil, err
			}
		}
		return r.db, r.err
	case <-timer.C:
	}
	if err := httpPortError(ctx, cfg); err != nil {
		cancel()
		go func() { // the abandoned open, should it succeed after all
			if r := <-done; r.db != nil {
				_ = r.db.Close()
			}
		}()
		return nil, err
	}
	r := <-done
	cancel()
	return r.db, r.err
}

// httpPortError returns the error for the first address in cfg that answers HTTP, or nil.
func httpPortError(ctx context.Context, cfg *clickhouse.Config) error {
	for _, addr := range cfg.Addrs() {
		if !speaksHTTP(ctx, addr, time.Second) {
			continue
		}
		host, _, _ := net.SplitHostPort(addr)
		return fmt.Errorf("--clickhouse.addr %s (env %s) answers HTTP: that is ClickHouse's HTTP interface, and hashatlas speaks the native protocol, on port 9000 by default (try --clickhouse.addr=%s)",
			addr, envName("clickhouse.addr"), net.JoinHostPort(host, "9000"))
	}
	return nil
}

// speaksHTTP reports whether addr answers an HTTP request within timeout.
func speaksHTTP(ctx context.Context, addr string, timeout time.Duration) bool {
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(timeout))
	if _, err := io.WriteString(conn, "GET /ping HTTP/1.0\r\nHost: "+addr+"\r\n\r\n"); err != nil {
		return false
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(conn, buf); err != nil {
		return false
	}
	return string(buf) == "HTTP/"
}
