package clickhouse

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/hashatlas/hashatlas/schemas"
)

// rebuiltTables are the tables 0008 rebuilds without partitions, with their time column; the
// first eight are the monthly tables 0007 rebuilt into yearly ones.
var rebuiltTables = [][2]string{
	{"blocks", "time"}, {"pool_stats", "time"}, {"grid_observations", "time"},
	{"network_hashrate", "window_start"}, {"pool_hashrate", "window_start"}, {"country_hashrate", "window_start"},
	{"region_block_share", "window_start"}, {"energy_signals", "window_start"}, {"chain_stress", "day"},
}

// unpartitioned is the partition key the server states for PARTITION BY tuple().
func unpartitioned(key string) bool { return samePartition(key, "tuple()") || key == "" }

// tableDigest is the row count and an order-free hash of every row of table.
func tableDigest(t testing.TB, db *DB, table string) string {
	t.Helper()
	r := mustQuery(t, db, "SELECT count(), groupBitXor(cityHash64(*)) FROM "+table)
	return fmt.Sprint(r.Rows[0]...)
}

// fillRebuiltTables writes 400 rows over eight years (2021 to 2028: in January of each, so eight
// partitions of either old key; every monthly part costs the 18.16 server tens of milliseconds)
// with distinct keys, versions and values into each rebuilt table, and returns each table's
// digest.
func fillRebuiltTables(t *testing.T, db *DB) map[string]string {
	digests := map[string]string{}
	for _, tc := range rebuiltTables {
		table, col := tc[0], tc[1]
		extra := map[string]string{"blocks": ", height, hash", "pool_stats": ", pool", "grid_observations": ", region",
			"network_hashrate": ", window", "pool_hashrate": ", pool", "country_hashrate": ", country",
			"region_block_share": ", region", "energy_signals": ", signal", "chain_stress": ", region"}[table]
		vals := ", toString(number)"
		if table == "blocks" {
			vals = ", number, hex(number)"
		}
		mustExec(t, db, fmt.Sprintf("INSERT INTO %s (%s, version%s) SELECT toDateTime('2021-01-01 00:00:00', 'UTC') + (number %% 8) * 31536000 + intDiv(number, 8) * 3600, number + 1%s FROM system.numbers LIMIT 400",
			table, col, extra, vals))
		digests[table] = tableDigest(t, db, table)
	}
	return digests
}

// checkRebuilt fails unless every rebuilt table is partitioned as want says (given its time
// column) and holds exactly the rows of before.
func checkRebuilt(t *testing.T, db *DB, before map[string]string, want func(key, col string) bool) {
	t.Helper()
	for _, tc := range rebuiltTables {
		table, col := tc[0], tc[1]
		key, _, err := partitionKey(context.Background(), db, table)
		if err != nil || !want(key, col) {
			t.Errorf("%s: partitioned by %q (%v)", table, key, err)
		}
		if got := tableDigest(t, db, table); got != before[table] {
			t.Errorf("%s: rows (count, hash) %s after the rebuild, %s before", table, got, before[table])
		}
	}
	r := mustQuery(t, db, "SELECT name FROM system.tables WHERE database = "+QuoteString(db.database)+" AND name LIKE '%repartition%'")
	if len(r.Rows) != 0 {
		t.Errorf("tables left behind: %v", r.Rows)
	}
}

