//go:build chdb

package clickhouse

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/schemas"
)

// The README's one-month queries in two forms: on the *_latest views, and on the tables with
// FINAL and the filter beside it. On the 18.16 server a view's FINAL reads the whole table
// before the outer WHERE (it does not push the predicate down), so only the second form reads
// O(result); both give the same rows.
var readmeQueries = []struct {
	name, view, table string
}{
	{"country-month",
		`SELECT country, round(share*100, 1) AS pct FROM country_hashrate_latest
  WHERE window = 'month' AND window_start = '2025-12-01 00:00:00' AND method = 'pool-allocation' ORDER BY share DESC, country`,
		`SELECT country, round(share*100, 1) AS pct FROM country_hashrate FINAL
  WHERE window = 'month' AND window_start = '2025-12-01 00:00:00' AND method = 'pool-allocation' ORDER BY share DESC, country`},
	{"pools-two-months",
		`SELECT window_start, sum(blocks) AS blocks FROM pool_hashrate_latest WHERE window = 'month'
  AND pool IN ('p1', 'p2', 'p3') AND window_start IN ('2025-01-01 00:00:00', '2025-12-01 00:00:00') GROUP BY window_start ORDER BY window_start`,
		`SELECT window_start, sum(blocks) AS blocks FROM pool_hashrate FINAL WHERE window = 'month'
  AND pool IN ('p1', 'p2', 'p3') AND window_start IN ('2025-01-01 00:00:00', '2025-12-01 00:00:00') GROUP BY window_start ORDER BY window_start`},
	{"region-year",
		`SELECT month, share FROM region_block_share_monthly
  WHERE region = 'north-america' AND month >= '2025-01-01 00:00:00' AND month < '2026-01-01 00:00:00' ORDER BY month`,
		`SELECT window_start AS month, share FROM region_block_share FINAL WHERE window = 'month'
  AND region = 'north-america' AND window_start >= '2025-01-01 00:00:00' AND window_start < '2026-01-01 00:00:00' ORDER BY month`},
}

// fillEstimates writes synthetic estimates of the years before 2026-07-01 into db's migrated
// tables, at the real history's density: day, week and month windows, 14 countries × 2
// methods, 20 pools, 8 regions, each row written twice (a recompute: two versions FINAL must
// collapse).
func fillEstimates(tb testing.TB, db *DB, years int) {
	tb.Helper()
	ctx := context.Background()
	ms, err := schemas.Migrations()
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := Migrate(ctx, db, ms, nil); err != nil {
		tb.Fatal(err)
	}
	start := time.Date(2026-years, 7, 1, 0, 0, 0, 0, time.UTC)
	days := int(time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC).Sub(start).Hours() / 24)
	base := fmt.Sprintf("toDateTime('%s', 'UTC')", start.Format(time.DateTime))
	// windows: every day, every 7th day as a week, every month start
	windows := fmt.Sprintf(`SELECT 'day' AS w, %[1]s + number*86400 AS ws, ws + 86400 AS we FROM numbers(%[2]d)
  UNION ALL SELECT 'week', %[1]s + number*7*86400 AS ws, ws + 7*86400 FROM numbers(%[3]d)
  UNION ALL SELECT 'month', toDateTime(addMonths(toDate(%[1]s), toInt32(number)), 'UTC') AS ws, toDateTime(addMonths(toDate(ws), 1), 'UTC') FROM numbers(%[4]d)`,
		base, days, days/7, years*12)
	for v := 1; v <= 2; v++ {
		for _, stmt := range []string{
			fmt.Sprintf(`INSERT INTO country_hashrate (window, window_start, window_end, country, share, share_lower, share_upper, final, blocks, model_version, method, version)
SELECT w, ws, we, cm.1, 1/14, 0, 1, 1, 144, '2.0.0', cm.2, %d
FROM (%s) ARRAY JOIN arrayMap(i -> (['US','CN','CA','KZ','XX','RU','PY','DE','NO','MY','SG','IE','TH','IR'][i %% 14 + 1], ['pool-allocation','energy-adjusted'][intDiv(i, 14) + 1]), range(28)) AS cm`, v, windows),
			fmt.Sprintf(`INSERT INTO pool_hashrate (window, window_start, window_end, pool, share, share_lower, share_upper, final, blocks, model_version, method, version)
SELECT w, ws, we, concat('p', toString(k)), 1/20, 0, 1, 1, 7, '2.0.0', 'block-share', %d
FROM (%s) ARRAY JOIN range(20) AS k`, v, windows),
			fmt.Sprintf(`INSERT INTO region_block_share (window, window_start, window_end, region, share, share_lower, share_upper, final, blocks, model_version, method, version)
SELECT w, ws, we, r, 1/8, 0, 1, 1, 18, '2.0.0', 'pool-hq', %d
FROM (%s) ARRAY JOIN ['north-america','asia','europe','latin-america','middle-east','africa','oceania','unknown'] AS r`, v, windows),
		} {
			if err := db.Exec(ctx, stmt); err != nil {
				tb.Fatalf("fill %d years: %v", years, err)
			}
		}
	}
}

