package clickhouse

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// The tests of cluster mode on a real replicated ClickHouse: the replicas named by
// HASHATLAS_TEST_CLICKHOUSE_CLUSTER (host:port of each, comma-separated; `make test-cluster`
// starts ZooKeeper and two 18.16 replicas with deploy/local/clickhouse-cluster.sh and sets it).
// Without it they skip.
const testClusterEnv = "HASHATLAS_TEST_CLICKHOUSE_CLUSTER"

// testClusterName is the cluster of the test replicas' remote_servers.
func testClusterName() string {
	if c := os.Getenv("HASHATLAS_TEST_CLICKHOUSE_CLUSTER_NAME"); c != "" {
		return c
	}
	return "hashatlas"
}

// openTestCluster opens one DB per replica, in cluster mode, on a fresh database that is
// dropped on the whole cluster when the test ends.
func openTestCluster(t *testing.T) []*DB {
	t.Helper()
	env := os.Getenv(testClusterEnv)
	if env == "" {
		t.Skipf("%s is not set: no replicated ClickHouse to test on (make test-cluster starts one)", testClusterEnv)
	}
	database := randomDatabase()
	var dbs []*DB
	for _, addr := range strings.Split(env, ",") {
		cfg := DefaultConfig()
		cfg.Addr, cfg.Database, cfg.Cluster = strings.TrimSpace(addr), database, testClusterName()
		cfg.DialTimeout = 5 * time.Second
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		db, err := Open(ctx, cfg, quietLog(), nil)
		cancel()
		if err != nil {
			t.Fatalf("open replica %s of the test cluster (deploy/local/clickhouse-cluster.sh start): %v", addr, err)
		}
		dbs = append(dbs, db)
	}
	if len(dbs) < 2 {
		t.Fatalf("%s names %d replica; the tests need two", testClusterEnv, len(dbs))
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := dbs[0].Exec(ctx, "DROP DATABASE IF EXISTS "+database+" ON CLUSTER "+testClusterName()); err != nil {
			t.Errorf("drop the test database on the cluster: %v", err)
		}
		for _, db := range dbs {
			_ = db.Close()
		}
	})
	return dbs
}

// syncReplica waits until db's replica has fetched what the other replicas have of every
// replicated table of its database.
func syncReplica(t *testing.T, db *DB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res := mustQuery(t, db, "SELECT table FROM system.replicas WHERE database = "+QuoteString(db.Database()))
	for _, r := range res.Rows {
		if err := db.Exec(ctx, "SYSTEM SYNC REPLICA "+db.Database()+"."+r[0].(string)); err != nil {
			t.Fatal(err)
		}
	}
}

// ddlQueueLength is the number of ON CLUSTER statements the cluster's DDL queue holds.
func ddlQueueLength(t *testing.T, db *DB) uint64 {
	t.Helper()
	return mustQuery(t, db, "SELECT count() FROM system.zookeeper WHERE path = '/clickhouse/task_queue/ddl'").Rows[0][0].(uint64)
}

// checkReplicatedSchema checks that every replica has the schema of a single node migrated
// with the same files — the same tables, views and columns — with each table the Replicated
// variant of its engine (the ledger too) at its path under the replica's name, and the whole
// ledger.
func checkReplicatedSchema(t *testing.T, dbs []*DB) {
	t.Helper()
	ms := embeddedMigrations(t)
	single := openTestServer(t)
	if _, err := Migrate(context.Background(), single, ms, quietLog()); err != nil {
		t.Fatal(err)
	}
	singleTables, singleColumns := schemaOf(t, single)
	for i, db := range dbs {
		tables, columns := schemaOf(t, db)
		replicated := 0
		for j, tab := range tables {
			if name, engine, _ := strings.Cut(tab, " "); engine != "View" {
				if !strings.HasPrefix(engine, "Replicated") {
					t.Errorf("replica %d: table %s is %s, not replicated", i+1, name, engine)
				}
				tables[j] = name + " " + strings.TrimPrefix(engine, "Replicated")
				replicated++
			}
		}
		if !reflect.DeepEqual(tables, singleTables) {
			t.Errorf("replica %d has the tables\n%v\nwhere a single node has\n%v", i+1, tables, singleTables)
		}
		if !reflect.DeepEqual(columns, singleColumns) {
			t.Errorf("replica %d has the columns\n%v\nwhere a single node has\n%v", i+1, columns, singleColumns)
		}
		if replicated < 12 {
			t.Errorf("replica %d: only %d tables", i+1, replicated)
		}
		res := mustQuery(t, db, "SELECT zookeeper_path, replica_name FROM system.replicas WHERE database = "+QuoteString(db.Database())+" AND table = 'schema_migrations'")
		want := []any{"/clickhouse/tables/01/" + db.Database() + "/schema_migrations", fmt.Sprintf("replica%d", i+1)}
		if len(res.Rows) != 1 || !reflect.DeepEqual(res.Rows[0], want) {
			t.Errorf("replica %d: the ledger's replica is %v, want %v", i+1, res.Rows, want)
		}
		recs, err := AppliedMigrations(context.Background(), db)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != len(ms) {
			t.Errorf("replica %d records %d migrations, want %d: %+v", i+1, len(recs), len(ms), recs)
			continue
		}
		for k, r := range recs {
			if r.Version != ms[k].Version || r.Name != ms[k].Name || r.Checksum != ms[k].Checksum() {
				t.Errorf("replica %d: record %d = %+v, want %s with checksum %s", i+1, k, r, ms[k].Name, ms[k].Checksum())
			}
		}
	}
}