// testRepartition: a database of the previous release (migrated to 0007: eight tables yearly,
// chain_stress yearly since 0006), holding rows of eight years in every such table, is migrated
// to 0008 with the run interrupted after one table's swap and before its old copy was dropped;
// the next run finishes. Then every rebuilt table has no partition key and holds exactly the
// rows it held (count and a hash of every row), no __repartition table is left, the views read
// the new tables, 0008 is recorded once, and a third run is a no-op. On the way, 0007 itself
// turns monthly tables into yearly ones, carrying every row.
func testRepartition(t *testing.T, db *DB) {
	ctx := context.Background()
	ms := embeddedMigrations(t)
	if len(ms) < 8 || ms[6].Name != "0007_yearly_partitions.sql" || ms[7].Name != "0008_unpartitioned.sql" {
		t.Fatalf("migrations 7 and 8 are %v and %v", ms[6].Name, ms[7].Name)
	}
	if _, err := Migrate(ctx, db, ms[:6], nil); err != nil {
		t.Fatal(err)
	}
	for _, tc := range rebuiltTables[:8] {
		if key, _, _ := partitionKey(ctx, db, tc[0]); key != "toYYYYMM("+tc[1]+")" {
			t.Fatalf("%s before 0007: partitioned by %q", tc[0], key)
		}
	}
	before := fillRebuiltTables(t, db)
	if _, err := Migrate(ctx, db, ms[:7], nil); err != nil {
		t.Fatal(err)
	}
	checkRebuilt(t, db, before, func(key, col string) bool { return samePartition(key, "toYear("+col+")") })
	views := tableDigest(t, db, "country_hashrate_latest")

	// Interrupt the run before statement 30 (index 29): pool_hashrate's DROP of its old copy.
	cctx, cancel := context.WithCancel(ctx)
	db.beforeMigrationStatement = func(m string, i int) {
		if m == ms[7].Name && i == 29 {
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
	if len(applied) != 1 || applied[0] != ms[7].Name {
		t.Fatalf("applied %v, want 0008 alone", applied)
	}
	checkRebuilt(t, db, before, func(key, _ string) bool { return unpartitioned(key) })
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

func TestRepartitionOnServerCarriesEveryRowAndSurvivesAnInterruption(t *testing.T) {
	testRepartition(t, openTestServer(t))
}

// sentRebuildSteps migrates db with ms and returns the rebuild statements it sent, by migration.
func sentRebuildSteps(t *testing.T, db *DB, ms []schemas.Migration) map[string][]string {
	t.Helper()
	sent := map[string][]string{}
	db.beforeMigrationStatement = func(m string, i int) {
		for _, mm := range ms {
			if mm.Name == m {
				if _, _, ok := schemas.RebuildStep(mm.Statements()[i]); ok {
					sent[m] = append(sent[m], mm.Statements()[i])
				}
			}
		}
	}
	defer func() { db.beforeMigrationStatement = nil }()
	if _, err := Migrate(context.Background(), db, ms, nil); err != nil {
		t.Fatal(err)
	}
	return sent
}

// onlyDrops fails unless every statement is a DROP … IF EXISTS.
func onlyDrops(t *testing.T, what string, stmts []string) {
	t.Helper()
	for _, s := range stmts {
		if !strings.HasPrefix(s, "DROP TABLE IF EXISTS ") {
			t.Errorf("%s ran %q", what, s)
		}
	}
}

// TestAMonthlyTableIsCopiedOnceByItsLastRebuild: a database still monthly (made before 0007)
// is copied once, by 0008, straight into tables without partitions: 0007, whose yearly
// partitioning a later rebuild replaces, only clears leftovers. Every row is carried.
func TestAMonthlyTableIsCopiedOnceByItsLastRebuild(t *testing.T) {
	db := openTestServer(t)
	ms := embeddedMigrations(t)
	if _, err := Migrate(context.Background(), db, ms[:6], nil); err != nil {
		t.Fatal(err)
	}
	before := fillRebuiltTables(t, db)
	sent := sentRebuildSteps(t, db, ms)
	onlyDrops(t, "0007 over monthly tables", sent[ms[6].Name])
	if n, m := len(sent[ms[6].Name]), len(sent[ms[7].Name]); n != 2*8 || m != 6*9 {
		t.Errorf("sent %d statements of 0007 and %d of 0008, want 16 (two DROP … IF EXISTS per table) and 54", n, m)
	}
	checkRebuilt(t, db, before, func(key, _ string) bool { return unpartitioned(key) })
}

// TestRebuildOfATableAlreadyUnpartitionedOnlyClearsLeftovers: a table partitioned as its last
// rebuild would make it is not copied again; only what an interrupted run left (its
// __repartition tables) is dropped.
func TestRebuildOfATableAlreadyUnpartitionedOnlyClearsLeftovers(t *testing.T) {
	db := openTestServer(t)
	ms := embeddedMigrations(t)
	if _, err := Migrate(context.Background(), db, ms[:7], nil); err != nil {
		t.Fatal(err)
	}
	// blocks made unpartitioned by hand, with a leftover old copy
	mustExec(t, db, "CREATE TABLE blocks__y AS blocks ENGINE = ReplacingMergeTree(version) PARTITION BY tuple() ORDER BY (height, hash)")
	mustExec(t, db, "RENAME TABLE blocks TO blocks__repartition_old, blocks__y TO blocks")
	sent := sentRebuildSteps(t, db, ms)[ms[7].Name]
	var blocks []string
	for _, s := range sent {
		if table, _, _ := schemas.RebuildStep(s); table == "blocks" {
			blocks = append(blocks, s)
		}
	}
	want := []string{"DROP TABLE IF EXISTS blocks__repartition_old", "DROP TABLE IF EXISTS blocks__repartition"}
	if strings.Join(blocks, "; ") != strings.Join(want, "; ") {
		t.Errorf("for the unpartitioned blocks the run sent %q, want only %q", blocks, want)
	}
	if len(sent) != 2+8*6 {
		t.Errorf("sent %d statements of 0008, want 50 (2 for blocks, 6 for each of the 8 others)", len(sent))
	}
	r := mustQuery(t, db, "SELECT count() FROM system.tables WHERE database = "+QuoteString(db.database)+" AND name LIKE '%repartition%'")
	if fmt.Sprint(r.Rows[0][0]) != "0" {
		t.Error("the leftover old copy of blocks was not dropped")
	}
}

// TestAFreshDatabaseIsCreatedUnpartitionedWithNothingToRebuild: on a new database every table
// a rebuild would repartition is created as its last rebuild makes it (no partition key), so
// 0007 and 0008 send only their two DROP … IF EXISTS per table and copy nothing.
func TestAFreshDatabaseIsCreatedUnpartitionedWithNothingToRebuild(t *testing.T) {
	ctx := context.Background()
	db := openTestServer(t)
	ms := embeddedMigrations(t)
	sent := sentRebuildSteps(t, db, ms)
	onlyDrops(t, "a fresh database", append(sent[ms[6].Name], sent[ms[7].Name]...))
	if n, m := len(sent[ms[6].Name]), len(sent[ms[7].Name]); n != 2*8 || m != 2*9 {
		t.Errorf("sent %d statements of 0007 and %d of 0008, want 16 and 18", n, m)
	}
	for _, tc := range rebuiltTables {
		if key, _, err := partitionKey(ctx, db, tc[0]); err != nil || !unpartitioned(key) {
			t.Errorf("%s: partitioned by %q (%v)", tc[0], key, err)
		}
	}
}
