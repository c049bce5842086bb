package clickhouse

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"testing"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
)

// testServerAddr is the shared ClickHouse server of the integration tests. They fail (not
// skip) when it does not answer: `make test` starts it.
func testServerAddr() string {
	if a := os.Getenv("HASHATLAS_TEST_CLICKHOUSE_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:9000"
}

// randomDatabase returns a fresh database name, hashatlas_test_<hex>.
func randomDatabase() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "hashatlas_test_" + hex.EncodeToString(b)
}

// openTestServer opens a fresh database on the shared server, dropped when the test ends.
func openTestServer(t testing.TB, mutate ...func(*Config)) *DB {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Addr = testServerAddr()
	cfg.Database = randomDatabase()
	cfg.DialTimeout = 5 * time.Second
	for _, m := range mutate {
		m(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := Open(ctx, cfg, quietLog(), nil)
	if err != nil {
		t.Fatalf("open the test clickhouse server (start it with deploy/local/clickhouse-server.sh start): %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := db.Exec(ctx, "DROP DATABASE IF EXISTS "+QuoteIdentifier(cfg.Database)); err != nil {
			t.Errorf("drop test database: %v", err)
		}
		_ = db.Close()
	})
	return db
}

func mustExec(t testing.TB, db *DB, sql string) {
	t.Helper()
	if err := db.Exec(context.Background(), sql); err != nil {
		t.Fatal(err)
	}
}

func mustQuery(t testing.TB, db *DB, sql string) *Result {
	t.Helper()
	res, err := db.Query(context.Background(), sql)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// schemaOf describes the tables and views of db's database: "name engine" lines and
// "table.column type" lines, sorted, leaving out the migrations table.
func schemaOf(t testing.TB, db *DB) (tables, columns []string) {
	t.Helper()
	q := QuoteString(db.Database())
	for _, r := range mustQuery(t, db, "SELECT name, engine FROM system.tables WHERE database = "+q).Rows {
		tables = append(tables, r[0].(string)+" "+r[1].(string))
	}
	for _, r := range mustQuery(t, db, "SELECT table, name, type FROM system.columns WHERE database = "+q).Rows {
		columns = append(columns, r[0].(string)+"."+r[1].(string)+" "+r[2].(string))
	}
	sort.Strings(tables)
	sort.Strings(columns)
	return tables, columns
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// ownServer is a ClickHouse server of the test's own, started with the repository's script
// on other ports, so that the test can stop and restart it without touching the shared one.
type ownServer struct {
	t       testing.TB
	env     []string
	tcpPort string
}

func startOwnServer(t testing.TB, tcpPort, httpPort string) *ownServer {
	t.Helper()
	// The script reuses a healthy server on the port, which would not be ours to stop.
	for _, p := range []string{tcpPort, httpPort} {
		if c, err := net.DialTimeout("tcp", "127.0.0.1:"+p, time.Second); err == nil {
			_ = c.Close()
			t.Fatalf("port %s is in use; the test needs its own clickhouse-server there", p)
		}
	}
	s := &ownServer{t: t, tcpPort: tcpPort, env: append(os.Environ(),
		"HASHATLAS_CH_TCP_PORT="+tcpPort,
		"HASHATLAS_CH_HTTP_PORT="+httpPort,
		"HASHATLAS_CH_RUN_DIR="+filepath.Join(t.TempDir(), "clickhouse-"+tcpPort),
	)}
	s.run("start")
	t.Cleanup(func() { s.run("stop") })
	return s
}

func (s *ownServer) addr() string { return "127.0.0.1:" + s.tcpPort }

func (s *ownServer) run(action string) {
	s.t.Helper()
	_, file, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(file), "..", "..", "deploy", "local", "clickhouse-server.sh")
	cmd := exec.Command(script, action)
	cmd.Env = s.env
	if out, err := cmd.CombinedOutput(); err != nil {
		s.t.Fatalf("clickhouse-server.sh %s on port %s: %v\n%s", action, s.tcpPort, err, out)
	}
}

func exception(code int32) error { return &ch.Exception{Code: code, Message: "test"} }

func errUnexpectedEOF() error { return io.ErrUnexpectedEOF }
