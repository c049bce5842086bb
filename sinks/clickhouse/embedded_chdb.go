//go:build chdb

package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	chdbpurego "github.com/chdb-io/chdb-go/chdb-purego"
)

// EmbeddedEngine describes the embedded engine linked into this binary.
func EmbeddedEngine() string { return "chdb (libchdb.so from CHDB_LIB_PATH)" }

// chdbSession is the process's one chDB session. chDB allows a single session per process
// (opening another closes the first), so every embedded DB shares it, behind a mutex that
// also makes it safe for concurrent use. This is the package's only global state, forced by
// the engine.
var chdbSession struct {
	mu        sync.Mutex
	conn      chdbpurego.ChdbConn
	dir       string
	refs      int
	currentDB string         // the session's current database (USE), "" before the first
	loc       *time.Location // the session time zone
	readOnly  bool           // opened with Config.ReadOnly: readonly = 1 for the whole session
}

// embedded reaches the process's chDB session; each embedded value has its own default
// database, selected with USE before each of its statements.
type embedded struct {
	database string
	closed   bool
}

func openEmbedded(ctx context.Context, cfg Config) (backend, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(cfg.EmbeddedDir)
	if err != nil {
		return nil, fmt.Errorf("resolve --clickhouse.embedded-dir %s: %w", cfg.EmbeddedDir, err)
	}
	s := &chdbSession
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil && s.readOnly != cfg.ReadOnly {
		mode := map[bool]string{false: "writable", true: "read-only"}
		return nil, fmt.Errorf("open the embedded clickhouse in %s %s: this process already has it open %s (chDB has one session per process, and read-only is a setting of the session)",
			dir, mode[cfg.ReadOnly], mode[s.readOnly])
	}
	if s.conn == nil {
		if cfg.ReadOnly {
			// Read-only creates nothing, not even the data directory.
			if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
				return nil, fmt.Errorf("open the embedded clickhouse in %s read-only: no data directory there (--clickhouse.embedded-dir)", dir)
			}
		} else if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("create --clickhouse.embedded-dir: %w", err)
		}
		conn, err := chdbpurego.NewConnectionFromConnString(dir)
		if err != nil {
			return nil, fmt.Errorf("open the embedded clickhouse in %s: %w", dir, err)
		}
		s.conn, s.dir, s.currentDB = conn, dir, ""
		// NaN and infinities as "nan"/"inf" in JSON results (null otherwise) and 64-bit
		// integers unquoted, whatever the engine's defaults; and inserts spanning any number of
		// monthly partitions (see partitionsSetting).
		for _, set := range []string{
			"SET output_format_json_quote_denormals = 1",
			"SET output_format_json_quote_64bit_integers = 0",
			"SET " + partitionsSetting + " = 0",
		} {
			if _, err := runLocked(set, "TabSeparated"); err != nil {
				conn.Close()
				s.conn = nil
				return nil, fmt.Errorf("configure the embedded clickhouse: %w", err)
			}
		}
		s.loc = time.UTC
		if out, err := runLocked("SELECT timezone()", "TabSeparated"); err == nil {
			if loc, err := time.LoadLocation(strings.TrimSpace(string(out))); err == nil {
				s.loc = loc
			}
		}
		if cfg.ReadOnly {
			// For the whole session, not per statement: chDB runs every statement of a
			// multi-statement text, and a SETTINGS clause appended to it would cover only the
			// last. Once set, no statement can change it back (nor any other setting).
			if _, err := runLocked("SET readonly = 1", "TabSeparated"); err != nil {
				conn.Close()
				s.conn = nil
				return nil, fmt.Errorf("configure the embedded clickhouse read-only: %w", err)
			}
			s.readOnly = true
		}
	} else if s.dir != dir {
		return nil, fmt.Errorf("open the embedded clickhouse in %s: this process already has it open in %s (chDB allows one data directory per process)", dir, s.dir)
	}
	prepare, what := "CREATE DATABASE IF NOT EXISTS ", "create database %s in the embedded clickhouse: %w"
	if cfg.ReadOnly {
		prepare, what = "USE ", "use database %s of the embedded clickhouse: %w"
	}
	if _, err := runLocked(prepare+QuoteIdentifier(cfg.Database), "TabSeparated"); err != nil {
		if s.refs == 0 {
			s.conn.Close()
			s.conn, s.readOnly = nil, false
		}
		return nil, fmt.Errorf(what, cfg.Database, err)
	}
	if cfg.ReadOnly {
		s.currentDB = cfg.Database
	}
	s.refs++
	return &embedded{database: cfg.Database}, nil
}

