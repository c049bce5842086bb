package schemas

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

func TestEmbeddedMigrationsAreNumberedFromOneWithoutGaps(t *testing.T) {
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 {
		t.Fatal("no migrations embedded")
	}
	for i, m := range ms {
		if m.Version != i+1 {
			t.Errorf("migration %d is %s (version %d)", i, m.Name, m.Version)
		}
		if len(m.Statements()) == 0 {
			t.Errorf("%s has no statements", m.Name)
		}
	}
}

func TestChecksumIsTheSHA256OfTheFileOnDisk(t *testing.T) {
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		b, err := os.ReadFile(filepath.Join("migrations", m.Name))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		if got, want := m.Checksum(), hex.EncodeToString(sum[:]); got != want {
			t.Errorf("%s: checksum %s, sha256sum gives %s", m.Name, got, want)
		}
	}
}

func TestEveryTableOfTheArchitectureIsCreatedIdempotently(t *testing.T) {
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	created := map[string]bool{}
	createRe := regexp.MustCompile(`^CREATE (TABLE|VIEW) (IF NOT EXISTS )?([a-z_0-9]+)`)
	// ALTER TABLE t ADD COLUMN c: made idempotent by the runner (sinks/clickhouse columnAdded),
	// of a table an earlier statement created.
	addRe := regexp.MustCompile(`^ALTER TABLE ([a-z_0-9]+) ADD COLUMN [a-z_0-9]+ `)
	for _, m := range ms {
		for _, s := range m.Statements() {
			if table, _, ok := RebuildStep(s); ok {
				// a table rebuild (0007, 0008): of a table an earlier statement created
				if !created[table] {
					t.Errorf("%s: rebuild of %s, which no earlier migration creates", m.Name, table)
				}
				continue
			}
			if a := addRe.FindStringSubmatch(s); a != nil {
				if !created[a[1]] {
					t.Errorf("%s: ALTER of %s, which no earlier migration creates", m.Name, a[1])
				}
				continue
			}
			mm := createRe.FindStringSubmatch(s)
			if mm == nil {
				t.Errorf("%s: statement is not a CREATE TABLE/VIEW: %.60s", m.Name, s)
				continue
			}
			if mm[2] == "" {
				t.Errorf("%s: %s is created without IF NOT EXISTS (migrations must be re-runnable)", m.Name, mm[3])
			}
			if strings.Contains(mm[3], ".") {
				t.Errorf("%s: %s is qualified with a database", m.Name, mm[3])
			}
			created[mm[3]] = true
		}
	}
	for _, name := range []string{
		"blocks", "orphaned_blocks", "difficulty_epochs", "pool_stats", "grid_observations",
		"network_hashrate", "pool_hashrate", "country_hashrate", "region_block_share", "energy_signals",
		"network_hashrate_latest", "country_hashrate_latest", "blocks_canonical",
	} {
		if !created[name] {
			t.Errorf("no migration creates %s", name)
		}
	}
}

func TestMigrationsAvoidWhatClickHouse18_16Lacks(t *testing.T) {
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	lacking := regexp.MustCompile(`(?i)\b(DateTime64|TTL|CODEC|Map\(|LowCardinality|Nullable|JSON\b|Object\(|Bool\b)`)
	for _, m := range ms {
		for _, s := range m.Statements() {
			if f := lacking.FindString(s); f != "" {
				t.Errorf("%s uses %s, which ClickHouse 18.16 does not support: %.60s", m.Name, f, s)
			}
		}
	}
}

func TestStatementsSplitAtSemicolonsThatEndALine(t *testing.T) {
	sql := "-- header; with a semicolon in a comment\n" +
		"CREATE TABLE a (\n    x UInt8\n) ENGINE = Memory;\n" +
		"\n   -- indented comment\n" +
		"CREATE VIEW b AS\nSELECT 1;   \n"
	m, err := ParseMigration("0001_x.sql", sql)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"CREATE TABLE a (\n    x UInt8\n) ENGINE = Memory", "CREATE VIEW b AS\nSELECT 1"}
	if got := m.Statements(); !reflect.DeepEqual(got, want) {
		t.Errorf("Statements() = %q, want %q", got, want)
	}
}

