package clickhouse

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/hashatlas/hashatlas/schemas"
)

// rebuiltTables are the tables 0007 rebuilds, with their time column.
var rebuiltTables = [][2]string{
	{"blocks", "time"}, {"pool_stats", "time"}, {"grid_observations", "time"},
	{"network_hashrate", "window_start"}, {"pool_hashrate", "window_start"}, {"country_hashrate", "window_start"},
	{"region_block_share", "window_start"}, {"energy_signals", "window_start"},
}

// tableDigest is the row count and an order-free hash of every row of table.
func tableDigest(t testing.TB, db *DB, table string) string {
	t.Helper()
	r := mustQuery(t, db, "SELECT count(), groupBitXor(cityHash64(*)) FROM "+table)
	return fmt.Sprint(r.Rows[0]...)
}

// testYearlyRepartition: a database migrated to 0006 and holding rows of six years in every
// monthly table is migrated to 0007 with the run interrupted after one table's swap and before
// its old copy was dropped; the next run finishes. Then every rebuilt table is partitioned by
// year, holds exactly the rows it held (count and a hash of every row), no __repartition table
// is left, the views read the new tables, 0007 is recorded once, and a third run is a no-op.
func testYearlyRepartition(t *testing.T, db *DB) {
	ctx := context.Background()
	ms := embeddedMigrations(t)
	if len(ms) < 7 || ms[6].Name != "0007_yearly_partitions.sql" {
		t.Fatalf("migration 7 is %v", ms[6].Name)
	}
	if _, err := Migrate(ctx, db, ms[:6], nil); err != nil {
		t.Fatal(err)
	}
	before := map[string]string{}
	for _, tc := range rebuiltTables {
		table, col := tc[0], tc[1]
		if key, _, _ := partitionKey(ctx, db, table); key != "toYYYYMM("+col+")" {
			t.Fatalf("%s before 0007: partitioned by %q", table, key)
		}
		// 400 rows a week apart (2021 to 2028), distinct keys, versions and values
		extra := map[string]string{"blocks": ", height, hash", "pool_stats": ", pool", "grid_observations": ", region",
			"network_hashrate": ", window", "pool_hashrate": ", pool", "country_hashrate": ", country",
			"region_block_share": ", region", "energy_signals": ", signal"}[table]
		vals := ", toString(number)"
		if table == "blocks" {
			vals = ", number, hex(number)"
		}
		mustExec(t, db, fmt.Sprintf("INSERT INTO %s (%s, version%s) SELECT toDateTime('2021-01-01 00:00:00', 'UTC') + number * 604800, number + 1%s FROM system.numbers LIMIT 400",
			table, col, extra, vals))
		before[table] = tableDigest(t, db, table)
	}
	views := tableDigest(t, db, "country_hashrate_latest")

	// Interrupt the run before statement 30 (index 29): pool_hashrate's DROP of its old copy.
	cctx, cancel := context.WithCancel(ctx)
	db.beforeMigrationStatement = func(m string, i int) {
		if m == ms[6].Name && i == 29 {
			cancel()
		}
	}
	if _, err := Migrate(cctx, db, ms, nil); err == nil {
		t.Fatal("the interrupted run succeeded")
	}
	db.beforeMigrationStatement = nil
	if left := mustQuery(t, db, "SELECT count() FROM system.tables WHERE database = "+QuoteString(db.database)+" AND name = 'pool_hashrate__repartition_old'"); fmt.Sprint(left.Rows[0][0]) != "1" {
		t.Fatal("the interruption did not leave pool_hashrate's old copy behind")
	}
	applied, err := Migrate(ctx, db, ms, nil)
	if err != nil {
		t.Fatalf("the run after the interruption: %v", err)
	}
	if len(applied) != 1 || applied[0] != ms[6].Name {
		t.Fatalf("applied %v, want 0007 alone", applied)
	}
	for _, tc := range rebuiltTables {
		table, col := tc[0], tc[1]
		key, _, err := partitionKey(ctx, db, table)
		if err != nil || !samePartition(key, "toYear("+col+")") {
			t.Errorf("%s after 0007: partitioned by %q (%v), want toYear(%s)", table, key, err, col)
		}
		if got := tableDigest(t, db, table); got != before[table] {
			t.Errorf("%s: rows (count, hash) %s after the rebuild, %s before", table, got, before[table])
		}
	}
	r := mustQuery(t, db, "SELECT name FROM system.tables WHERE database = "+QuoteString(db.database)+" AND name LIKE '%repartition%'")
	if len(r.Rows) != 0 {
		t.Errorf("tables left behind: %v", r.Rows)
	}
	if got := tableDigest(t, db, "country_hashrate_latest"); got != views {
		t.Errorf("country_hashrate_latest: %s after, %s before", got, views)
	}
	recorded, err := AppliedMigrations(ctx, db)
	if err != nil || len(recorded) != len(ms) {
		t.Fatalf("recorded %d migrations (%v), want %d", len(recorded), err, len(ms))
	}
	db.beforeMigrationStatement = func(m string, i int) { t.Errorf("an up-to-date database ran statement %d of %s", i+1, m) }
	if again, err := Migrate(ctx, db, ms, nil); err != nil || len(again) != 0 {
		t.Errorf("third run: applied %v, %v; want nothing", again, err)
	}
	db.beforeMigrationStatement = nil
}

