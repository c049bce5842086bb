package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

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