// TestClusterMigrateThroughOneReplicaGivesEveryReplicaTheSchemaAndTheLedger: migrations run
// through replica 1 create every table on replica 2 as well, Replicated, with the columns a
// single node gets; the ledger is replicated, so a migrator on replica 2 finds the database up
// to date and runs no DDL; and rows written to replica 1 are read on replica 2.
func TestClusterMigrateThroughOneReplicaGivesEveryReplicaTheSchemaAndTheLedger(t *testing.T) {
	dbs := openTestCluster(t)
	ctx := context.Background()
	ms := embeddedMigrations(t)
	applied, err := Migrate(ctx, dbs[0], ms, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) != len(ms) {
		t.Fatalf("applied %v, want all %d migrations", applied, len(ms))
	}
	syncReplica(t, dbs[1])
	checkReplicatedSchema(t, dbs)

	queued := ddlQueueLength(t, dbs[1])
	dbs[1].beforeMigrationStatement = func(m string, i int) { t.Errorf("the migrator on replica 2 ran statement %d of %s", i+1, m) }
	again, err := Migrate(ctx, dbs[1], ms, quietLog())
	if err != nil || len(again) != 0 {
		t.Fatalf("migrate on replica 2 = %v, %v; want nothing to do", again, err)
	}
	if n := ddlQueueLength(t, dbs[1]); n != queued {
		t.Errorf("an up-to-date migrate queued %d ON CLUSTER statements", n-queued)
	}

	w, err := NewWriter(ctx, dbs[0], "blocks", []string{"height", "hash", "time", "pool", "version"}, WriterConfig{}, quietLog(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for h := range 1000 {
		if err := w.Add(ctx, h, fmt.Sprintf("%064x", h), time.Unix(1700000000+int64(h)*600, 0), "foundryusa", 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	syncReplica(t, dbs[1])
	if n := mustQuery(t, dbs[1], "SELECT count() FROM blocks_canonical").Rows[0][0].(uint64); n != 1000 {
		t.Fatalf("replica 2 reads %d of the 1000 blocks written to replica 1", n)
	}
}

// lockstep lets parties through wait together, each wait once every party has come (or when
// the wait times out, which breaks it for good).
type lockstep struct {
	parties int
	timeout time.Duration

	mu      sync.Mutex
	waiting int
	release chan struct{}
	broken  bool
}

func newLockstep(parties int, timeout time.Duration) *lockstep {
	return &lockstep{parties: parties, timeout: timeout, release: make(chan struct{})}
}

// wait returns false when it gave up on the other parties.
func (l *lockstep) wait() bool {
	l.mu.Lock()
	if l.broken {
		l.mu.Unlock()
		return false
	}
	release := l.release
	if l.waiting++; l.waiting == l.parties {
		l.waiting, l.release = 0, make(chan struct{})
		close(release)
		l.mu.Unlock()
		return true
	}
	l.mu.Unlock()
	select {
	case <-release:
		return true
	case <-time.After(l.timeout):
		l.mu.Lock()
		l.broken = true
		l.mu.Unlock()
		return false
	}
}

// TestClusterMigratorsRunningAtOnceLeaveOneSchemaAndOneLedger runs two migrators of one database
// at the same time, one on each replica, in lockstep: each decides to send a statement, then
// both send it, for every statement of every migration — the worst interleaving (both CREATE
// the same tables, both ADD the same columns, both record each migration). Both must succeed,
// and both replicas must hold the schema and ledger of one migration run.
func TestClusterMigratorsRunningAtOnceLeaveOneSchemaAndOneLedger(t *testing.T) {
	dbs := openTestCluster(t)
	ms := embeddedMigrations(t)
	step := newLockstep(2, time.Minute)
	type result struct {
		applied []string
		steps   []string
		err     error
	}
	results := make([]result, 2)
	var wg sync.WaitGroup
	for i, db := range dbs[:2] {
		db.beforeMigrationStatement = func(m string, s int) {
			results[i].steps = append(results[i].steps, fmt.Sprintf("%s#%d", m, s+1))
			if !step.wait() {
				t.Errorf("migrator %d waited in vain for the other at statement %d of %s", i+1, s+1, m)
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			results[i].applied, results[i].err = Migrate(ctx, db, ms, quietLog())
			if results[i].err != nil {
				step.mu.Lock()
				step.broken = true // the other migrator must not wait for this one
				step.mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for i, r := range results {
		if r.err != nil {
			t.Fatalf("migrator %d (on replica %d): %v", i+1, i+1, r.err)
		}
		if len(r.applied) != len(ms) {
			t.Errorf("migrator %d applied %v, want every migration (both went through all of them)", i+1, r.applied)
		}
	}
	if !reflect.DeepEqual(results[0].steps, results[1].steps) || len(results[0].steps) < 30 {
		t.Fatalf("the migrators did not send the same statements in lockstep:\n%v\n%v", results[0].steps, results[1].steps)
	}
	for _, db := range dbs {
		syncReplica(t, db)
	}
	checkReplicatedSchema(t, dbs)
	rows := mustQuery(t, dbs[1], "SELECT count() FROM "+MigrationsTable).Rows[0][0].(uint64)
	t.Logf("%d statements sent by each migrator; the ledger holds %d rows for %d migrations (a row recorded by both in the same second is one block, deduplicated)",
		len(results[0].steps), rows, len(ms))
	dbs[0].beforeMigrationStatement = nil
	if again, err := Migrate(context.Background(), dbs[0], ms, quietLog()); err != nil || len(again) != 0 {
		t.Fatalf("a third migrate = %v, %v; want nothing to do", again, err)
	}
}

// TestAppliedMigrationsCountsAMigrationRecordedTwiceOnce: two migrators that both applied a
// migration both record it, seconds apart; the ledger reads as one record per migration, the
// first, and Migrate finds the database up to date.
func TestAppliedMigrationsCountsAMigrationRecordedTwiceOnce(t *testing.T) {
	db := openTestServer(t)
	ctx := context.Background()
	ms := embeddedMigrations(t)
	if _, err := Migrate(ctx, db, ms, quietLog()); err != nil {
		t.Fatal(err)
	}
	first, err := AppliedMigrations(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewWriter(ctx, db, MigrationsTable, []string{"version", "name", "checksum", "applied_at"}, WriterConfig{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if err := w.Add(ctx, uint32(m.Version), m.Name, m.Checksum(), time.Now().Add(time.Duration(m.Version)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if n := mustQuery(t, db, "SELECT count() FROM "+MigrationsTable).Rows[0][0].(uint64); n != uint64(2*len(ms)) {
		t.Fatalf("the ledger holds %d rows, want each migration twice (%d)", n, 2*len(ms))
	}
	again, err := AppliedMigrations(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again, first) {
		t.Fatalf("AppliedMigrations with every migration recorded twice =\n%+v\nwant the first records\n%+v", again, first)
	}
	if applied, err := Migrate(ctx, db, ms, quietLog()); err != nil || len(applied) != 0 {
		t.Fatalf("Migrate = %v, %v; want nothing to do", applied, err)
	}
}

// TestClusterCreatesRebuiltTablesUnpartitionedAndRefusesAnOlderOne: cluster mode creates the
// tables 0008 rebuilds without partitions on every replica, never running a rebuild; a cluster
// database made by an older hashatlas (its tables monthly, before 0007, or yearly, before 0008)
// is refused before any DDL, naming the table, its partitioning and the migration, rather than
// rebuilt beside other migrators.
func TestClusterCreatesRebuiltTablesUnpartitionedAndRefusesAnOlderOne(t *testing.T) {
	ms := embeddedMigrations(t)
	ctx := context.Background()
	t.Run("fresh", func(t *testing.T) {
		dbs := openTestCluster(t)
		if _, err := Migrate(ctx, dbs[0], ms, quietLog()); err != nil {
			t.Fatal(err)
		}
		syncReplica(t, dbs[1])
		for _, db := range dbs {
			for _, tc := range rebuiltTables {
				if key, _, err := partitionKey(ctx, db, tc[0]); err != nil || !unpartitioned(key) {
					t.Errorf("%s: partitioned by %q (%v), want no partition key", tc[0], key, err)
				}
			}
		}
	})
	for _, older := range []struct {
		name, key string
		n         int
	}{{"monthly, before 0007", "toYYYYMM(time)", 6}, {"yearly, before 0008", "toYear(time)", 7}} {
		t.Run("made by an older hashatlas: "+older.name, func(t *testing.T) {
			dbs := openTestCluster(t)
			if _, err := Migrate(ctx, dbs[0], ms[:older.n], quietLog()); err != nil {
				t.Fatal(err)
			}
			dbs[0].beforeMigrationStatement = func(m string, i int) { t.Errorf("statement %d of %s ran", i+1, m) }
			_, err := Migrate(ctx, dbs[0], ms, quietLog())
			if err == nil || !strings.Contains(err.Error(), "blocks") || !strings.Contains(err.Error(), older.key) ||
				!strings.Contains(err.Error(), "not additive") || !strings.Contains(err.Error(), ms[7].Name) {
				t.Fatalf("Migrate over %s tables = %v, want a refusal naming blocks, its partitioning and %s", older.name, err, ms[7].Name)
			}
			if key, _, _ := partitionKey(ctx, dbs[0], "blocks"); key != older.key {
				t.Errorf("blocks partitioned by %q after the refusal", key)
			}
		})
	}
}
