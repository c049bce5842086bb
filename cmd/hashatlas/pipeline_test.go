package main

import (
	"bufio"
	"compress/gzip"
	"encoding/csv"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/hashatlas/hashatlas/sinks/kafka"
)

// firstBlocks writes the header and the first n rows of the shared block history to a file.
func firstBlocks(t *testing.T, n int) string {
	t.Helper()
	f, err := os.Open(filepath.Join(sharedData(t), "blocks_2021_2026.csv.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(zr)
	var b strings.Builder
	for i := 0; i <= n && sc.Scan(); i++ {
		b.WriteString(sc.Text() + "\n")
	}
	path := filepath.Join(t.TempDir(), "blocks.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestCollectThenEstimateUntilIdleThenReport runs the pipeline as separate commands against
// one broker: `collect file --once` twice (the second publishes nothing), `estimate
// --until-idle`, then `report` in CSV, whose rows must match the blocks collected.
func TestCollectThenEstimateUntilIdleThenReport(t *testing.T) {
	broker, err := kafka.StartEmbedded(0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	db := fmt.Sprintf("hashatlas_pipe_%d", rand.Uint64()%1_000_000_000)
	dropDatabaseAtEnd(t, db)
	blocks := firstBlocks(t, 3000) // 664,063 .. 667,062: 2021-01-02 to about 2021-01-22
	epochs := filepath.Join(sharedData(t), "difficulty_epochs.csv")
	kafkaArg := "--kafka.brokers=" + broker.Addr()
	chArgs := []string{"--clickhouse.addr=" + testClickHouseAddr(), "--clickhouse.database=" + db}

	for run := 1; run <= 2; run++ {
		code, _, stderr := runCmd(t, nil, "collect", "file", "--once", kafkaArg, "--blocks="+blocks, "--difficulty="+epochs, "--log.level=warn")
		if code != exitOK {
			t.Fatalf("collect run %d: exit %d: %s", run, code, stderr)
		}
	}
	code, _, stderr := runCmd(t, nil, append([]string{"estimate", "--until-idle", kafkaArg, "--log.level=warn"}, chArgs...)...)
	if code != exitOK {
		t.Fatalf("estimate: exit %d: %s", code, stderr)
	}
	code, out, stderr := runCmd(t, nil, append([]string{"report", "network", "--window", "day", "--format", "csv", "--units=raw"}, chArgs...)...)
	if code != exitOK {
		t.Fatalf("report: exit %d: %s", code, stderr)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatalf("report csv: %v\n%s", err, out)
	}
	if got := strings.Join(rows[0][:5], ","); got != "window_start,entity,blocks,share,hashrate_hs" {
		t.Fatalf("csv header starts %q", got)
	}
	total := 0
	for _, r := range rows[1:] {
		n, err := strconv.Atoi(r[2])
		if err != nil {
			t.Fatal(err)
		}
		total += n
		v, _ := strconv.ParseFloat(r[4], 64)
		lo, _ := strconv.ParseFloat(r[5], 64)
		hi, _ := strconv.ParseFloat(r[6], 64)
		if !(lo <= v && v <= hi) || v < 1e20 || v > 2e20 {
			t.Errorf("day %s: hashrate %g [%g, %g] H/s, want an interval around 0.1–0.2 ZH/s (January 2021)", r[0], v, lo, hi)
		}
	}
	// Both collect runs together published each of the 3,000 blocks once: the days sum to 3,000.
	if total != 3000 {
		t.Fatalf("daily blocks sum to %d, want 3000 (a block published twice or lost)", total)
	}

	code, out, _ = runCmd(t, nil, append([]string{"report", "pools", "--window", "month", "--format", "json", "--from", "2021-01-01", "--to", "2021-02-01", "--units=raw"}, chArgs...)...)
	if code != exitOK || !strings.Contains(out, `"pool": "f2pool"`) {
		t.Fatalf("pools report (exit %d): %s", code, out)
	}
	code, _, stderr = runCmd(t, nil, append([]string{"report", "pools", "--window", "fortnight"}, chArgs...)...)
	if code != exitUsage || !strings.Contains(stderr, "--window") {
		t.Fatalf("a bad window: exit %d, %s", code, stderr)
	}
}

// TestSQLPrintsResultsAndFailsInOneLine runs `sql` against the server: a query prints its
// result in the asked format; bad SQL and a missing table each exit 1 with one line.
func TestSQLPrintsResultsAndFailsInOneLine(t *testing.T) {
	db := fmt.Sprintf("hashatlas_sql_%d", rand.Uint64()%1_000_000_000)
	dropDatabaseAtEnd(t, db)
	chArgs := []string{"--clickhouse.addr=" + testClickHouseAddr(), "--clickhouse.database=" + db}
	if code, _, stderr := runCmd(t, nil, append([]string{"migrate"}, chArgs...)...); code != exitOK {
		t.Fatalf("migrate: %s", stderr)
	}
	code, out, stderr := runCmd(t, nil, append([]string{"sql", "SELECT name FROM system.tables WHERE database = currentDatabase() AND name LIKE 'network%' ORDER BY name", "--format", "csv"}, chArgs...)...)
	if code != exitOK || out != "name\nnetwork_hashrate\nnetwork_hashrate_latest\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	// Statements without rows run too (on 18.16 a query for rows would end in EOF): an analyst's
	// own view, read back, dropped.
	for _, q := range []string{"CREATE VIEW my_view AS SELECT 1 AS x", "/* mine */ SELECT x FROM my_view", "DROP TABLE my_view"} {
		code, out, stderr := runCmd(t, nil, append([]string{"sql", q, "--format", "csv"}, chArgs...)...)
		want := ""
		if strings.Contains(q, "SELECT x") {
			want = "x\n1\n"
		}
		if code != exitOK || out != want {
			t.Fatalf("sql %q: exit %d, stdout %q (want %q), stderr %q", q, code, out, want, stderr)
		}
	}
	for name, query := range map[string]string{
		"bad SQL":       "SELEC 1",
		"missing table": "SELECT * FROM no_such_table",
	} {
		code, _, stderr := runCmd(t, nil, append([]string{"sql", query}, chArgs...)...)
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		if code != exitFailed || len(lines) != 1 {
			t.Errorf("%s: exit %d, stderr %q; want exit 1 and one line", name, code, stderr)
		}
	}
}
