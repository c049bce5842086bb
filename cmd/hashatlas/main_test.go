package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/sinks/clickhouse"
)

// runCmd runs the binary's entry point in-process and returns exit code, stdout and stderr.
func runCmd(t testing.TB, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// testClickHouseAddr is the shared test server (started by make test).
func testClickHouseAddr() string {
	if a := os.Getenv("HASHATLAS_TEST_CLICKHOUSE_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:9000"
}

func TestBadConfigExitsNonZeroWithOneLineNamingTheFix(t *testing.T) {
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want []string // substrings of the single stderr line
	}{
		{"an unknown log format names the flag and the variable",
			nil, []string{"migrate", "--log.format=xml", "--check-config"},
			[]string{"--log.format", "HASHATLAS_LOG_FORMAT", "text or json"}},
		{"an invalid log level from the environment names the variable",
			map[string]string{"HASHATLAS_LOG_LEVEL": "loud"}, []string{"version", "--check-config"},
			[]string{"--log.level", "HASHATLAS_LOG_LEVEL"}},
		{"a malformed broker address names the flag and the variable",
			nil, []string{"topics", "--kafka.brokers=localhost", "--check-config"},
			[]string{"--kafka.brokers", "HASHATLAS_KAFKA_BROKERS"}},
		{"a malformed broker address from the environment is refused too",
			map[string]string{"HASHATLAS_KAFKA_BROKERS": "127.0.0.1:99999"}, []string{"topics", "--check-config"},
			[]string{"HASHATLAS_KAFKA_BROKERS"}},
		{"a malformed clickhouse address names the flag",
			nil, []string{"migrate", "--clickhouse.addr=127.0.0.1:notaport", "--check-config"},
			[]string{"--clickhouse.addr", "HASHATLAS_CLICKHOUSE_ADDR"}},
		{"cluster mode on the embedded engine is refused, naming the flag and the variable",
			map[string]string{"HASHATLAS_CLICKHOUSE_CLUSTER": "hashatlas"}, []string{"migrate", "--clickhouse.embedded-dir=" + os.TempDir(), "--check-config"},
			[]string{"--clickhouse.cluster", "HASHATLAS_CLICKHOUSE_CLUSTER", "needs a ClickHouse server"}},
		{"a non-boolean value for a boolean flag names the flag and the variable",
			nil, []string{"topics", "--kafka.embedded=perhaps"},
			[]string{"--kafka.embedded", "HASHATLAS_KAFKA_EMBEDDED"}},
		{"run bounds its collectors' passes with --pass-timeout, as collect does",
			nil, []string{"run", "--pass-timeout=0s", "--run.collectors=", "--check-config"},
			[]string{"--pass-timeout", "HASHATLAS_PASS_TIMEOUT", "must be positive"}},
		{"an unknown flag is named",
			nil, []string{"migrate", "--clickhouse.adr=x"},
			[]string{"unknown flag --clickhouse.adr"}},
		{"an unknown command lists the known ones",
			nil, []string{"estimat"},
			[]string{"unknown command", "migrate"}},
		{"an unreachable broker is one line naming the flag",
			nil, []string{"topics", "--kafka.brokers=127.0.0.1:1"},
			[]string{"127.0.0.1:1", "--kafka.brokers"}},
		{"an unreachable clickhouse server is one line naming the flag",
			nil, []string{"migrate", "--clickhouse.addr=127.0.0.1:1", "--clickhouse.dial-timeout=2s"},
			[]string{"127.0.0.1:1", "--clickhouse.addr"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCmd(t, tc.env, tc.args...)
			if code == exitOK {
				t.Fatalf("exit code 0, want non-zero; stdout=%q", stdout)
			}
			lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
			if len(lines) != 1 {
				t.Fatalf("stderr has %d lines, want exactly one:\n%s", len(lines), stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(lines[0], w) {
					t.Errorf("stderr line %q does not mention %q", lines[0], w)
				}
			}
		})
	}
}

func TestCheckConfigPrintsEffectiveConfigWithSecretsMasked(t *testing.T) {
	code, stdout, stderr := runCmd(t,
		map[string]string{"HASHATLAS_CLICKHOUSE_PASSWORD": "hunter2", "HASHATLAS_CLICKHOUSE_DATABASE": "atlas_env"},
		"migrate", "--clickhouse.addr=clickhouse.example:9000", "--check-config")
	if code != exitOK {
		t.Fatalf("exit %d, stderr=%s", code, stderr)
	}
	if strings.Contains(stdout, "hunter2") {
		t.Fatalf("the password is printed:\n%s", stdout)
	}
	for _, want := range []string{
		"clickhouse.password=***\t# env HASHATLAS_CLICKHOUSE_PASSWORD",
		"clickhouse.database=atlas_env\t# env HASHATLAS_CLICKHOUSE_DATABASE",
		"clickhouse.addr=clickhouse.example:9000\t# flag",
		"log.format=text\t# default",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("check-config output lacks %q:\n%s", want, stdout)
		}
	}
}

func TestFlagBeatsEnvironment(t *testing.T) {
	code, stdout, _ := runCmd(t, map[string]string{"HASHATLAS_KAFKA_BROKERS": "envhost:9092"},
		"topics", "--kafka.brokers=flaghost:9092", "--check-config")
	if code != exitOK || !strings.Contains(stdout, "kafka.brokers=flaghost:9092\t# flag") {
		t.Fatalf("exit %d, want the flag value to win:\n%s", code, stdout)
	}
}

func TestVersionPrintsStamps(t *testing.T) {
	code, stdout, _ := runCmd(t, nil, "version")
	if code != exitOK || !strings.HasPrefix(stdout, "hashatlas dev (commit ") {
		t.Fatalf("exit %d, stdout %q", code, stdout)
	}
}

func TestMigrateTwiceOnTheServerIsANoOpTheSecondTime(t *testing.T) {
	db := fmt.Sprintf("hashatlas_cmd_%d", rand.Uint64()%1_000_000_000)
	dropDatabaseAtEnd(t, db)
	args := []string{"migrate", "--clickhouse.addr=" + testClickHouseAddr(), "--clickhouse.database=" + db}
	code, first, stderr := runCmd(t, nil, args...)
	if code != exitOK {
		t.Fatalf("first migrate: exit %d: %s", code, stderr)
	}
	if !strings.Contains(first, "applied ") {
		t.Fatalf("first migrate applied nothing:\n%s", first)
	}
	code, second, stderr := runCmd(t, nil, args...)
	if code != exitOK {
		t.Fatalf("second migrate: exit %d: %s", code, stderr)
	}
	if !strings.Contains(second, "is up to date") {
		t.Fatalf("second migrate was not a no-op:\n%s", second)
	}
}

func TestTopicsOnTheEmbeddedBroker(t *testing.T) {
	code, stdout, stderr := runCmd(t, nil, "topics", "--kafka.embedded", "--kafka.embedded-port=0")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, topic := range []string{"hashatlas.blocks.v1", "hashatlas.dlq.v1", "hashatlas.estimates.v1"} {
		if !strings.Contains(stdout, topic) {
			t.Errorf("topics output lacks %s:\n%s", topic, stdout)
		}
	}
}

// dropDatabaseAtEnd removes a test database from the server when the test ends, so that runs
// do not pile databases up on a long-lived server.
func dropDatabaseAtEnd(t testing.TB, name string) {
	t.Helper()
	t.Cleanup(func() {
		cfg := clickhouse.DefaultConfig()
		cfg.Addr, cfg.Database = testClickHouseAddr(), "default"
		db, err := clickhouse.Open(context.Background(), cfg, nil, nil)
		if err != nil {
			t.Logf("drop database %s: %v", name, err)
			return
		}
		defer db.Close()
		if err := db.Exec(context.Background(), "DROP DATABASE IF EXISTS "+clickhouse.QuoteIdentifier(name)); err != nil {
			t.Logf("drop database %s: %v", name, err)
		}
	})
}

// openTestDB opens database db on the test server; it is closed when the test ends.
func openTestDB(t testing.TB, db string) *clickhouse.DB {
	t.Helper()
	cfg := clickhouse.DefaultConfig()
	cfg.Addr, cfg.Database = testClickHouseAddr(), db
	cfg.FlushInterval = 100 * time.Millisecond
	conn, err := clickhouse.Open(context.Background(), cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// estimateUntilIdle runs `estimate --until-idle` on the broker of kafkaArg into the ClickHouse
// of chArgs, failing the test unless it exits 0.
func estimateUntilIdle(t *testing.T, kafkaArg string, chArgs []string) {
	t.Helper()
	if code, _, stderr := runCmd(t, nil, append([]string{"estimate", "--until-idle", "--log.level=warn", kafkaArg}, chArgs...)...); code != exitOK {
		t.Fatalf("estimate: exit %d: %s", code, stderr)
	}
}

// cmdResult is how a command run in the background (runCmdAsync) ended.
type cmdResult struct {
	code        int
	out, errOut string
}

// runCmdAsync runs the command in the background and delivers how it ended.
func runCmdAsync(t testing.TB, args ...string) <-chan cmdResult {
	done := make(chan cmdResult, 1)
	go func() {
		code, out, errOut := runCmd(t, nil, args...)
		done <- cmdResult{code, out, errOut}
	}()
	return done
}

// waitForProgress polls progress every 20 ms until it reaches want, and fails the test if the
// command of done ends first (what names the progress in the message).
func waitForProgress(t testing.TB, done <-chan cmdResult, want int64, what string, progress func() int64) int64 {
	t.Helper()
	var got int64
	for got < want {
		select {
		case r := <-done:
			t.Fatalf("the replay ended (exit %d) before %s (%d): %s", r.code, what, got, r.errOut)
		case <-time.After(20 * time.Millisecond):
		}
		got = progress()
	}
	return got
}
