package main

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runMain runs the hashatlas entry point in a process of its own (the embedded engine allows one
// data directory per process), in dir, without any HASHATLAS_ setting from the environment.
func runMain(t *testing.T, dir string, args ...string) (int, string, string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, args...)
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HASHATLAS_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, mainEnv+"=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		return exit.ExitCode(), stdout.String(), stderr.String()
	case err != nil:
		t.Fatal(err)
	}
	return 0, stdout.String(), stderr.String()
}

// TestSQLAndReportReadTheDemosDatabaseByDefaultAndNeverCreateAMisspelledOne (issue 16, items 1
// and 2): with no --clickhouse.addr or --clickhouse.embedded-dir, `sql` and `report` in a
// directory holding hashatlas-demo/clickhouse read that database and say so on stderr; a
// --clickhouse.embedded-dir that does not exist is not created, and the one line says there is
// no hashatlas database there and what to run (the parent directory gets a "did you mean").
func TestSQLAndReportReadTheDemosDatabaseByDefaultAndNeverCreateAMisspelledOne(t *testing.T) {
	if !haveEmbeddedEngine {
		t.Skip("needs the embedded engine (-tags chdb)")
	}
	dir := t.TempDir()
	if code, _, stderr := runMain(t, dir, "migrate", "--clickhouse.embedded-dir="+demoDatabaseDir, "--log.level=warn"); code != exitOK {
		t.Fatalf("migrate: exit %d: %s", code, stderr)
	}
	const reading = "reading database hashatlas in the demo's embedded ClickHouse at hashatlas-demo/clickhouse (--clickhouse.addr or --clickhouse.embedded-dir reads another)\n"
	code, stdout, stderr := runMain(t, dir, "sql", "--format=csv", "SELECT count() > 0 AS migrated FROM schema_migrations")
	if code != exitOK || stdout != "migrated\n1\n" || stderr != reading {
		t.Fatalf("sql without flags: exit %d, stdout %q, stderr %q; want the demo's database, said in one line", code, stdout, stderr)
	}
	code, stdout, stderr = runMain(t, dir, "report", "countries")
	if code != exitOK || !strings.HasPrefix(stderr, reading) || !strings.Contains(stderr, "note: no rows: report countries has no data at all yet") || strings.Count(stdout, "\n") != 1 {
		t.Fatalf("report without flags: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"report", "countries", "--clickhouse.embedded-dir=hashatlas-dmo/clickhouse"},
			"hashatlas report: no hashatlas database in hashatlas-dmo/clickhouse (--clickhouse.embedded-dir): no such directory (did you mean hashatlas-demo/clickhouse?); run `hashatlas demo` or `hashatlas replay` first\n"},
		{[]string{"sql", "SELECT 1", "--clickhouse.embedded-dir=typo"},
			"hashatlas sql: no hashatlas database in typo (--clickhouse.embedded-dir): no such directory (did you mean hashatlas-demo/clickhouse?); run `hashatlas demo` or `hashatlas replay` first\n"},
		{[]string{"report", "network", "--clickhouse.embedded-dir=hashatlas-demo"},
			"hashatlas report: no hashatlas database in hashatlas-demo (--clickhouse.embedded-dir): it is not a ClickHouse data directory (did you mean hashatlas-demo/clickhouse?); run `hashatlas demo` or `hashatlas replay` first\n"},
	} {
		code, stdout, stderr := runMain(t, dir, tc.args...)
		if code != exitFailed || stdout != "" || stderr != tc.want {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 1 and %q", tc.args, code, stdout, stderr, tc.want)
		}
	}
	for _, d := range []string{"hashatlas-dmo", "typo"} {
		if _, err := os.Stat(filepath.Join(dir, d)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a misspelled --clickhouse.embedded-dir was created: %s (%v)", d, err)
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "hashatlas-demo")); len(entries) != 1 {
		t.Errorf("the demo's output directory gained files: %v", entries)
	}
}

// TestClickHouseAddrOnAnHTTPPortSaysToUseTheNativePort (issue 16, item 7): an address that
// answers HTTP (ClickHouse's 8123) fails within seconds, not after two 10 s handshake timeouts,
// with one line naming the flag and the native port.
func TestClickHouseAddrOnAnHTTPPortSaysToUseTheNativePort(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("Ok.\n")) }))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	for _, args := range [][]string{
		{"sql", "SELECT 1", "--clickhouse.addr=" + addr},
		{"report", "countries", "--clickhouse.addr=" + addr},
		{"migrate", "--clickhouse.addr=" + addr},
	} {
		start := time.Now()
		code, _, stderr := runCmd(t, nil, args...)
		took := time.Since(start)
		lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
		if code != exitFailed || len(lines) != 1 || !strings.Contains(lines[0], "--clickhouse.addr "+addr+" (env HASHATLAS_CLICKHOUSE_ADDR) answers HTTP") ||
			!strings.Contains(lines[0], "native protocol, on port 9000 by default (try --clickhouse.addr=127.0.0.1:9000)") {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr)
		}
		if took > 5*time.Second {
			t.Errorf("%v took %v to find the HTTP port, want seconds", args, took)
		}
	}
}
