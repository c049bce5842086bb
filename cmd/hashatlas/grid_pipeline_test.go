package main

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/ingest/eia/eiatest"
	"github.com/hashatlas/hashatlas/sinks/kafka"
)

// TestEIABackfillThroughTheEstimatorIntoClickHouse: a 10-day backfill served by a local
// stand-in of the EIA API goes collect eia → Kafka → estimate --until-idle → ClickHouse, and
// reads back exactly: 10 days × 24 hours × 2 regions × 2 metrics rows, every value as served
// (at the hour's start), the daily view and `report grid` agreeing with them.
func TestEIABackfillThroughTheEstimatorIntoClickHouse(t *testing.T) {
	broker, err := kafka.StartEmbedded(0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	api := eiatest.New(gridTestKey)
	defer api.Close()
	from := time.Date(2024, 7, 1, 0, 0, 0, 0, time.UTC)
	to := from.AddDate(0, 0, 10)
	api.Add(eiatest.RegionDataPath, eiatest.Hourly([]string{"ERCO", "PJM"}, []string{"D", "NG"}, from, to.Add(time.Hour), gridValue)...)
	db := fmt.Sprintf("hashatlas_grid_%d", rand.Uint64()%1_000_000_000)
	dropDatabaseAtEnd(t, db)
	env := map[string]string{"HASHATLAS_EIA_API_KEY": gridTestKey}
	kafkaArg := "--kafka.brokers=" + broker.Addr()
	chArgs := []string{"--clickhouse.addr=" + testClickHouseAddr(), "--clickhouse.database=" + db}
	code, _, stderr := runCmd(t, env, "collect", "eia", "--once", "--log.level=warn", kafkaArg, "--eia.url="+api.URL,
		"--eia.requests-per-second=-1", "--eia.respondents=ERCO,PJM", "--eia.types=D,NG", "--eia.fuel-types=",
		"--from=2024-07-01", "--to="+to.Format(time.RFC3339))
	if code != exitOK {
		t.Fatalf("collect eia: exit %d: %s", code, stderr)
	}
	estimateUntilIdle(t, kafkaArg, chArgs)
	conn := openTestDB(t, db)
	rows := queryRows(t, conn, "SELECT region, metric, toUnixTimestamp(time), value, unit, country, interval_seconds FROM grid_observations_latest ORDER BY region, metric, time")
	if len(rows) != 10*24*2*2 {
		t.Fatalf("%d rows in grid_observations_latest, want 960", len(rows))
	}
	codes := map[string]string{"demand": "D", "net_generation": "NG"}
	for _, r := range rows {
		start := time.Unix(int64(r[2].(uint32)), 0).UTC()
		want := gridValue(r[0].(string), codes[r[1].(string)], start)
		if r[3].(float64) != want || r[4] != "MWh" || r[5] != "US" || r[6] != uint32(3600) || start.Before(from) || !start.Before(to) {
			t.Fatalf("row %v: want value %v MWh, US, 3600 s, hour start within the range", r, want)
		}
	}
	daily := queryRows(t, conn, "SELECT count(), sum(observations) FROM grid_daily")
	if daily[0][0] != uint64(10*2*2) || daily[0][1] != uint64(960) {
		t.Fatalf("grid_daily: %v, want 40 region-metric-days of 960 observations", daily)
	}
	code, out, stderr := runCmd(t, nil, append([]string{"report", "grid", "--from=2024-07-03", "--to=2024-07-04", "--format=csv"}, chArgs...)...)
	if code != exitOK || strings.Count(out, "\n") != 1+4 || !strings.Contains(out, "ERCO,US,demand,MWh,eia,24,") {
		t.Fatalf("report grid: exit %d, %s\n%s", code, stderr, out)
	}
}
