package main

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/hashatlas/hashatlas/ingest/replay"
	"github.com/hashatlas/hashatlas/sinks/clickhouse"
)

func sharedData(t *testing.T) string {
	t.Helper()
	d := dataDir()
	if !filepath.IsAbs(d) {
		d = filepath.Join("..", "..", d) // tests run in cmd/hashatlas
	}
	if _, err := os.Stat(filepath.Join(d, "blocks_2021_2026.csv.gz")); err != nil {
		t.Fatalf("the shared data is missing (set HASHATLAS_DATA_DIR): %v", err)
	}
	return d
}

func queryRows(t *testing.T, db *clickhouse.DB, sql string) [][]any {
	t.Helper()
	res, err := db.Query(context.Background(), sql)
	if err != nil {
		t.Fatal(err)
	}
	return res.Rows
}

// replayArgs are the arguments of a replay of the shared history (in data) into the ClickHouse
// database db through the Kafka broker that kafkaArgs name.
func replayArgs(data, db string, kafkaArgs ...string) []string {
	args := append([]string{"replay", "--log.level=warn"}, kafkaArgs...)
	return append(args, "--clickhouse.addr="+testClickHouseAddr(), "--clickhouse.database="+db,
		"--blocks="+filepath.Join(data, "blocks_2021_2026.csv.gz"), "--difficulty="+filepath.Join(data, "difficulty_epochs.csv"))
}

