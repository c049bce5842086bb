// Package clickhouse is hashatlas' only door to ClickHouse: it opens a server (clickhouse-go,
// native protocol) or the embedded engine (chDB, linked only with the build tag chdb) behind
// one DB type, writes rows in batches (Writer), applies the migrations of package schemas
// (Migrate), runs queries for reports (DB.Query), and classifies errors for retry decisions
// (Classify).
//
// The same SQL must run on Debian's ClickHouse 18.16 server and on chDB 26.7; the package
// keeps to what both accept (see schemas/migrations). Against 18.16, rows are inserted only
// through driver batches with an explicit column list: INSERT … VALUES sent as a statement
// hangs that server, so DB.Exec refuses it and Writer is the way to insert.
//
// # Cluster mode
//
// Config.Cluster (--clickhouse.cluster NAME) is for a replicated ClickHouse: one shard of
// replicas listed as cluster NAME in the servers' remote_servers, coordinated by ZooKeeper (or
// ClickHouse Keeper), with the {shard} and {replica} macros and <distributed_ddl> configured
// (deploy/local/clickhouse-cluster.sh starts such a cluster on loopback). Migrate then creates
// the database, the ledger (schema_migrations) and every table on every replica with ON CLUSTER
// statements, each table as the Replicated variant of its engine at the ZooKeeper path
// ReplicatedPath — ReplacingMergeTree(version) becomes
// ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/<database>/<table>', '{replica}',
// version) — and each view with the tables it reads qualified by the database (an ON CLUSTER
// statement runs in each server's default database). On 18.x servers the columns carry no
// comments: 18.x cannot create a Replicated table whose columns have comments. Rows are written
// and read through whichever replica Config.Addr reaches (list every replica, so that a client
// moves on when one is down), and the replicas copy each other's parts. A single node and the
// embedded engine run the migration files as written, but for the partitioning of tables a later
// migration rebuilds (next).
//
// Table rebuilds (schemas.Rebuild; 0007 made the monthly partitions yearly, 0008 drops the
// partition key) are the one migration form that is not additive: a copy with the new
// partitioning is filled, swapped in by name and the old table dropped (rebuild.go). A single
// node or the embedded engine runs a table's last rebuild unless the table is partitioned so
// already (otherwise, and for its earlier rebuilds, it only drops what an interrupted run
// left); run one migrator at a time there, with writers stopped (rows written to a table while
// it is rebuilt go with the old copy). Every mode creates such a table with its last rebuild's
// partitioning from the start, so a new database has nothing to rebuild. Cluster mode never
// rebuilds: it refuses, before any DDL, a database whose table still has the old partitioning
// (made by an older hashatlas).
//
// Concurrent migrators. Several processes may migrate one database at once in cluster mode (a
// Job, an init container and the estimator do in Kubernetes); Migrate takes no lock and needs
// none, for three reasons that hold on ClickHouse 18.16:
//
//   - Every statement only adds, and is idempotent: CREATE TABLE IF NOT EXISTS, CREATE VIEW IF
//     NOT EXISTS, ALTER TABLE … ADD COLUMN. Cluster mode refuses any other statement before it
//     runs anything (a table rebuild's are not sent at all: see above). A second CREATE is a no-op; a second ADD COLUMN, which the server refuses
//     because the column exists, counts as done.
//   - Every statement goes through the cluster's DDL queue in ZooKeeper (a sequential node per
//     statement: one total order), which every replica runs in that order, one statement at a
//     time, and a migrator sends a statement only once its previous one has finished on every
//     replica. Whatever the interleaving of two migrators, each object is first created in the
//     order of the files and later copies change nothing: the schema is that of one run.
//   - A migration is recorded (one row in the replicated ledger) only once all its statements
//     have finished on every replica. Two migrators may both record it, with the same name and
//     checksum; AppliedMigrations reads such rows as one.
//
// A lock would only add a way to get stuck: a migrator killed half-way leaves nothing to release,
// and the next run applies the unrecorded migration's idempotent statements again. An ON
// CLUSTER statement waits for every replica (up to the server's distributed_ddl_task_timeout):
// with a replica down a migration fails, and the replica runs the queued statements when it is
// back. A Migrate that finds every migration recorded runs no DDL, so a process that migrates
// at start starts while a replica is down.
//
// Replicated tables drop an inserted block identical to one of the last ones inserted
// (insert_deduplicate, replicated_deduplication_window). That makes a Writer's retries of a
// batch exact — the batch sent again after an error that hid its success is dropped, not
// stored twice — and it cannot drop a write that matters: every row carries version, the Unix
// nanoseconds of the compute that made it, so two different writes never form identical
// blocks, and a block identical to a stored one holds only rows that are stored already.
package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sirupsen/logrus"
)