// runLocked runs one statement on the session; chdbSession.mu must be held. It returns a
// copy of the output (the engine's buffer is freed here).
func runLocked(sql, format string) ([]byte, error) {
	res, err := chdbSession.conn.Query(sql, format)
	if err != nil {
		return nil, chdbError(err)
	}
	if res == nil {
		return nil, nil
	}
	defer res.Free()
	if err := res.Error(); err != nil {
		return nil, chdbError(err)
	}
	return append([]byte(nil), res.Buf()...), nil
}

// chdbError turns chDB's error text, "Code: 60. DB::Exception: …", into the driver's
// Exception type, so errors from both engines classify the same way.
func chdbError(err error) error {
	msg := err.Error()
	if m := chdbCode.FindStringSubmatch(msg); m != nil {
		if n, perr := strconv.ParseInt(m[1], 10, 32); perr == nil {
			return &ch.Exception{Code: int32(n), Message: strings.TrimSpace(strings.TrimPrefix(msg, m[0]))}
		}
	}
	return err
}

// run runs one statement in e's database. chDB cannot interrupt a running statement: ctx is
// checked before it starts and while waiting for the session.
func (e *embedded) run(ctx context.Context, sql, format string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s := &chdbSession
	s.mu.Lock()
	defer s.mu.Unlock()
	if e.closed || s.conn == nil {
		return nil, errors.New("the embedded clickhouse is closed")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.currentDB != e.database {
		if _, err := runLocked("USE "+QuoteIdentifier(e.database), "TabSeparated"); err != nil {
			return nil, err
		}
		s.currentDB = e.database
	}
	return runLocked(sql, format)
}

func (e *embedded) exec(ctx context.Context, sql string) error {
	_, err := e.run(ctx, sql, "TabSeparated")
	return err
}

func (e *embedded) query(ctx context.Context, sql string) (*Result, error) {
	out, err := e.run(ctx, sql, "JSONCompact")
	if err != nil {
		return nil, err
	}
	chdbSession.mu.Lock()
	loc := chdbSession.loc
	chdbSession.mu.Unlock()
	return decodeJSONCompact(out, loc)
}

// insert sends the rows as one INSERT … VALUES statement, every value printed as an exact
// SQL literal (strings escaped byte for byte, times as Unix seconds, floats round-trip).
func (e *embedded) insert(ctx context.Context, table string, names []string, rows *rowBuffer) error {
	n := rows.len()
	if n == 0 {
		return nil
	}
	buf := make([]byte, 0, 64+n*16*len(names))
	buf = append(buf, "INSERT INTO "...)
	buf = append(buf, QuoteIdentifier(table)...)
	buf = append(buf, " ("...)
	for i, name := range names {
		if i > 0 {
			buf = append(buf, ", "...)
		}
		buf = append(buf, QuoteIdentifier(name)...)
	}
	buf = append(buf, ") VALUES "...)
	for r := 0; r < n; r++ {
		if r > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, '(')
		for i, c := range rows.cols {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = c.literal(buf, r)
		}
		buf = append(buf, ')')
	}
	_, err := e.run(ctx, string(buf), "TabSeparated")
	return err
}

// close releases e's share of the session; the last one closes it.
func (e *embedded) close() error {
	s := &chdbSession
	s.mu.Lock()
	defer s.mu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	s.refs--
	if s.refs == 0 && s.conn != nil {
		s.conn.Close()
		s.conn, s.dir, s.currentDB, s.readOnly = nil, "", "", false
	}
	return nil
}
