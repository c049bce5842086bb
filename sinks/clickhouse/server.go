package clickhouse

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// server reaches a ClickHouse server through clickhouse-go's native protocol (its HTTP
// protocol does not work with 18.16).
type server struct {
	conn driver.Conn
}

func serverOptions(cfg Config, database, password string) *ch.Options {
	settings := ch.Settings{
		// Fail a query rather than hang for ever on a stuck server; writers retry.
		"max_execution_time": 600,
	}
	if cfg.ReadOnly {
		// Sent with every statement: the server refuses writes, DDL and setting changes in
		// them, whatever the user's profile allows (18.16 applies the settings of the query
		// packet before it checks the statement).
		settings["readonly"] = 1
	}
	return &ch.Options{
		Protocol: ch.Native,
		Addr:     cfg.Addrs(),
		Auth: ch.Auth{
			Database: database,
			Username: cfg.Username,
			Password: password,
		},
		ClientInfo: ch.ClientInfo{Products: []struct{ Name, Version string }{{Name: "hashatlas", Version: "1"}}},
		// LZ4 on the wire: on loopback it doubles insert throughput (2.1 M against 1.2 M
		// narrow rows/s without), the server decodes it faster than raw blocks.
		Compression:      &ch.Compression{Method: ch.CompressionLZ4},
		DialTimeout:      cfg.DialTimeout,
		MaxOpenConns:     8,
		MaxIdleConns:     4,
		ConnMaxLifetime:  time.Hour,
		ConnOpenStrategy: ch.ConnOpenInOrder,
		Settings:         settings,
	}
}

// partitionsSetting is the limit modern ClickHouse puts on the partitions one INSERT may touch
// (100 by default). Since migration 0008 hashatlas's own tables have no partition key, but a
// table of an older release not yet migrated (monthly partitions) would take one flush of the
// estimator, which writes every window it recomputed, as 200 partitions and more from the
// genesis block, and a batch the store cannot take would stop the estimator for good. So it is
// lifted (0: no limit) on every engine that has it.
const partitionsSetting = "max_partitions_per_insert_block"

// openServer connects, creates the database when missing, and reconnects with it as the
// default database (unqualified names in migrations and queries resolve to it).
func openServer(ctx context.Context, cfg Config) (backend, error) {
	password, err := cfg.password()
	if err != nil {
		return nil, err
	}
	where := fmt.Sprintf("clickhouse server at %s (--clickhouse.addr / HASHATLAS_CLICKHOUSE_ADDR)", cfg.Addr)
	boot, err := ch.Open(serverOptions(cfg, "", password))
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", where, err)
	}
	if !cfg.ReadOnly { // read-only: nothing to create, the database is used as it is
		err = boot.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+QuoteIdentifier(cfg.Database))
	}
	opts := serverOptions(cfg, cfg.Database, password)
	if v, verr := boot.ServerVersion(); err == nil && verr == nil && v.Version.Major >= 19 && !cfg.ReadOnly {
		// 18.16 has no such limit and refuses unknown settings; read-only sessions insert
		// nothing (and may change no setting).
		opts.Settings[partitionsSetting] = 0
	}
	_ = boot.Close()
	if err != nil {
		if Classify(err) == Retryable {
			return nil, fmt.Errorf("connect to %s: %w", where, err)
		}
		return nil, fmt.Errorf("create database %s on %s: %w", cfg.Database, where, err)
	}
	conn, err := ch.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", where, err)
	}
	if err := conn.Ping(ctx); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("connect to %s: %w", where, err)
	}
	return &server{conn: conn}, nil
}

