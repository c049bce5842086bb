package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/ingest/eia/eiatest"
	"github.com/hashatlas/hashatlas/sinks/clickhouse"
	"github.com/hashatlas/hashatlas/sinks/kafka"
)

// BenchmarkEIABackfill5Years is issue 5's speed target: 5 years of hourly data for 10
// balancing authorities × 3 metrics (1,314,000 observations) served by a local stand-in of the
// EIA API, backfilled by `collect eia --once --from --to` into Kafka (kfake) and consumed by
// `estimate --until-idle` into the ClickHouse server. It reports the wall time of the two
// commands and the process's peak RSS (which includes the stand-in server's 1.3 M rows and
// the in-process broker's copy of the topic).
func BenchmarkEIABackfill5Years(b *testing.B) {
	respondents := []string{"ERCO", "PJM", "MISO", "CISO", "SWPP", "NYIS", "ISNE", "SOCO", "TVA", "BPAT"}
	from := time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)
	to := from.AddDate(5, 0, 0)
	api := eiatest.New(gridTestKey)
	defer api.Close()
	api.Add(eiatest.RegionDataPath, eiatest.Hourly(respondents, []string{"D", "NG", "TI"}, from, to, gridValue)...)
	want := int(to.Sub(from).Hours()) * len(respondents) * 3
	for range b.N {
		broker, err := kafka.StartEmbedded(0, nil)
		if err != nil {
			b.Fatal(err)
		}
		db := fmt.Sprintf("hashatlas_bench_grid_%d", rand.Uint64()%1_000_000_000)
		dropDatabaseAtEnd(b, db)
		start := time.Now()
		code, _, stderr := runCmd(b, map[string]string{"HASHATLAS_EIA_API_KEY": gridTestKey}, "collect", "eia", "--once", "--log.level=warn",
			"--kafka.brokers="+broker.Addr(), "--eia.url="+api.URL, "--eia.requests-per-second=-1", "--eia.types=D,NG,TI", "--eia.fuel-types=",
			"--eia.respondents="+strings.Join(respondents, ","), "--from=2021-01-01", "--to="+to.Format(time.RFC3339))
		if code != exitOK {
			b.Fatalf("collect eia: %s", stderr)
		}
		collected := time.Since(start)
		code, _, stderr = runCmd(b, nil, "estimate", "--until-idle", "--log.level=warn", "--kafka.brokers="+broker.Addr(),
			"--clickhouse.addr="+testClickHouseAddr(), "--clickhouse.database="+db)
		if code != exitOK {
			b.Fatalf("estimate: %s", stderr)
		}
		total := time.Since(start)
		broker.Close()
		cfg := clickhouse.DefaultConfig()
		cfg.Addr, cfg.Database = testClickHouseAddr(), db
		conn, err := clickhouse.Open(context.Background(), cfg, nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		res, err := conn.Query(context.Background(), "SELECT count() FROM grid_observations_latest")
		_ = conn.Close()
		if err != nil || fmt.Sprint(res.Rows[0][0]) != fmt.Sprint(want) {
			b.Fatalf("grid_observations_latest: %v rows (err %v), want %d", res, err, want)
		}
		var ru syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		b.ReportMetric(float64(want), "observations")
		b.ReportMetric(collected.Seconds(), "collect-s")
		b.ReportMetric(total.Seconds(), "total-s")
		b.ReportMetric(float64(ru.Maxrss)/1024, "peak-RSS-MB")
	}
}