// backend is one way of reaching ClickHouse. Implementations are safe for concurrent use.
type backend interface {
	// exec runs a statement that returns no rows.
	exec(ctx context.Context, sql string) error
	// query runs a statement and reads its whole result.
	query(ctx context.Context, sql string) (*Result, error)
	// insert writes the buffered rows into table (unqualified, in the DB's database) in one
	// insert; a nil error means the engine acknowledged all of them.
	insert(ctx context.Context, table string, names []string, rows *rowBuffer) error
	close() error
}

// DB is an open ClickHouse: a server connection pool or the embedded engine, with the
// configured database as the default for unqualified table names. It is safe for
// concurrent use.
type DB struct {
	b            backend
	database     string
	cluster      string // Config.Cluster: empty on a single node
	embedded     bool
	readOnly     bool
	queryTimeout time.Duration
	version      string
	log          logrus.FieldLogger
	metrics      *dbMetrics

	// beforeMigrationStatement, when set (by tests), is called by Migrate before it sends a
	// migration statement: with the file name and the statement's index.
	beforeMigrationStatement func(migration string, statement int)
}

// Column names and types one column of a query result.
type Column struct {
	// Name is the column name as the engine reports it.
	Name string
	// Type is the ClickHouse type, e.g. "UInt64", "DateTime('UTC')", "Array(String)".
	Type string
}

// Result is a query result, read completely into memory.
//
// Values have the same Go types on both engines for these ClickHouse types: UInt8…UInt64
// and Int8…Int64 as uint8…uint64 and int8…int64, Float32/Float64 as float32/float64,
// String and FixedString as string, Date and DateTime as time.Time (in the column's time
// zone), Bool as bool, Array(T) as []T, Nullable(T) as T or nil, LowCardinality(T) as T.
// Other types come as each engine delivers them; CAST them in SQL (toString, toFloat64)
// where the same Go type is needed on both.
type Result struct {
	Columns []Column
	// Rows holds one slice per row, in column order. The caller owns it.
	Rows [][]any
}

// Names returns the column names in order.
func (r *Result) Names() []string {
	names := make([]string, len(r.Columns))
	for i, c := range r.Columns {
		names[i] = c.Name
	}
	return names
}

// Open connects to the ClickHouse that cfg selects — the embedded engine when
// cfg.EmbeddedDir is set, else the server at cfg.Addr — creates cfg.Database when missing,
// and checks that it answers. cfg must have passed Validate. log may be nil (no logs); reg
// may be nil (no metrics). A nil error means the engine answered a query; Close the DB when
// done.
func Open(ctx context.Context, cfg Config, log logrus.FieldLogger, reg prometheus.Registerer) (*DB, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log = orDiscard(log)
	var (
		b   backend
		err error
	)
	if cfg.EmbeddedDir != "" {
		log = log.WithFields(logrus.Fields{"component": "clickhouse", "engine": "embedded", "database": cfg.Database})
		b, err = openEmbedded(ctx, cfg)
	} else {
		log = log.WithFields(logrus.Fields{"component": "clickhouse", "engine": "server", "database": cfg.Database})
		b, err = openServer(ctx, cfg)
	}
	if err != nil {
		return nil, err
	}
	db := &DB{b: b, database: cfg.Database, cluster: cfg.Cluster, embedded: cfg.EmbeddedDir != "", readOnly: cfg.ReadOnly, queryTimeout: cfg.QueryTimeout,
		log: log, metrics: newDBMetrics(reg)}
	res, err := db.Query(ctx, "SELECT version()")
	if err != nil {
		_ = b.close()
		return nil, fmt.Errorf("query the clickhouse version: %w", err)
	}
	if len(res.Rows) == 1 && len(res.Rows[0]) == 1 {
		db.version, _ = res.Rows[0][0].(string)
	}
	log.WithField("version", db.version).Debug("clickhouse opened")
	return db, nil
}

// ServerVersion returns the engine's version, e.g. "18.16.1" or "26.7.2.1".
func (db *DB) ServerVersion() string { return db.version }

// Database returns the database that unqualified table names refer to.
func (db *DB) Database() string { return db.database }

// Cluster returns the cluster of cluster mode (Config.Cluster), empty on a single node.
func (db *DB) Cluster() string { return db.cluster }

// Embedded reports whether db is the embedded engine (chDB) rather than a server.
func (db *DB) Embedded() bool { return db.embedded }

// ReadOnly reports whether db was opened read-only (Config.ReadOnly).
func (db *DB) ReadOnly() bool { return db.readOnly }

