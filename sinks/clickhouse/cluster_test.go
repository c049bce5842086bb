package clickhouse

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/hashatlas/hashatlas/schemas"
)

// The statements of cluster mode, without a server: every migration statement has a cluster
// form, and each form is the statement with only the documented changes.

func TestClusterFormsOfTheLedgerATableAViewAndAnAlter(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{createMigrationsTable, `CREATE TABLE IF NOT EXISTS hdb.schema_migrations ON CLUSTER hc (
    version UInt32 COMMENT 'number of the migration file',
    name String COMMENT 'file name, e.g. 0001_raw_tables.sql',
    checksum String COMMENT 'sha256 hex of the file as applied',
    applied_at DateTime('UTC') COMMENT 'when it was applied'
) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/hdb/schema_migrations', '{replica}')
ORDER BY version`},
		{"CREATE TABLE IF NOT EXISTS t (\n    a UInt32 COMMENT 'x (from y) ENGINE = Log',\n    version UInt64\n) ENGINE = ReplacingMergeTree(version)\nPARTITION BY toYYYYMM(a)\nORDER BY (a)",
			"CREATE TABLE IF NOT EXISTS hdb.t ON CLUSTER hc (\n    a UInt32 COMMENT 'x (from y) ENGINE = Log',\n    version UInt64\n) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/hdb/t', '{replica}', version)\nPARTITION BY toYYYYMM(a)\nORDER BY (a)"},
		{"CREATE VIEW IF NOT EXISTS v AS\nSELECT * FROM blocks FINAL\nWHERE (height, hash) NOT IN (SELECT height, hash FROM orphaned_blocks FINAL) AND note != 'from x'",
			"CREATE VIEW IF NOT EXISTS hdb.v ON CLUSTER hc AS\nSELECT * FROM hdb.blocks FINAL\nWHERE (height, hash) NOT IN (SELECT height, hash FROM hdb.orphaned_blocks FINAL) AND note != 'from x'"},
		{"CREATE VIEW IF NOT EXISTS v AS\nSELECT a FROM (SELECT a FROM t) AS x ALL INNER JOIN u USING (a) JOIN (SELECT 1) USING a, b FROM system.one",
			"CREATE VIEW IF NOT EXISTS hdb.v ON CLUSTER hc AS\nSELECT a FROM (SELECT a FROM hdb.t) AS x ALL INNER JOIN hdb.u USING (a) JOIN (SELECT 1) USING a, b FROM system.one"},
		{"ALTER TABLE pool_stats ADD COLUMN x UInt8 DEFAULT 1 COMMENT 'a'",
			"ALTER TABLE hdb.pool_stats ON CLUSTER hc ADD COLUMN x UInt8 DEFAULT 1 COMMENT 'a'"},
	} {
		got, err := clusterStatement(tc.in, "hdb", "hc", true)
		if err != nil {
			t.Errorf("clusterStatement(%q): %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("clusterStatement(%q)\n got %q\nwant %q", tc.in, got, tc.want)
		}
	}
}

func TestEveryMigrationStatementHasAClusterForm(t *testing.T) {
	t.Run("with comments", func(t *testing.T) { testClusterForms(t, true) })
	t.Run("without comments (ClickHouse 18)", func(t *testing.T) { testClusterForms(t, false) })
}

