package schemas

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// migrationFiles holds the ClickHouse migrations, applied in order by `hashatlas migrate`
// (sinks/clickhouse.Migrate).
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migration is one numbered SQL file of schemas/migrations. Files are named
// NNNN_name.sql, numbered from 0001 without gaps. The conventions every file follows (and
// Migrations checks):
//
//   - Each statement ends with ';' as the last character of a line; ';' appears nowhere
//     else outside comments (not in strings, not in column comments).
//   - Lines whose first non-blank characters are "--" are comments; they are not sent.
//   - Table and view names are unqualified: the runner applies them in the configured
//     database.
//   - Statements are idempotent (CREATE … IF NOT EXISTS), so a migration interrupted
//     half-way can simply be applied again.
//   - A file is never edited once applied anywhere (its checksum is recorded and checked);
//     changes go into a new file.
//   - The SQL runs on both ClickHouse 18.16 (Debian's server) and 26.7 (chDB).
type Migration struct {
	// Version is the file's number, 1 for 0001_*.sql.
	Version int
	// Name is the file name, e.g. "0001_raw_tables.sql".
	Name string
	// SQL is the file's content.
	SQL string
}

// Checksum returns the lowercase hex SHA-256 of the file's content.
func (m Migration) Checksum() string {
	sum := sha256.Sum256([]byte(m.SQL))
	return hex.EncodeToString(sum[:])
}

// Statements splits the file into its statements, in order, without comment lines and
// without the terminating ';'. It assumes the file passed Migrations' checks.
func (m Migration) Statements() []string {
	stmts, _ := splitStatements(m.SQL)
	return stmts
}

var migrationName = regexp.MustCompile(`^(\d{4})_([a-z0-9_]+)\.sql$`)

// Migrations returns the embedded migrations sorted by version. It fails when a file name
// does not match NNNN_name.sql, when numbers repeat or leave a gap, or when a file breaks
// the statement conventions (see Migration).
func Migrations() ([]Migration, error) {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, fmt.Errorf("list migrations: %w", err)
	}
	var out []Migration
	for _, p := range names {
		b, err := migrationFiles.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", p, err)
		}
		m, err := ParseMigration(path.Base(p), string(b))
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	if err := CheckMigrations(out); err != nil {
		return nil, err
	}
	return out, nil
}

// ParseMigration builds a Migration from a file name and content and checks the statement
// conventions.
func ParseMigration(name, sql string) (Migration, error) {
	mm := migrationName.FindStringSubmatch(name)
	if mm == nil {
		return Migration{}, fmt.Errorf("migration %s: name must be NNNN_name.sql (four digits, lowercase name)", name)
	}
	v, _ := strconv.Atoi(mm[1])
	m := Migration{Version: v, Name: name, SQL: sql}
	stmts, err := splitStatements(sql)
	if err != nil {
		return Migration{}, fmt.Errorf("migration %s: %w", name, err)
	}
	if len(stmts) == 0 {
		return Migration{}, fmt.Errorf("migration %s: no statements", name)
	}
	if _, err := m.Rebuilds(); err != nil {
		return Migration{}, err
	}
	return m, nil
}

// CheckMigrations sorts ms by version and checks that the versions run 1, 2, 3, … without
// gaps or repeats.
func CheckMigrations(ms []Migration) error {
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	for i, m := range ms {
		if want := i + 1; m.Version != want {
			if i > 0 && m.Version == ms[i-1].Version {
				return fmt.Errorf("migrations %s and %s have the same number %04d", ms[i-1].Name, m.Name, m.Version)
			}
			return fmt.Errorf("migration %s: expected number %04d next (numbers start at 0001 and have no gaps)", m.Name, want)
		}
	}
	return nil
}

// splitStatements splits SQL text by the conventions documented on Migration.
func splitStatements(sql string) ([]string, error) {
	var (
		stmts []string
		cur   []string
	)
	for i, line := range strings.Split(sql, "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "--") {
			continue
		}
		semi := strings.IndexByte(trimmed, ';')
		if semi >= 0 && semi != len(trimmed)-1 {
			return nil, fmt.Errorf("line %d: ';' must only end a statement, as the last character of its line", i+1)
		}
		if semi < 0 {
			cur = append(cur, strings.TrimRight(line, " \t\r"))
			continue
		}
		cur = append(cur, strings.TrimSuffix(strings.TrimRight(line, " \t\r"), ";"))
		stmt := strings.TrimSpace(strings.Join(cur, "\n"))
		if stmt == "" {
			return nil, fmt.Errorf("line %d: empty statement", i+1)
		}
		stmts = append(stmts, stmt)
		cur = nil
	}
	if len(cur) > 0 {
		return nil, fmt.Errorf("the last statement does not end with ';'")
	}
	return stmts, nil
}