// Connecting is the one wait of clickhouse-go that does not watch the context: a new
// connection's handshake waits up to DialTimeout for a server that accepted the connection and
// does not answer (the kind of outage a stopped VM or a network partition makes). So each
// statement runs on a goroutine of its own and the call returns when ctx ends, leaving the
// driver to finish (or time out) on its own: a stopping process must not wait for it.
// inCtx runs f so.
func inCtx[T any](ctx context.Context, f func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := f()
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

func (s *server) exec(ctx context.Context, sql string) error {
	_, err := inCtx(ctx, func() (struct{}, error) { return struct{}{}, s.conn.Exec(ctx, sql) })
	return err
}

func (s *server) close() error { return s.conn.Close() }

func (s *server) query(ctx context.Context, sql string) (*Result, error) {
	return inCtx(ctx, func() (*Result, error) { return s.queryAll(ctx, sql) })
}

func (s *server) queryAll(ctx context.Context, sql string) (*Result, error) {
	rows, err := s.conn.Query(ctx, sql)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cts := rows.ColumnTypes()
	res := &Result{Columns: make([]Column, len(cts))}
	types := make([]reflect.Type, len(cts))
	for i, ct := range cts {
		res.Columns[i] = Column{Name: ct.Name(), Type: ct.DatabaseTypeName()}
		types[i] = ct.ScanType()
	}
	// The scan targets of scalar columns (numbers, strings, times) are made once and reused for
	// every row, their value copied out of them; those of other types (Nullable pointers,
	// arrays, maps) are made anew for every row: clickhouse-go gives them memory of their own
	// on each Scan today (TestQueryRowsKeepTheirOwnValues passes with them reused too), but
	// nothing in its API promises it.
	// The rows' cells are cut from shared slabs. A restart reading the whole history (1.7 M
	// rows at 16 years) spent a third of its time making one target and one cell slice per value.
	dest := make([]any, len(types))
	fresh := make([]bool, len(types))
	for i, t := range types {
		dest[i] = reflect.New(t).Interface()
		fresh[i] = !scalarScan(t)
	}
	var slab []any
	for rows.Next() {
		for i, t := range types {
			if fresh[i] {
				dest[i] = reflect.New(t).Interface()
			}
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		if len(slab) < len(types) {
			slab = make([]any, len(types)*max(1, 4096/max(1, len(types))))
		}
		row := slab[:len(types):len(types)]
		slab = slab[len(types):]
		for i, d := range dest {
			row[i] = scanned(d)
		}
		res.Rows = append(res.Rows, row)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return res, nil
}

// scalarScan reports whether values of t hold no memory of their own to share: a number, a
// bool, a string (immutable) or a time.
func scalarScan(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64, reflect.String:
		return true
	}
	return t == reflect.TypeFor[time.Time]()
}

// scanned is the Result value of the scan target d: the column types a query of the estimator
// reads most are copied out directly, others through derefValue.
func scanned(d any) any {
	switch p := d.(type) {
	case *string:
		return *p
	case *uint8:
		return *p
	case *uint32:
		return *p
	case *uint64:
		return *p
	case *int64:
		return *p
	case *float64:
		return *p
	case *time.Time:
		return *p
	}
	return derefValue(reflect.ValueOf(d).Elem())
}

// derefValue turns a scanned value into the Result value: pointers (Nullable) become their
// target or nil.
func derefValue(v reflect.Value) any {
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	return v.Interface()
}

func (s *server) insert(ctx context.Context, table string, names []string, rows *rowBuffer) error {
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = QuoteIdentifier(n)
	}
	// 18.16 needs the explicit column list; without it clickhouse-go cannot map the block.
	// Preparing the batch connects (see inCtx); the rows are not touched until it is done, so
	// a call given up on leaves no goroutine reading them, only the batch to abort.
	prepared := make(chan driver.Batch, 1)
	batch, err := inCtx(ctx, func() (driver.Batch, error) {
		b, err := s.conn.PrepareBatch(ctx, "INSERT INTO "+QuoteIdentifier(table)+" ("+strings.Join(quoted, ", ")+")")
		if err != nil {
			b = nil
		}
		prepared <- b
		return b, err
	})
	if err != nil {
		go func() {
			if b := <-prepared; b != nil { // prepared after the call was given up on
				_ = b.Abort()
			}
		}()
		return err
	}
	defer func() { _ = batch.Abort() }()
	if rows.columnar {
		for i, c := range rows.cols {
			if err := c.appendTo(batch.Column(i)); err != nil {
				return fmt.Errorf("column %s: %w", names[i], err)
			}
		}
	} else {
		row := make([]any, 0, len(rows.cols))
		for i := 0; i < rows.len(); i++ {
			if err := batch.Append(rows.row(i, row)...); err != nil {
				return err
			}
		}
	}
	return batch.Send()
}