// ErrNoEmbeddedEngine is returned by Open for Config.EmbeddedDir in a binary built without
// the build tag chdb.
var ErrNoEmbeddedEngine = errors.New("this hashatlas was built without the embedded ClickHouse engine; build with -tags chdb (make does)")

// insertWithData matches INSERT statements that carry their rows in the text.
var insertWithData = regexp.MustCompile(`(?is)^\s*INSERT\s+INTO\s+[^(\s]+(\s*\([^)]*\))?\s*(VALUES|FORMAT)\b`)

// ErrInsertThroughExec is returned by Exec for INSERT … VALUES / FORMAT statements: rows are
// written through a Writer (the 18.16 server hangs on such statements from clickhouse-go).
var ErrInsertThroughExec = errors.New("insert rows through a Writer, not Exec (INSERT ... VALUES hangs the ClickHouse 18.16 server)")

// Exec runs one statement that returns no rows (DDL, INSERT … SELECT, OPTIMIZE, …); a
// trailing ';' is dropped. A nil error means the engine completed it.
func (db *DB) Exec(ctx context.Context, sql string) error {
	sql = strings.TrimSuffix(strings.TrimSpace(sql), ";")
	if insertWithData.MatchString(sql) {
		if db.readOnly {
			return fmt.Errorf("exec %s: %w", abbreviate(sql), ErrReadOnly)
		}
		return ErrInsertThroughExec
	}
	start := time.Now()
	err := db.b.exec(ctx, sql)
	db.metrics.observe("exec", start, err)
	if err != nil {
		return fmt.Errorf("exec %s: %w", abbreviate(sql), err)
	}
	return nil
}

// Query runs one statement and returns its whole result (see Result for the value types).
// It is meant for results that fit in memory: reports, status, tests. It gives up after
// Config.QueryTimeout (or when ctx ends, if sooner).
func (db *DB) Query(ctx context.Context, sql string) (*Result, error) {
	if db.queryTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, db.queryTimeout)
		defer cancel()
	}
	start := time.Now()
	res, err := db.b.query(ctx, sql)
	db.metrics.observe("query", start, err)
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", abbreviate(sql), err)
	}
	return res, nil
}

// Close releases the connections (or this DB's share of the embedded engine). Writers on
// db must be closed first.
func (db *DB) Close() error { return db.b.close() }

// abbreviate shortens a statement for an error message: first line, at most 120 bytes.
func abbreviate(sql string) string {
	s := strings.Join(strings.Fields(sql), " ")
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return strings.TrimSpace(s)
}

// tableColumns returns the types of the named columns of table, in the given order.
func (db *DB) tableColumns(ctx context.Context, table string, names []string) ([]string, error) {
	res, err := db.Query(ctx, fmt.Sprintf("SELECT name, type FROM system.columns WHERE database = %s AND table = %s",
		QuoteString(db.database), QuoteString(table)))
	if err != nil {
		return nil, err
	}
	if len(res.Rows) == 0 {
		return nil, fmt.Errorf("table %s.%s does not exist (run hashatlas migrate)", db.database, table)
	}
	types := map[string]string{}
	for _, r := range res.Rows {
		types[r[0].(string)] = r[1].(string)
	}
	out := make([]string, len(names))
	var missing []string
	for i, n := range names {
		t, ok := types[n]
		if !ok {
			missing = append(missing, n)
		}
		out[i] = t
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("table %s.%s has no column %s", db.database, table, strings.Join(missing, ", "))
	}
	return out, nil
}

// dbMetrics counts statements by kind and outcome.
type dbMetrics struct {
	statements *prometheus.CounterVec
}

func newDBMetrics(reg prometheus.Registerer) *dbMetrics {
	m := &dbMetrics{statements: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hashatlas_clickhouse_statements_total",
		Help: "ClickHouse statements run, by kind (exec, query) and result (ok, retryable, permanent, canceled).",
	}, []string{"kind", "result"})}
	m.statements = registerOrExisting(reg, m.statements)
	return m
}

func (m *dbMetrics) observe(kind string, _ time.Time, err error) {
	result := "ok"
	if err != nil {
		result = Classify(err).String()
	}
	m.statements.WithLabelValues(kind, result).Inc()
}

// registerOrExisting registers c on reg (when not nil) and returns it, or the collector
// already registered under the same description (several DBs or Writers share a registry).
func registerOrExisting[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if reg == nil {
		return c
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
	}
	return c
}

// orDiscard returns log, or a logger that discards everything when log is nil.
func orDiscard(log logrus.FieldLogger) logrus.FieldLogger {
	if log != nil {
		return log
	}
	l := logrus.New()
	l.SetOutput(io.Discard)
	return l
}