func TestYearlyRepartitionOnServerCarriesEveryRowAndSurvivesAnInterruption(t *testing.T) {
	testYearlyRepartition(t, openTestServer(t))
}

// TestRebuildOfATableAlreadyYearlyOnlyClearsLeftovers: a table partitioned as the rebuild would
// make it is not copied again; only what an interrupted run left (its __repartition tables) is
// dropped.
func TestRebuildOfATableAlreadyYearlyOnlyClearsLeftovers(t *testing.T) {
	ctx := context.Background()
	db := openTestServer(t)
	ms := embeddedMigrations(t)
	if _, err := Migrate(ctx, db, ms[:6], nil); err != nil {
		t.Fatal(err)
	}
	// blocks made yearly by hand, with a leftover old copy
	mustExec(t, db, "CREATE TABLE blocks__y AS blocks ENGINE = ReplacingMergeTree(version) PARTITION BY toYear(time) ORDER BY (height, hash)")
	mustExec(t, db, "RENAME TABLE blocks TO blocks__repartition_old, blocks__y TO blocks")
	var sent []string
	db.beforeMigrationStatement = func(m string, i int) { sent = append(sent, ms[6].Statements()[i]) }
	if _, err := Migrate(ctx, db, ms, nil); err != nil {
		t.Fatal(err)
	}
	var blocks []string
	for _, s := range sent {
		if table, _, ok := schemas.RebuildStep(s); ok && table == "blocks" {
			blocks = append(blocks, s)
		}
	}
	want := []string{"DROP TABLE IF EXISTS blocks__repartition_old", "DROP TABLE IF EXISTS blocks__repartition"}
	if strings.Join(blocks, "; ") != strings.Join(want, "; ") {
		t.Errorf("for the yearly blocks the run sent %q, want only %q", blocks, want)
	}
	if len(sent) != 2+7*6 {
		t.Errorf("sent %d statements of 0007, want 44 (2 for blocks, 6 for each of the 7 others)", len(sent))
	}
	r := mustQuery(t, db, "SELECT count() FROM system.tables WHERE database = "+QuoteString(db.database)+" AND name LIKE '%repartition%'")
	if fmt.Sprint(r.Rows[0][0]) != "0" {
		t.Error("the leftover old copy of blocks was not dropped")
	}
}

// TestAFreshDatabaseIsCreatedYearlyWithNothingToRebuild: on a new database every table a
// rebuild would repartition is created partitioned by year, so 0007 sends only its two DROP …
// IF EXISTS per table and copies nothing.
func TestAFreshDatabaseIsCreatedYearlyWithNothingToRebuild(t *testing.T) {
	ctx := context.Background()
	db := openTestServer(t)
	ms := embeddedMigrations(t)
	var sent []string
	db.beforeMigrationStatement = func(m string, i int) {
		if m == ms[6].Name {
			sent = append(sent, ms[6].Statements()[i])
		}
	}
	if _, err := Migrate(ctx, db, ms, nil); err != nil {
		t.Fatal(err)
	}
	for _, s := range sent {
		if !strings.HasPrefix(s, "DROP TABLE IF EXISTS ") {
			t.Errorf("a fresh database ran %q", s)
		}
	}
	if len(sent) != 2*len(rebuiltTables) {
		t.Errorf("sent %d statements of 0007, want %d", len(sent), 2*len(rebuiltTables))
	}
	for _, tc := range rebuiltTables {
		if key, _, err := partitionKey(ctx, db, tc[0]); err != nil || !samePartition(key, "toYear("+tc[1]+")") {
			t.Errorf("%s: partitioned by %q (%v)", tc[0], key, err)
		}
	}
}
