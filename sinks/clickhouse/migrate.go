package clickhouse

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"time"

	"github.com/hashatlas/hashatlas/schemas"
	"github.com/sirupsen/logrus"
)

// MigrationsTable records the applied migrations, in the DB's database.
const MigrationsTable = "schema_migrations"

// AppliedMigration is one row of MigrationsTable.
type AppliedMigration struct {
	Version   int
	Name      string
	Checksum  string // lowercase hex SHA-256 of the file as applied
	AppliedAt time.Time
}

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS ` + MigrationsTable + ` (
    version UInt32 COMMENT 'number of the migration file',
    name String COMMENT 'file name, e.g. 0001_raw_tables.sql',
    checksum String COMMENT 'sha256 hex of the file as applied',
    applied_at DateTime('UTC') COMMENT 'when it was applied'
) ENGINE = MergeTree
ORDER BY version`

// AppliedMigrations returns the migrations recorded in db, by version (empty when none
// were applied, even when MigrationsTable does not exist yet). A migration recorded more than
// once with the same name and checksum (two migrators applied it at the same time: see the
// package doc) is returned once, with its first applied_at.
func AppliedMigrations(ctx context.Context, db *DB) ([]AppliedMigration, error) {
	res, err := db.Query(ctx, fmt.Sprintf("SELECT count() FROM system.tables WHERE database = %s AND name = %s",
		QuoteString(db.database), QuoteString(MigrationsTable)))
	if err != nil {
		return nil, fmt.Errorf("look for %s: %w", MigrationsTable, err)
	}
	if n, _ := res.Rows[0][0].(uint64); n == 0 {
		return nil, nil
	}
	res, err = db.Query(ctx, "SELECT version, name, checksum, applied_at FROM "+MigrationsTable+" ORDER BY version, applied_at")
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", MigrationsTable, err)
	}
	out := make([]AppliedMigration, 0, len(res.Rows))
	for _, r := range res.Rows {
		a := AppliedMigration{
			Version:   int(r[0].(uint32)),
			Name:      r[1].(string),
			Checksum:  r[2].(string),
			AppliedAt: r[3].(time.Time),
		}
		if n := len(out); n > 0 && out[n-1].Version == a.Version && out[n-1].Name == a.Name && out[n-1].Checksum == a.Checksum {
			continue // the same migration, recorded again by a concurrent migrator
		}
		out = append(out, a)
	}
	return out, nil
}

// Migrate applies the migrations not yet recorded in db, in version order, recording each
// in MigrationsTable once all its statements succeeded, and returns the names it applied
// (empty when the database was up to date: a second run is a no-op).
//
// Before applying anything it checks the record against migrations: it refuses to run when
// an applied file's checksum differs from the one given (the file was edited after it was
// applied), when its name differs, or when the database has a migration this binary does not
// know. migrations must be numbered 1…n without gaps (schemas.Migrations guarantees it).
//
// On a DB opened with Config.Cluster (cluster mode), the database, MigrationsTable and every
// table are created on every replica of the cluster (ON CLUSTER), as Replicated tables, and
// the run is safe beside other migrators of the same database (see the package doc: additive
// statements only, each idempotent, serialized by the cluster's DDL queue). When every
// migration is recorded already it runs no DDL at all, so a process that migrates at start
// starts while a replica is down. A single node or the embedded engine takes no lock: run one
// migrator at a time there. If Migrate fails half-way through a migration, that migration is
// not recorded and its idempotent statements run again next time. log may be nil.
func Migrate(ctx context.Context, db *DB, migrations []schemas.Migration, log logrus.FieldLogger) ([]string, error) {
	log = orDiscard(log)
	log = log.WithFields(logrus.Fields{"component": "migrate", "database": db.database})
	ms := append([]schemas.Migration(nil), migrations...)
	if err := schemas.CheckMigrations(ms); err != nil {
		return nil, err
	}
	ledger := createMigrationsTable
	// send[v-1][i] is what runs for statement i of migration v: the statement itself, or its
	// cluster form (rewritten before anything runs, so that a statement cluster mode refuses
	// stops the run before its first DDL).
	send := make([][]string, len(ms))
	for i, m := range ms {
		send[i] = m.Statements()
	}
	final, err := finalPartitions(ms)
	if err != nil {
		return nil, err
	}
	for i := range send {
		for j, stmt := range send[i] {
			// a table a later migration rebuilds is created with its final partitioning (the
			// rebuild then finds nothing to do): the end state of running the files in order
			if _, _, ok := schemas.RebuildStep(stmt); !ok {
				send[i][j] = withFinalPartition(stmt, final)
			}
		}
	}
	if db.cluster != "" {
		comments := commentsInReplicatedTables(db.version)
		if ledger, err = clusterStatement(createMigrationsTable, db.database, db.cluster, comments); err != nil {
			return nil, err
		}
		for i, m := range ms {
			for j, stmt := range send[i] {
				if _, _, ok := schemas.RebuildStep(stmt); ok {
					send[i][j] = "" // never run in cluster mode (rebuild.go)
					continue
				}
				if send[i][j], err = clusterStatement(stmt, db.database, db.cluster, comments); err != nil {
					return nil, fmt.Errorf("migration %s, statement %d: %w", m.Name, j+1, err)
				}
			}
		}
		applied, err := AppliedMigrations(ctx, db)
		if err != nil {
			return nil, err
		}
		done, err := checkApplied(db, applied, ms)
		if err != nil {
			return nil, err
		}
		if len(done) == len(ms) {
			return nil, nil // up to date: no DDL, which would wait for every replica
		}
		if err := checkCluster(ctx, db); err != nil {
			return nil, err
		}
		if err := checkClusterPartitions(ctx, db, final); err != nil {
			return nil, err
		}
		if err := db.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+db.database+" ON CLUSTER "+db.cluster); err != nil {
			return nil, fmt.Errorf("create database %s on cluster %s: %w", db.database, db.cluster, err)
		}
	}
	if err := db.Exec(ctx, ledger); err != nil {
		return nil, fmt.Errorf("create %s: %w", MigrationsTable, err)
	}
	applied, err := AppliedMigrations(ctx, db)
	if err != nil {
		return nil, err
	}
	done, err := checkApplied(db, applied, ms)
	if err != nil {
		return nil, err
	}
	record, err := NewWriter(ctx, db, MigrationsTable, []string{"version", "name", "checksum", "applied_at"},
		WriterConfig{BatchRows: 1 << 20, FlushInterval: time.Hour}, log, nil)
	if err != nil {
		return nil, err
	}
	defer func() {
		// Every recorded row was flushed above; what remains after an error was not
		// acknowledged, and the error returned says so.
		record.Discard(ctx)
		_ = record.Close(ctx)
	}()
	var names []string
	for _, m := range ms {
		if _, ok := done[m.Version]; ok {
			continue
		}
		start := time.Now()
		rebuilds, err := m.Rebuilds()
		if err != nil {
			return names, err
		}
		var action rebuildAction
		for i, stmt := range m.Statements() {
			if _, step, ok := schemas.RebuildStep(stmt); ok {
				if step == 0 {
					r := rebuilds[0]
					rebuilds = rebuilds[1:]
					if action, err = planRebuild(ctx, db, r, final[r.Table]); err != nil {
						return names, fmt.Errorf("apply migration %s, statement %d: %w", m.Name, i+1, err)
					}
				}
				if action == rebuildSkipAll || action == rebuildCleanOnly && step > 1 {
					continue
				}
			}
			if done, err := columnAdded(ctx, db, stmt); err != nil {
				return names, fmt.Errorf("apply migration %s, statement %d: %w", m.Name, i+1, err)
			} else if done {
				continue
			}
			if db.beforeMigrationStatement != nil {
				db.beforeMigrationStatement(m.Name, i)
			}
			if err := db.Exec(ctx, send[m.Version-1][i]); err != nil {
				if db.cluster != "" && isDuplicateColumn(err) {
					// A concurrent migrator's ADD COLUMN ran first (the DDL queue ran both,
					// in order): the column is there, which is what this statement is for.
					if added, cerr := columnAdded(ctx, db, stmt); cerr == nil && added {
						continue
					}
				}
				return names, fmt.Errorf("apply migration %s, statement %d: %w", m.Name, i+1, err)
			}
		}
		if err := record.Add(ctx, uint32(m.Version), m.Name, m.Checksum(), time.Now().UTC()); err != nil {
			return names, fmt.Errorf("record migration %s: %w", m.Name, err)
		}
		if err := record.Flush(ctx); err != nil {
			return names, fmt.Errorf("record migration %s: %w", m.Name, err)
		}
		names = append(names, m.Name)
		log.WithFields(logrus.Fields{"migration": m.Name, "duration_seconds": time.Since(start).Seconds()}).Info("migration applied")
	}
	sort.Strings(names)
	return names, nil
}

// RequireMigrated returns nil when every migration is recorded in db, and otherwise an error
// naming the first one missing and saying to run `hashatlas migrate`: for processes that must
// not migrate themselves (one migrator per deployment, e.g. the Kubernetes Job). It runs no DDL.
func RequireMigrated(ctx context.Context, db *DB, migrations []schemas.Migration) error {
	applied, err := AppliedMigrations(ctx, db)
	if err != nil {
		return err
	}
	done, err := checkApplied(db, applied, migrations)
	if err != nil {
		return err
	}
	for _, m := range migrations {
		if _, ok := done[m.Version]; !ok {
			return fmt.Errorf("database %s lacks migration %s (%d of %d applied): run `hashatlas migrate` first (this process was told not to migrate)",
				db.database, m.Name, len(done), len(migrations))
		}
	}
	return nil
}

// checkApplied checks the record of db against ms (sorted by version) and returns the applied
// migrations by version.
func checkApplied(db *DB, applied []AppliedMigration, ms []schemas.Migration) (map[int]AppliedMigration, error) {
	done := map[int]AppliedMigration{}
	for _, a := range applied {
		if a.Version < 1 || a.Version > len(ms) {
			return nil, fmt.Errorf("database %s has migration %s (number %04d) applied, which this binary does not have (it knows 0001 to %04d): run a newer hashatlas",
				db.database, a.Name, a.Version, len(ms))
		}
		m := ms[a.Version-1]
		if a.Name != m.Name {
			return nil, fmt.Errorf("migration number %04d was applied as %s but this binary names it %s: migration files must not be renamed", a.Version, a.Name, m.Name)
		}
		if sum := m.Checksum(); a.Checksum != sum {
			return nil, fmt.Errorf("migration %s changed after it was applied to database %s: recorded checksum %s, current checksum %s; restore the file and put the change in a new migration",
				m.Name, db.database, a.Checksum, sum)
		}
		done[a.Version] = a
	}
	return done, nil
}

// addColumn matches the one ALTER form migrations may use, a single ADD COLUMN.
var addColumn = regexp.MustCompile(`(?is)^\s*ALTER\s+TABLE\s+([A-Za-z_][A-Za-z0-9_]*)\s+ADD\s+COLUMN\s+([A-Za-z_][A-Za-z0-9_]*)\s`)

// columnAdded reports whether stmt is "ALTER TABLE t ADD COLUMN c ..." and t already has c.
// The 18.16 server has no ADD COLUMN IF NOT EXISTS, so this check keeps such a statement
// idempotent: a migration interrupted after it can simply be applied again.
func columnAdded(ctx context.Context, db *DB, stmt string) (bool, error) {
	m := addColumn.FindStringSubmatch(stmt)
	if m == nil {
		return false, nil
	}
	res, err := db.Query(ctx, fmt.Sprintf("SELECT count() FROM system.columns WHERE database = '%s' AND table = '%s' AND name = '%s'",
		db.database, m[1], m[2]))
	if err != nil {
		return false, err
	}
	if len(res.Rows) != 1 || len(res.Rows[0]) != 1 {
		return false, fmt.Errorf("checking column %s.%s: unexpected result %v", m[1], m[2], res.Rows)
	}
	n, err := strconv.ParseUint(fmt.Sprint(res.Rows[0][0]), 10, 64)
	if err != nil {
		return false, fmt.Errorf("checking column %s.%s: %w", m[1], m[2], err)
	}
	return n > 0, nil
}
