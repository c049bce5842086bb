package main

// The pipeline on a replicated ClickHouse (cluster mode, --clickhouse.cluster): the replicas named
// by HASHATLAS_TEST_CLICKHOUSE_CLUSTER (host:port of each, comma-separated), which `make
// test-cluster` starts with deploy/local/clickhouse-cluster.sh (ZooKeeper and two 18.16
// replicas). Without it these tests skip.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/sinks/clickhouse"
)

const testClusterEnv = "HASHATLAS_TEST_CLICKHOUSE_CLUSTER"

// testCluster is the test's replicated ClickHouse.
type testCluster struct {
	addrs []string
	name  string
}

func newTestCluster(t *testing.T) *testCluster {
	t.Helper()
	env := os.Getenv(testClusterEnv)
	if env == "" {
		t.Skipf("%s is not set: no replicated ClickHouse to test on (make test-cluster starts one)", testClusterEnv)
	}
	c := &testCluster{name: "hashatlas"}
	if n := os.Getenv("HASHATLAS_TEST_CLICKHOUSE_CLUSTER_NAME"); n != "" {
		c.name = n
	}
	for _, a := range strings.Split(env, ",") {
		c.addrs = append(c.addrs, strings.TrimSpace(a))
	}
	if len(c.addrs) != 2 {
		t.Fatalf("%s names %d replicas; the tests need two", testClusterEnv, len(c.addrs))
	}
	return c
}