func TestParseMigrationRejectsFilesBreakingTheConventions(t *testing.T) {
	for _, tc := range []struct {
		name, file, sql, wantErr string
	}{
		{"a file name without four digits", "1_x.sql", "SELECT 1;\n", "NNNN_name.sql"},
		{"an upper-case file name", "0001_X.sql", "SELECT 1;\n", "NNNN_name.sql"},
		{"a semicolon inside a statement", "0001_x.sql", "CREATE TABLE a (s String DEFAULT ';') ENGINE = Memory;\n", "line 1"},
		{"two statements on one line", "0001_x.sql", "SELECT 1; SELECT 2;\n", "line 1"},
		{"a comment after the semicolon", "0001_x.sql", "SELECT 1; -- one\n", "line 1"},
		{"a last statement without semicolon", "0001_x.sql", "SELECT 1;\nSELECT 2\n", "does not end with ';'"},
		{"an empty statement", "0001_x.sql", "SELECT 1;\n;\n", "empty statement"},
		{"only comments", "0001_x.sql", "-- nothing\n", "no statements"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseMigration(tc.file, tc.sql)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.file) {
				t.Errorf("error %q does not name the file %s", err, tc.file)
			}
		})
	}
}

func TestCheckMigrationsRejectsGapsAndRepeatedNumbers(t *testing.T) {
	mk := func(names ...string) []Migration {
		var ms []Migration
		for _, n := range names {
			m, err := ParseMigration(n, "SELECT 1;\n")
			if err != nil {
				t.Fatal(err)
			}
			ms = append(ms, m)
		}
		return ms
	}
	for _, tc := range []struct {
		name    string
		files   []string
		wantErr string
	}{
		{"numbering starting at 2", []string{"0002_b.sql"}, "expected number 0001"},
		{"a gap", []string{"0001_a.sql", "0003_c.sql"}, "expected number 0002"},
		{"a repeated number", []string{"0001_a.sql", "0002_b.sql", "0002_c.sql"}, "same number 0002"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckMigrations(mk(tc.files...))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
	ms := mk("0002_b.sql", "0001_a.sql")
	if err := CheckMigrations(ms); err != nil {
		t.Fatalf("out-of-order but complete migrations: %v", err)
	}
	if ms[0].Name != "0001_a.sql" {
		t.Errorf("CheckMigrations did not sort: %s first", ms[0].Name)
	}
}

// TestTableRebuildsAreWholeAndUnpartitioned: a table rebuild is accepted only as its six
// statements in order; every table of 0001–0006 created with a partition key is rebuilt, last,
// without one (0008) with the engine and sorting key it had; 0007's yearly rebuilds of the
// monthly tables stay as they were released.
func TestTableRebuildsAreWholeAndUnpartitioned(t *testing.T) {
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	last := map[string]Rebuild{}
	yearly := map[string]Rebuild{} // 0007's
	for _, m := range ms {
		rs, err := m.Rebuilds()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			last[r.Table] = r
			if m.Version == 7 {
				yearly[r.Table] = r
			}
		}
	}
	partitioned := regexp.MustCompile(`CREATE TABLE IF NOT EXISTS ([a-z_0-9]+) \((?s:.*)\) ENGINE = (\S+)\s+PARTITION BY (toYYYYMM|toYear)\((\w+)\)\s+ORDER BY (.+)$`)
	n, monthly := 0, 0
	for _, m := range ms {
		for _, s := range m.Statements() {
			mm := partitioned.FindStringSubmatch(s)
			if mm == nil {
				continue
			}
			n++
			r, ok := last[mm[1]]
			if !ok {
				t.Errorf("%s: %s is partitioned and not rebuilt", m.Name, mm[1])
				continue
			}
			if r.Partition != "tuple()" || r.Engine != mm[2] || r.OrderBy != mm[5] {
				t.Errorf("%s rebuilt last as %s PARTITION BY %s ORDER BY %s; want %s, tuple(), %s", mm[1], r.Engine, r.Partition, r.OrderBy, mm[2], mm[5])
			}
			if mm[3] == "toYYYYMM" {
				monthly++
				if y, ok := yearly[mm[1]]; !ok || y.Partition != "toYear("+mm[4]+")" {
					t.Errorf("0007 rebuilds %s as %+v, want toYear(%s)", mm[1], y, mm[4])
				}
			}
		}
	}
	if n != 9 || monthly != 8 || len(last) != 9 || len(yearly) != 8 {
		t.Errorf("%d partitioned tables (%d monthly), %d rebuilt (%d by 0007); want 9 (8), 9 (8)", n, monthly, len(last), len(yearly))
	}
	bad := "DROP TABLE IF EXISTS t__repartition_old;\nDROP TABLE IF EXISTS t__repartition;\nINSERT INTO t__repartition SELECT * FROM t;\n"
	if _, err := ParseMigration("0009_broken.sql", bad); err == nil {
		t.Error("a rebuild without its CREATE, RENAME and DROP was accepted")
	}
}