// TestReplayOfTheSharedHistoryMatchesRecountsAndPublicFigures replays ../shared/data through
// the embedded Kafka broker and the estimator into the ClickHouse server, twice, and checks
// the rows against a plain recount of the CSV and the figures issue 3 quotes.
func TestReplayOfTheSharedHistoryMatchesRecountsAndPublicFigures(t *testing.T) {
	data := sharedData(t)
	db := fmt.Sprintf("hashatlas_replay_%d", rand.Uint64()%1_000_000_000)
	dropDatabaseAtEnd(t, db)
	args := replayArgs(data, db, "--kafka.embedded", "--kafka.embedded-port=0")
	code, stdout, stderr := runCmd(t, nil, args...)
	if code != exitOK {
		t.Fatalf("replay exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "replayed 282174 blocks up to height 946236") {
		t.Fatalf("replay said: %s", stdout)
	}
	// The summary gives the process's CPU time beside its wall time (a whole replay takes
	// seconds of it), so that a slow machine can be told from a slow replay.
	if m := regexp.MustCompile(`CPU (\d+\.\d)s, peak RSS \d+ MB`).FindStringSubmatch(stdout); m == nil || m[1] == "0.0" {
		t.Fatalf("replay summary without its CPU time: %s", stdout)
	}

	conn := openTestDB(t, db)

	// Monthly blocks per pool equal a plain recount of the CSV, for every month.
	type key struct {
		month string
		pool  string
	}
	recount := map[key]uint64{}
	f, err := os.Open(filepath.Join(data, "blocks_2021_2026.csv.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := replay.ReadBlocks(f, "blocks", func(r replay.BlockRow) error {
		recount[key{r.Time.Format("2006-01"), r.Pool}]++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	got := map[key]uint64{}
	for _, r := range queryRows(t, conn, "SELECT formatDateTime(window_start, '%Y-%m'), pool, toUInt64(blocks) FROM pool_hashrate_latest WHERE window = 'month'") {
		got[key{r[0].(string), r[1].(string)}] = r[2].(uint64)
	}
	if !reflect.DeepEqual(got, recount) {
		t.Fatalf("monthly blocks per pool differ from the recount: %d pool-months stored, %d recounted", len(got), len(recount))
	}

	// Foundry USA + MARA Pool + Luxor: 40.4 % of blocks in 2025-01 and 35.1 % in 2025-12.
	for month, want := range map[string]float64{"2025-01-01": 40.4, "2025-12-01": 35.1} {
		rows := queryRows(t, conn, "SELECT sum(share) FROM pool_hashrate_latest WHERE window = 'month' AND pool IN ('foundryusa', 'marapool', 'luxor') AND window_start = toDateTime('"+month+" 00:00:00', 'UTC')")
		if share := math.Round(rows[0][0].(float64)*1000) / 10; share != want {
			t.Errorf("North American pools held %.1f %% of blocks in %s, want %.1f %%", share, month, want)
		}
	}

	// Network hashrate for 2025-10 is between 1.0 and 1.2 ZH/s.
	rows := queryRows(t, conn, "SELECT hashrate_hs FROM network_hashrate_latest WHERE window = 'month' AND window_start = toDateTime('2025-10-01 00:00:00', 'UTC')")
	if len(rows) != 1 || rows[0][0].(float64) < 1.0e21 || rows[0][0].(float64) > 1.2e21 {
		t.Fatalf("network hashrate 2025-10: %v, want one row within 1.0–1.2 ZH/s", rows)
	}

	// The region view: north-america holds at least Foundry+MARA+Luxor (the built-in HQ table
	// also puts the US-run OCEAN there), and every window's region shares sum to one.
	for month, least := range map[string]float64{"2025-01": 0.404, "2025-12": 0.351} {
		rows := queryRows(t, conn, "SELECT share, share_lower, share_upper FROM region_block_share_monthly WHERE region = 'north-america' AND month = toDateTime('"+month+"-01 00:00:00', 'UTC')")
		if len(rows) != 1 || rows[0][0].(float64) < least-0.0005 || rows[0][0].(float64) > least+0.02 {
			t.Errorf("north-america %s: %v, want one row of at least %.1f %% (and at most 2 points more: OCEAN)", month, rows, 100*least)
		}
	}
	for _, check := range []string{
		"SELECT count() FROM (SELECT window, window_start, sum(share) s FROM region_block_share_latest GROUP BY window, window_start HAVING abs(s - 1) > 1e-9)",
		// Country rows: XX in every window and method, and every window's expected shares
		// (the intervals) straddle 100 %, and the reported shares sum to it.
		"SELECT count() FROM (SELECT window, window_start, method, countIf(country = 'XX') x, sum(share_lower) lo, sum(share_upper) hi FROM country_hashrate_latest GROUP BY window, window_start, method HAVING x != 1 OR lo > 1 OR hi < 1 OR abs(sum(share) - 1) > 1e-9)",
		"SELECT count() FROM network_hashrate_latest WHERE window != 'lastn' AND (window, window_start) NOT IN (SELECT window, window_start FROM country_hashrate_latest)",
		"SELECT count() FROM country_hashrate_latest WHERE NOT (share_lower <= share AND share <= share_upper AND hashrate_hs_lower <= hashrate_hs AND hashrate_hs <= hashrate_hs_upper AND power_gw_low <= power_gw_best AND power_gw_best <= power_gw_high)",
	} {
		if n := queryRows(t, conn, check)[0][0].(uint64); n != 0 {
			t.Errorf("%d windows or rows fail: %s", n, check)
		}
	}

	// The reports read the same rows: regions (2025-01, CSV), countries (XX listed), power.
	report := func(args ...string) string {
		t.Helper()
		args = append([]string{"report"}, append(args, "--clickhouse.addr="+testClickHouseAddr(), "--clickhouse.database="+db)...)
		code, out, stderr := runCmd(t, nil, args...)
		if code != exitOK {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
		return out
	}
	na := queryRows(t, conn, "SELECT toString(share) FROM region_block_share_monthly WHERE region = 'north-america' AND month = toDateTime('2025-01-01 00:00:00', 'UTC')")[0][0].(string)
	if out := report("regions", "--from=2025-01-01", "--to=2025-02-01", "--format=csv", "--units=raw"); !strings.Contains(out, "north-america,1816,") || !strings.Contains(out, na[:6]) {
		t.Errorf("report regions for 2025-01 lacks north-america's 1816 blocks and share %s:\n%s", na, out)
	}
	if out := report("countries", "--from=2025-10-01", "--to=2025-11-01", "--units=raw"); !strings.Contains(out, " XX ") || !strings.Contains(out, " US ") || !strings.Contains(out, "pool-allocation") {
		t.Errorf("report countries for 2025-10 lacks XX or US:\n%s", out)
	}
	if out := report("countries", "--from=2025-10-01", "--to=2025-11-01", "--method=energy-adjusted", "--format=json", "--units=raw"); !strings.Contains(out, `"energy-adjusted"`) {
		t.Errorf("report countries --method=energy-adjusted:\n%s", out)
	}
	if out := report("power", "--window=year", "--format=csv"); strings.Count(out, "\n") != 1 {
		t.Errorf("report power --window=year: want only the header (no year windows of countries), got:\n%s", out)
	}
	if out := report("power", "--from=2025-10-01", "--to=2025-11-01", "--format=csv", "--units=raw"); !strings.Contains(out, "power_gw_best") || strings.Count(out, "\n") < 3 {
		t.Errorf("report power for 2025-10:\n%s", out)
	}

	// Every estimate row has lower <= estimate <= upper.
	for _, check := range []string{
		"SELECT count() FROM network_hashrate_latest WHERE NOT (hashrate_hs_lower <= hashrate_hs AND hashrate_hs <= hashrate_hs_upper AND luck_lower <= luck AND luck <= luck_upper)",
		"SELECT count() FROM pool_hashrate_latest WHERE NOT (share_lower <= share AND share <= share_upper AND hashrate_hs_lower <= hashrate_hs AND hashrate_hs <= hashrate_hs_upper)",
	} {
		if n := queryRows(t, conn, check)[0][0].(uint64); n != 0 {
			t.Errorf("%d rows break lower <= estimate <= upper: %s", n, check)
		}
	}

	// A second replay leaves the same rows in the views: no duplicates, same values.
	snapshot := func() [][]any {
		return queryRows(t, conn, `SELECT window, window_start, pool, blocks, share, share_lower, share_upper, hashrate_hs, hashrate_hs_lower, hashrate_hs_upper
			FROM pool_hashrate_latest ORDER BY window, window_start, pool`)
	}
	counts := func() []any {
		return queryRows(t, conn, "SELECT (SELECT count() FROM blocks_latest), (SELECT count() FROM network_hashrate_latest), (SELECT count() FROM pool_hashrate_latest), (SELECT count() FROM difficulty_epochs_latest)")[0]
	}
	countrySnapshot := func() [][]any {
		return queryRows(t, conn, `SELECT window, window_start, country, method, blocks, share, share_lower, share_upper, hashrate_hs, hashrate_hs_lower,
			hashrate_hs_upper, power_gw_low, power_gw_best, power_gw_high FROM country_hashrate_latest ORDER BY window, window_start, country, method`)
	}
	before, beforeCounts, beforeCountries := snapshot(), counts(), countrySnapshot()
	if code, _, stderr := runCmd(t, nil, args...); code != exitOK {
		t.Fatalf("second replay exit %d: %s", code, stderr)
	}
	if after := counts(); !reflect.DeepEqual(after, beforeCounts) {
		t.Fatalf("row counts in the views changed after a second replay: %v -> %v", beforeCounts, after)
	}
	if after := snapshot(); !reflect.DeepEqual(after, before) {
		t.Fatal("pool rows in the views changed after a second replay")
	}
	if after := countrySnapshot(); !reflect.DeepEqual(after, beforeCountries) {
		t.Fatal("country rows in the views changed after a second replay (the Monte Carlo must be deterministic)")
	}
	if beforeCounts[0].(uint64) != 282174 {
		t.Fatalf("blocks_latest holds %v blocks, want 282174", beforeCounts[0])
	}
}