// queryEngine opens a fresh database on one engine.
type queryEngine struct {
	name string
	open func(testing.TB) *DB
}

// queryEngines are the server 18.16 and the embedded chDB 26.7; the embedded databases of one
// test share a data directory (chDB allows one per process).
func queryEngines(tb testing.TB) []queryEngine {
	dir := tb.TempDir()
	return []queryEngine{
		{"server-18.16", func(tb testing.TB) *DB { return openTestServer(tb) }},
		{"embedded-26.7", func(tb testing.TB) *DB {
			cfg := DefaultConfig()
			cfg.EmbeddedDir = dir
			cfg.Database = randomDatabase()
			db, err := Open(context.Background(), cfg, quietLog(), nil)
			if err != nil {
				tb.Fatalf("open the embedded engine (CHDB_LIB_PATH=$(deploy/local/chdb-fetch.sh)): %v", err)
			}
			tb.Cleanup(func() { _ = db.Close() })
			return db
		}},
	}
}

// timeQuery runs sql once and returns its latency.
func timeQuery(tb testing.TB, db *DB, sql string) time.Duration {
	tb.Helper()
	t0 := time.Now()
	if _, err := db.Query(context.Background(), sql); err != nil {
		tb.Fatal(err)
	}
	return time.Since(t0)
}

// timeQueryPair is the median latency of n runs of sql on db1 and on db4, alternating between
// them so that what loads the machine meanwhile weighs on both alike.
func timeQueryPair(tb testing.TB, db1, db4 *DB, sql string, n int) (t1, t4 time.Duration) {
	tb.Helper()
	d1, d4 := make([]time.Duration, n), make([]time.Duration, n)
	for i := range n {
		d1[i] = timeQuery(tb, db1, sql)
		d4[i] = timeQuery(tb, db4, sql)
	}
	slices.Sort(d1)
	slices.Sort(d4)
	return d1[n/2], d4[n/2]
}

// BenchmarkReadmeQueries measures the README's one-month query shapes at 1× (5 years) and 4×
// (20 years) of history on both engines, in their view form and their table-with-FINAL form:
// the median latency of each (ms_1x, ms_4x) and the growth ms_4x/ms_1x. Issue 17's bar is a
// growth ≤ 1.2 for the documented form.
func BenchmarkReadmeQueries(b *testing.B) {
	for _, eng := range queryEngines(b) {
		b.Run(eng.name, func(b *testing.B) {
			dbs := map[int]*DB{}
			for _, years := range []int{5, 20} {
				db := eng.open(b)
				fillEstimates(b, db, years)
				dbs[years] = db
			}
			for _, q := range readmeQueries {
				for _, form := range []struct{ name, sql string }{{"view", q.view}, {"table-final", q.table}} {
					b.Run(q.name+"/"+form.name, func(b *testing.B) {
						t1, t4 := timeQueryPair(b, dbs[5], dbs[20], form.sql, max(b.N, 31))
						b.ReportMetric(float64(t1.Microseconds())/1000, "ms_1x")
						b.ReportMetric(float64(t4.Microseconds())/1000, "ms_4x")
						b.ReportMetric(float64(t4)/float64(t1), "growth")
					})
				}
			}
		})
	}
}

// TestReadmeQueryFormsAgree: the view and table-with-FINAL forms of each README query give the
// same rows (the recompute's second version only), on both engines — so the README may show
// the form that scales.
func TestReadmeQueryFormsAgree(t *testing.T) {
	for _, eng := range queryEngines(t) {
		db := eng.open(t)
		fillEstimates(t, db, 2)
		for _, q := range readmeQueries {
			v, err := db.Query(context.Background(), q.view)
			if err != nil {
				t.Fatal(err)
			}
			f, err := db.Query(context.Background(), q.table)
			if err != nil {
				t.Fatal(err)
			}
			if len(v.Rows) == 0 || !reflect.DeepEqual(v.Rows, f.Rows) {
				t.Errorf("%s %s: view gives %d rows %v, table with FINAL %d rows %v", eng.name, q.name, len(v.Rows), v.Rows, len(f.Rows), f.Rows)
			}
		}
	}
}