// open opens database on replica i (0 or 1) in cluster mode.
func (c *testCluster) open(t *testing.T, i int, database string) *clickhouse.DB {
	t.Helper()
	cfg := clickhouse.DefaultConfig()
	cfg.Addr, cfg.Database, cfg.Cluster = c.addrs[i], database, c.name
	db, err := clickhouse.Open(context.Background(), cfg, nil, nil)
	if err != nil {
		t.Fatalf("open replica %d (%s): %v", i+1, c.addrs[i], err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// dropAtEnd drops database on every replica when the test ends.
func (c *testCluster) dropAtEnd(t *testing.T, database string) {
	t.Cleanup(func() {
		cfg := clickhouse.DefaultConfig()
		cfg.Addr, cfg.Database = strings.Join(c.addrs, ","), "default"
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		db, err := clickhouse.Open(ctx, cfg, nil, nil)
		if err != nil {
			t.Logf("drop database %s: %v", database, err)
			return
		}
		defer db.Close()
		if err := db.Exec(ctx, "DROP DATABASE IF EXISTS "+database+" ON CLUSTER "+c.name); err != nil {
			t.Logf("drop database %s: %v", database, err)
		}
	})
}

// script runs deploy/local/clickhouse-cluster.sh with args.
func (c *testCluster) script(t *testing.T, args ...string) {
	t.Helper()
	script, err := filepath.Abs(filepath.Join("..", "..", "deploy", "local", "clickhouse-cluster.sh"))
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(script, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", script, strings.Join(args, " "), err, out)
	}
}

// uint64Of runs a query of one number, and returns false when it fails.
func uint64Of(db *clickhouse.DB, sql string) (uint64, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := db.Query(ctx, sql)
	if err != nil || len(res.Rows) != 1 {
		return 0, false
	}
	n, ok := res.Rows[0][0].(uint64)
	return n, ok
}

// syncReplica waits until db's replica holds what the other has of every replicated table of its
// database.
func syncReplica(t *testing.T, db *clickhouse.DB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, r := range queryRows(t, db, "SELECT table FROM system.replicas WHERE database = "+clickhouse.QuoteString(db.Database())) {
		if err := db.Exec(ctx, "SYSTEM SYNC REPLICA "+db.Database()+"."+r[0].(string)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestClusterReplayWithAReplicaKilledConvergesToTheSingleNodeRows replays the shared history in
// cluster mode through replica 1 (replica 2 listed second in --clickhouse.addr) and kills replica
// 1 with SIGKILL once replica 2 has copied a third of the blocks: the writes in flight break and
// go to replica 2, and blocks inserted on replica 1 but not yet copied wait there. Replica 1 is
// started again once replica 2 has seen it go (its ZooKeeper session expired). The replay must
// finish, and both replicas must then hold exactly the rows of an undisturbed replay into a
// single node: per table the row count and a checksum of every column (faultRig.checksums).
func TestClusterReplayWithAReplicaKilledConvergesToTheSingleNodeRows(t *testing.T) {
	c := newTestCluster(t)
	data := sharedData(t)
	suffix := rand.Uint64() % 1_000_000_000
	dbSingle, dbCluster := fmt.Sprintf("hashatlas_single_%d", suffix), fmt.Sprintf("hashatlas_cluster_%d", suffix)
	dropDatabaseAtEnd(t, dbSingle)
	c.dropAtEnd(t, dbCluster)
	// Whatever happens, leave both replicas running for the tests after this one.
	t.Cleanup(func() { c.script(t, "start") })

	start := time.Now()
	if code, _, errOut := runCmd(t, nil, append(replayArgs(data, dbSingle, "--kafka.embedded", "--kafka.embedded-port=0"), fewDraws)...); code != exitOK {
		t.Fatalf("the undisturbed replay into a single node: exit %d: %s", code, errOut)
	}
	single := time.Since(start)

	start = time.Now()
	done := runCmdAsync(t, "replay", "--log.level=warn", "--kafka.embedded", "--kafka.embedded-port=0", fewDraws,
		"--clickhouse.addr="+strings.Join(c.addrs, ","), "--clickhouse.cluster="+c.name, "--clickhouse.database="+dbCluster,
		"--blocks="+filepath.Join(data, "blocks_2021_2026.csv.gz"), "--difficulty="+filepath.Join(data, "difficulty_epochs.csv"))
	replica2 := c.open(t, 1, dbCluster)
	const total = 282174
	copied := waitForProgress(t, done, total/3, "replica 2 held a third of the blocks", func() int64 {
		n, _ := uint64Of(replica2, "SELECT count() FROM "+dbCluster+".blocks")
		return int64(n)
	})
	c.script(t, "kill", "1")
	killed := time.Since(start)
	for deadline := time.Now().Add(45 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if n, ok := uint64Of(replica2, "SELECT toUInt64(min(active_replicas)) FROM system.replicas WHERE database = "+clickhouse.QuoteString(dbCluster)); ok && n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("replica 2 still counts replica 1 as active 45 s after it was killed")
		}
	}
	gone := time.Since(start)
	c.script(t, "start")
	back := time.Since(start)
	r := <-done
	if r.code != exitOK {
		t.Fatalf("the replay with replica 1 killed failed (exit %d): %s", r.code, r.errOut)
	}
	if !strings.Contains(r.out, fmt.Sprintf("replayed %d blocks", total)) {
		t.Fatalf("the replay said: %s", r.out)
	}
	t.Logf("single-node replay %.1f s; cluster replay %.1f s: replica 1 killed at %.1f s with %d blocks on replica 2, seen gone at %.1f s, back at %.1f s; %s",
		single.Seconds(), time.Since(start).Seconds(), killed.Seconds(), copied, gone.Seconds(), back.Seconds(), strings.TrimSpace(r.out))
	retries := 0
	for _, line := range strings.Split(r.errOut, "\n") {
		if strings.Contains(line, "retrying") {
			retries++
			t.Logf("writer: %s", line)
		}
	}
	t.Logf("%d inserts retried after the kill", retries)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	want := tableChecksums(t, ctx, openTestDB(t, dbSingle))
	replica1 := c.open(t, 0, dbCluster)
	for i, db := range []*clickhouse.DB{replica1, replica2} {
		syncReplica(t, db)
		got := tableChecksums(t, ctx, db)
		for _, table := range stateTables {
			if got[table] != want[table] {
				t.Errorf("replica %d: %s: %s, %s on the single node", i+1, table, got[table], want[table])
			}
		}
		inserted, _ := uint64Of(db, "SELECT count() FROM "+dbCluster+".blocks")
		t.Logf("replica %d: blocks %s (%d rows before merging); network_hashrate %s", i+1, got["blocks"], inserted, got["network_hashrate"])
	}
	if n := want["blocks"]; !strings.HasPrefix(n, fmt.Sprintf("%d rows", total)) {
		t.Fatalf("the single node holds blocks %s, want %d rows", n, total)
	}
}
