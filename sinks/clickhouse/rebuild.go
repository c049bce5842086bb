package clickhouse

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/hashatlas/hashatlas/schemas"
)

// Table rebuilds (schemas.Rebuild, migrations 0007 and 0008): the one non-additive migration
// form. Every mode creates a table with the partitioning of its last rebuild from the start
// (withFinalPartition), so only a table made by an older hashatlas needs one. On a single node
// or the embedded engine Migrate runs a table's six statements only for the table's last
// rebuild, and only when the table is not partitioned so already; otherwise only its two DROP
// … IF EXISTS run, clearing what an interrupted run left (an earlier rebuild of a table a later
// one rebuilds again would copy it twice). Cluster mode runs only additive statements, beside
// other migrators and without a lock, so it never rebuilds: it skips the rebuilds, and refuses
// to run when an existing table has another partitioning than the last rebuild's.

// partitionKey returns the partition key of table as the server states it
// (system.tables.partition_key, e.g. "toYYYYMM(time)"), and whether the table exists.
func partitionKey(ctx context.Context, db *DB, table string) (string, bool, error) {
	res, err := db.Query(ctx, fmt.Sprintf("SELECT partition_key FROM system.tables WHERE database = %s AND name = %s",
		QuoteString(db.database), QuoteString(table)))
	if err != nil {
		return "", false, fmt.Errorf("partition key of %s: %w", table, err)
	}
	if len(res.Rows) == 0 {
		return "", false, nil
	}
	key, _ := res.Rows[0][0].(string)
	return key, true, nil
}

// samePartition compares two partition expressions, ignoring blanks.
func samePartition(a, b string) bool {
	return strings.Join(strings.Fields(a), "") == strings.Join(strings.Fields(b), "")
}

// finalRebuild is the last rebuild of a table: its partition expression and its migration.
type finalRebuild struct{ partition, migration string }

// finalPartitions returns, for each table some migration rebuilds, its last rebuild.
func finalPartitions(ms []schemas.Migration) (map[string]finalRebuild, error) {
	out := map[string]finalRebuild{}
	for _, m := range ms {
		rs, err := m.Rebuilds()
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			out[r.Table] = finalRebuild{r.Partition, m.Name}
		}
	}
	return out, nil
}

var (
	createTableName = regexp.MustCompile(`^CREATE TABLE IF NOT EXISTS ([a-z_0-9]+)\b`)
	partitionClause = regexp.MustCompile(`(?s)\bPARTITION BY (.+?)(\s+ORDER BY\b)`)
)

// withFinalPartition returns a CREATE TABLE statement of a table that a later migration
// rebuilds with the partitioning of that rebuild, else stmt.
func withFinalPartition(stmt string, final map[string]finalRebuild) string {
	m := createTableName.FindStringSubmatch(stmt)
	if m == nil {
		return stmt
	}
	p, ok := final[m[1]]
	if !ok {
		return stmt
	}
	loc := partitionClause.FindStringSubmatchIndex(stmt)
	if loc == nil {
		return stmt
	}
	return stmt[:loc[2]] + p.partition + stmt[loc[3]:]
}

// checkClusterPartitions refuses cluster mode's run when a table some migration rebuilds exists
// with another partitioning than its last rebuild's: the rebuild is not additive, so cluster
// mode cannot run it beside other migrators.
func checkClusterPartitions(ctx context.Context, db *DB, final map[string]finalRebuild) error {
	for _, table := range slices.Sorted(maps.Keys(final)) {
		key, exists, err := partitionKey(ctx, db, table)
		if err != nil {
			return err
		}
		if f := final[table]; exists && !samePartition(key, f.partition) {
			return fmt.Errorf("table %s.%s on cluster %s is partitioned by %s, and the migrations rebuild it partitioned by %s: "+
				"a rebuild is not additive, and cluster mode runs only additive migrations beside other migrators; "+
				"with every writer stopped, rebuild it on each replica (schemas/migrations/%s shows the statements) "+
				"or migrate into a new database", db.database, table, db.cluster, orNone(key), f.partition, f.migration)
		}
	}
	return nil
}

// rebuildAction is what Migrate does with the statements of one table rebuild.
type rebuildAction int

const (
	rebuildRun       rebuildAction = iota // all six statements
	rebuildCleanOnly                      // the table has the partitioning, or a later rebuild follows: only the two DROP … IF EXISTS
	rebuildSkipAll                        // cluster mode: nothing (checked before any DDL)
)

// planRebuild decides what to do with rebuild r of db's table, given the table's last rebuild.
func planRebuild(ctx context.Context, db *DB, r schemas.Rebuild, last finalRebuild) (rebuildAction, error) {
	if db.cluster != "" {
		return rebuildSkipAll, nil
	}
	key, exists, err := partitionKey(ctx, db, r.Table)
	if err != nil {
		return 0, err
	}
	if !exists {
		return 0, fmt.Errorf("table %s to rebuild does not exist", r.Table)
	}
	if samePartition(key, r.Partition) || !samePartition(r.Partition, last.partition) {
		return rebuildCleanOnly, nil
	}
	return rebuildRun, nil
}

// orNone names an empty partition key.
func orNone(key string) string {
	if key == "" {
		return "nothing"
	}
	return key
}