// A table rebuild is the one form of migration that is not additive: it changes what cannot be
// altered in place (the partitioning) and carries the data over. For a table T it is these six
// statements, in this order (0007_yearly_partitions.sql):
//
//	DROP TABLE IF EXISTS T__repartition_old;
//	DROP TABLE IF EXISTS T__repartition;
//	CREATE TABLE T__repartition AS T ENGINE = … PARTITION BY P ORDER BY …;
//	INSERT INTO T__repartition SELECT * FROM T;
//	RENAME TABLE T TO T__repartition_old, T__repartition TO T;
//	DROP TABLE T__repartition_old;
//
// The first two clear what an interrupted run left (the new table is filled from scratch; the
// old one is only ever dropped after the swap, when T holds its copy). The runner skips the
// group of a table already partitioned by P, and cluster mode creates T partitioned by P from
// the start (sinks/clickhouse).
var rebuildForms = []*regexp.Regexp{
	regexp.MustCompile(`^DROP TABLE IF EXISTS ([a-z_0-9]+)__repartition_old$`),
	regexp.MustCompile(`^DROP TABLE IF EXISTS ([a-z_0-9]+)__repartition$`),
	regexp.MustCompile(`^CREATE TABLE ([a-z_0-9]+)__repartition AS ([a-z_0-9]+) ENGINE = (.+?) PARTITION BY (.+?) ORDER BY (.+)$`),
	regexp.MustCompile(`^INSERT INTO ([a-z_0-9]+)__repartition SELECT \* FROM ([a-z_0-9]+)$`),
	regexp.MustCompile(`^RENAME TABLE ([a-z_0-9]+) TO ([a-z_0-9]+)__repartition_old, ([a-z_0-9]+)__repartition TO ([a-z_0-9]+)$`),
	regexp.MustCompile(`^DROP TABLE ([a-z_0-9]+)__repartition_old$`),
}

// Rebuild is one table rebuild of a migration.
type Rebuild struct {
	Table     string
	Partition string // the PARTITION BY expression of the rebuilt table, e.g. toYear(time)
	Engine    string // its ENGINE, e.g. ReplacingMergeTree(version)
	OrderBy   string
	First     int // index of its first statement in Statements()
}

// RebuildStep reports whether stmt is step k (0–5) of a table rebuild, and of which table.
func RebuildStep(stmt string) (table string, step int, ok bool) {
	s := strings.Join(strings.Fields(stmt), " ")
	for k, re := range rebuildForms {
		m := re.FindStringSubmatch(s)
		if m == nil {
			continue
		}
		names := m[2:]
		if k == 2 {
			names = m[2:3] // CREATE …: the AS table; the rest is the engine's text
		}
		for _, other := range names {
			if other != m[1] {
				return "", 0, false
			}
		}
		return m[1], k, true
	}
	return "", 0, false
}

// Rebuilds returns the table rebuilds of the migration, in order. It fails when a rebuild's
// statements are not the six of the form, in order, one after the other.
func (m Migration) Rebuilds() ([]Rebuild, error) {
	stmts := m.Statements()
	var out []Rebuild
	for i := 0; i < len(stmts); i++ {
		table, step, ok := RebuildStep(stmts[i])
		if !ok {
			continue
		}
		if step != 0 || i+len(rebuildForms) > len(stmts) {
			return nil, fmt.Errorf("migration %s, statement %d: a table rebuild starts with DROP TABLE IF EXISTS %s__repartition_old and has six statements", m.Name, i+1, table)
		}
		r := Rebuild{Table: table, First: i}
		for k := range rebuildForms {
			t, s, ok := RebuildStep(stmts[i+k])
			if !ok || s != k || t != table {
				return nil, fmt.Errorf("migration %s, statement %d: step %d of the rebuild of %s expected", m.Name, i+k+1, k+1, table)
			}
		}
		c := rebuildForms[2].FindStringSubmatch(strings.Join(strings.Fields(stmts[i+2]), " "))
		r.Engine, r.Partition, r.OrderBy = c[3], c[4], c[5]
		out = append(out, r)
		i += len(rebuildForms) - 1
	}
	return out, nil
}
