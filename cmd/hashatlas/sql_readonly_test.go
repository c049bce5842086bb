package main

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// sqlEngine is a ClickHouse the sql tests run against: its flags.
type sqlEngine struct {
	name   string
	chArgs []string
}

// TestSQLReadOnlyRefusesWritesAndRunsReads (issue 13, case 9): `hashatlas sql` runs any
// statement, DROP included — unless --sql.readonly (or HASHATLAS_SQL_READONLY) is set: then the
// statement runs with ClickHouse's readonly = 1, on the Debian 18.16 server and on the embedded
// engine alike. Reads (SELECT, SHOW) run; DROP, INSERT (… SELECT and … VALUES), CREATE and SET
// are each refused with exactly one line naming the flag, and the table is unchanged. On the
// embedded engine, which runs every statement of a multi-statement text, a DROP behind a SELECT
// or a SET readonly = 0 before it is refused too.
func TestSQLReadOnlyRefusesWritesAndRunsReads(t *testing.T) {
	db := fmt.Sprintf("hashatlas_sqlro_%d", rand.Uint64()%1_000_000_000)
	dropDatabaseAtEnd(t, db)
	engines := []sqlEngine{{"server 18.16", []string{"--clickhouse.addr=" + testClickHouseAddr(), "--clickhouse.database=" + db}}}
	if haveEmbeddedEngine {
		engines = append(engines, sqlEngine{"embedded chDB", []string{"--clickhouse.embedded-dir=" + t.TempDir()}})
	}
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			sql := func(env map[string]string, query string, more ...string) (int, string, string) {
				t.Helper()
				return runCmd(t, env, append(append([]string{"sql", query, "--format=csv"}, eng.chArgs...), more...)...)
			}
			for _, q := range []string{"CREATE TABLE t (x UInt8) ENGINE = MergeTree ORDER BY x", "INSERT INTO t SELECT 1"} {
				if code, _, stderr := sql(nil, q); code != exitOK {
					t.Fatalf("%s (writable): exit %d: %s", q, code, stderr)
				}
			}
			for q, want := range map[string]string{"SELECT count() AS n FROM t": "n\n1\n", "SHOW TABLES": "name\nt\n"} {
				if code, out, stderr := sql(nil, q, "--sql.readonly"); code != exitOK || out != want {
					t.Errorf("%s (read-only): exit %d, stdout %q (want %q), stderr %q", q, code, out, want, stderr)
				}
			}
			refused := []string{"DROP TABLE t", "INSERT INTO t SELECT 2", "INSERT INTO t VALUES (2)", "CREATE VIEW v AS SELECT 1", "SET max_threads = 1"}
			if strings.HasPrefix(eng.name, "embedded") {
				refused = append(refused, "SELECT 1; DROP TABLE t", "SET readonly = 0; DROP TABLE t")
			}
			for _, q := range refused {
				for _, how := range []struct {
					env  map[string]string
					args []string
				}{{nil, []string{"--sql.readonly"}}, {map[string]string{"HASHATLAS_SQL_READONLY": "true"}, nil}} {
					code, out, stderr := sql(how.env, q, how.args...)
					lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
					if code != exitFailed || out != "" || len(lines) != 1 ||
						!strings.Contains(lines[0], "refused by --sql.readonly (env HASHATLAS_SQL_READONLY)") {
						t.Errorf("%s (read-only by %v%v): exit %d, stdout %q, stderr %q; want exit 1 and one line saying --sql.readonly refused it",
							q, how.env, how.args, code, out, stderr)
					}
				}
			}
			if code, out, stderr := sql(nil, "SELECT count() AS n, sum(x) AS s FROM t"); code != exitOK || out != "n,s\n1,1\n" {
				t.Errorf("after the refusals: exit %d, stdout %q, stderr %q; want the one row, unchanged", code, out, stderr)
			}
		})
	}
}