func testClusterForms(t *testing.T, keepComments bool) {
	tables, views, alters, rebuildSteps, unpartitioned := 0, 0, 0, 0, 0
	ms := embeddedMigrations(t)
	final, err := finalPartitions(ms)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		for i, stmt := range m.Statements() {
			if _, _, ok := schemas.RebuildStep(stmt); ok {
				rebuildSteps++ // never run in cluster mode: the tables are made as the last rebuild makes them at creation
				continue
			}
			stmt = withFinalPartition(stmt, final)
			if strings.Contains(stmt, "PARTITION BY tuple()") {
				unpartitioned++
			}
			got, err := clusterStatement(stmt, "hdb", "hc", keepComments)
			if err != nil {
				t.Errorf("%s statement %d: %v", m.Name, i+1, err)
				continue
			}
			if !strings.Contains(got, " ON CLUSTER hc") {
				t.Errorf("%s statement %d has no ON CLUSTER: %s", m.Name, i+1, got)
			}
			// Outside the ON CLUSTER clause, the engine and the qualified names, the
			// statement is what the single node runs.
			back := regexp.MustCompile(`Replicated(\w*MergeTree)\('/clickhouse/tables/\{shard\}/hdb/\w+', '\{replica\}'(, )?`).ReplaceAllString(got, "$1(")
			back = strings.NewReplacer(" ON CLUSTER hc", "", "hdb.", "", "MergeTree()", "MergeTree").Replace(back)
			want := strings.TrimSpace(stmt)
			if !keepComments {
				want = withoutColumnComments(want)
				if c := regexp.MustCompile(`(?i)\bCOMMENT\b`).FindAllStringIndex(got, -1); len(c) > 0 && !strings.HasPrefix(got, "CREATE VIEW") {
					t.Errorf("%s statement %d keeps a comment: %s", m.Name, i+1, got)
				}
			}
			if back != want {
				t.Errorf("%s statement %d: the cluster form differs in more than the cluster parts:\n%s\n%s", m.Name, i+1, got, stmt)
			}
			switch {
			case strings.HasPrefix(got, "CREATE TABLE"):
				tables++
				if !regexp.MustCompile(`ENGINE = ReplicatedReplacingMergeTree\('/clickhouse/tables/\{shard\}/hdb/\w+', '\{replica\}', version\)`).MatchString(got) {
					t.Errorf("%s statement %d: not a replicated table: %s", m.Name, i+1, got)
				}
			case strings.HasPrefix(got, "CREATE VIEW"):
				views++
				if regexp.MustCompile(`(?i)\b(FROM|JOIN)\s+[a-z_]+\s`).MatchString(got) {
					t.Errorf("%s statement %d: a view reads an unqualified table: %s", m.Name, i+1, got)
				}
			case strings.HasPrefix(got, "ALTER TABLE"):
				alters++
			}
		}
	}
	if tables < 10 || views < 10 || alters < 2 {
		t.Errorf("%d tables, %d views and %d alters rewritten; the migrations hold more", tables, views, alters)
	}
	// the nine tables 0008 rebuilds are created without partitions by cluster mode; the 48 + 54
	// statements of the rebuilds of 0007 and 0008 are not sent
	if unpartitioned != 9 || rebuildSteps != 48+54 {
		t.Errorf("%d tables created without partitions and %d rebuild statements skipped; want 9 and 102", unpartitioned, rebuildSteps)
	}
}

func TestClusterModeRefusesStatementsThatDoNotOnlyAdd(t *testing.T) {
	for _, stmt := range []string{
		"DROP TABLE blocks",
		"DROP VIEW IF EXISTS blocks_latest",
		"CREATE TABLE blocks (a UInt8) ENGINE = ReplacingMergeTree ORDER BY a",
		"CREATE TABLE IF NOT EXISTS t (a UInt8) ENGINE = Memory",
		"CREATE TABLE IF NOT EXISTS t (a UInt8) ENGINE = ReplicatedMergeTree('/p', 'r') ORDER BY a",
		"CREATE OR REPLACE VIEW v AS SELECT 1",
		"ALTER TABLE t MODIFY COLUMN a UInt16",
		"ALTER TABLE t DROP COLUMN a",
		"RENAME TABLE a TO b",
		"INSERT INTO t SELECT 1",
		"OPTIMIZE TABLE t FINAL",
	} {
		if got, err := clusterStatement(stmt, "hdb", "hc", true); !errors.Is(err, errNotForCluster) {
			t.Errorf("clusterStatement(%q) = %q, %v; want a refusal", stmt, got, err)
		}
	}
}

func TestColumnCommentsAreLeftOutForClickHouse18(t *testing.T) {
	in := "CREATE TABLE IF NOT EXISTS t (\n    a UInt32 COMMENT 'it''s a COMMENT \\' here',\n    b String DEFAULT 'COMMENT x' comment 'b',\n    c Float64 DEFAULT 0.95\n) ENGINE = MergeTree\nORDER BY a"
	want := "CREATE TABLE IF NOT EXISTS hdb.t ON CLUSTER hc (\n    a UInt32,\n    b String DEFAULT 'COMMENT x',\n    c Float64 DEFAULT 0.95\n) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/hdb/t', '{replica}')\nORDER BY a"
	if got, err := clusterStatement(in, "hdb", "hc", false); err != nil || got != want {
		t.Errorf("clusterStatement = %q, %v\nwant %q", got, err, want)
	}
	alter := "ALTER TABLE pool_stats ADD COLUMN x UInt8 DEFAULT 1 COMMENT 'a'"
	if got, err := clusterStatement(alter, "hdb", "hc", false); err != nil || got != "ALTER TABLE hdb.pool_stats ON CLUSTER hc ADD COLUMN x UInt8 DEFAULT 1" {
		t.Errorf("clusterStatement(%q) = %q, %v", alter, got, err)
	}
	for version, want := range map[string]bool{"18.16.1": false, "18.14.19": false, "19.1.6": true, "24.8.4.13": true, "26.7.2.1": true} {
		if got := commentsInReplicatedTables(version); got != want {
			t.Errorf("commentsInReplicatedTables(%q) = %v", version, got)
		}
	}
}
