package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/schemas"
)

func embeddedMigrations(t testing.TB) []schemas.Migration {
	t.Helper()
	ms, err := schemas.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

// testMigrateTwice applies the embedded migrations twice and checks that the second run is
// a no-op with exactly one record per migration. It returns the schema.
func testMigrateTwice(t *testing.T, db *DB) (tables, columns []string) {
	t.Helper()
	ctx := context.Background()
	ms := embeddedMigrations(t)
	applied, err := Migrate(ctx, db, ms, quietLog())
	if err != nil {
		t.Fatalf("first migrate: %v", err)
	}
	if len(applied) != len(ms) {
		t.Fatalf("first migrate applied %v, want all %d migrations", applied, len(ms))
	}
	tables, columns = schemaOf(t, db)
	again, err := Migrate(ctx, db, ms, quietLog())
	if err != nil {
		t.Fatalf("second migrate: %v", err)
	}
	if len(again) != 0 {
		t.Fatalf("second migrate applied %v, want nothing", again)
	}
	tables2, columns2 := schemaOf(t, db)
	if !reflect.DeepEqual(tables, tables2) || !reflect.DeepEqual(columns, columns2) {
		t.Fatalf("the second migrate changed the schema")
	}
	recs, err := AppliedMigrations(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(ms) {
		t.Fatalf("%d migration records, want one per migration (%d)", len(recs), len(ms))
	}
	for i, r := range recs {
		if r.Version != ms[i].Version || r.Name != ms[i].Name || r.Checksum != ms[i].Checksum() {
			t.Errorf("record %d = %+v, want %s with checksum %s", i, r, ms[i].Name, ms[i].Checksum())
		}
		if time.Since(r.AppliedAt) > time.Hour || r.AppliedAt.After(time.Now().Add(time.Minute)) {
			t.Errorf("record %d applied_at %v is not now", i, r.AppliedAt)
		}
	}
	for _, want := range []string{"blocks ReplacingMergeTree", "country_hashrate ReplacingMergeTree", "network_hashrate_latest View", "schema_migrations MergeTree"} {
		if !contains(tables, want) {
			t.Errorf("table %q missing after migrate; have %v", want, tables)
		}
	}
	return tables, columns
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// testMigrateRefusesTampering checks the refusals on a migrated database.
func testMigrateRefusesTampering(t *testing.T, db *DB) {
	ctx := context.Background()
	ms := embeddedMigrations(t)
	if _, err := Migrate(ctx, db, ms, nil); err != nil {
		t.Fatal(err)
	}

	t.Run("an applied file whose content changed", func(t *testing.T) {
		changed := append([]schemas.Migration(nil), ms...)
		changed[0].SQL += "\n-- an innocent-looking edit\n"
		_, err := Migrate(ctx, db, changed, nil)
		if err == nil {
			t.Fatal("Migrate accepted an edited applied migration")
		}
		msg := err.Error()
		for _, want := range []string{ms[0].Name, ms[0].Checksum(), changed[0].Checksum(), "recorded checksum", "current checksum"} {
			if !strings.Contains(msg, want) {
				t.Errorf("error %q does not contain %q", msg, want)
			}
		}
		if strings.Contains(msg, "\n") {
			t.Errorf("error is not one line: %q", msg)
		}
	})

	t.Run("a migration the binary does not know", func(t *testing.T) {
		_, err := Migrate(ctx, db, ms[:len(ms)-1], nil)
		if err == nil || !strings.Contains(err.Error(), ms[len(ms)-1].Name) {
			t.Fatalf("Migrate with an older binary = %v, want a refusal naming %s", err, ms[len(ms)-1].Name)
		}
	})

	t.Run("a recorded checksum that was tampered with", func(t *testing.T) {
		w, err := NewWriter(ctx, db, MigrationsTable, []string{"version", "name", "checksum", "applied_at"}, WriterConfig{}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		bogus := strings.Repeat("0", 64)
		if err := w.Add(ctx, uint32(2), ms[1].Name, bogus, time.Now()); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(ctx); err != nil {
			t.Fatal(err)
		}
		_, err = Migrate(ctx, db, ms, nil)
		if err == nil || !strings.Contains(err.Error(), bogus) || !strings.Contains(err.Error(), ms[1].Name) {
			t.Fatalf("Migrate = %v, want a refusal naming %s and the recorded checksum", err, ms[1].Name)
		}
	})
}

func TestMigrateOnServerTwiceCreatesAllTablesOnceAndRecordsEachMigrationOnce(t *testing.T) {
	db := openTestServer(t)
	testMigrateTwice(t, db)
}

func TestMigrateOnServerRefusesChangedOrUnknownMigrations(t *testing.T) {
	testMigrateRefusesTampering(t, openTestServer(t))
}

// narrowTable is the table of the round-trip tests and the benchmark.
const narrowTable = `CREATE TABLE narrow (
    id UInt64,
    small UInt32,
    x Float64,
    label String,
    at DateTime('UTC')
) ENGINE = MergeTree ORDER BY id`

var narrowColumns = []string{"id", "small", "x", "label", "at"}

func narrowRow(i int) (uint64, uint32, float64, string, time.Time) {
	return uint64(i), uint32(i % 1000), float64(i) * 0.25, "label-" + string(rune('a'+i%26)), t0.Add(time.Duration(i) * time.Second)
}

func TestHundredThousandRowsWrittenToTheServerReadBackExactly(t *testing.T) {
	db := openTestServer(t)
	mustExec(t, db, narrowTable)
	ctx := context.Background()
	w, err := NewWriter(ctx, db, "narrow", narrowColumns, WriterConfig{BatchRows: 30_000, FlushInterval: time.Hour}, quietLog(), nil)
	if err != nil {
		t.Fatal(err)
	}
	const n = 100_000
	var sumID, sumSmall, sumAt uint64
	var sumX float64
	var sumLabelLen uint64
	for i := 0; i < n; i++ {
		id, small, x, label, at := narrowRow(i)
		sumID += id
		sumSmall += uint64(small)
		sumX += x
		sumLabelLen += uint64(len(label))
		sumAt += uint64(at.Unix())
		if err := w.Add(ctx, id, small, x, label, at); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	res := mustQuery(t, db, `SELECT count(), sum(id), sum(small), sum(x), sum(length(label)), sum(toUInt64(at)), uniqExact(id) FROM narrow`)
	got := res.Rows[0]
	want := []any{uint64(n), sumID, sumSmall, sumX, sumLabelLen, sumAt, uint64(n)}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("count, sums, distinct ids = %v, want %v", got, want)
	}
}

func TestWriteToAStoppedServerFailsRetryablyKeepsTheRowsAndWritesThemOnceItIsBack(t *testing.T) {
	srv := startOwnServer(t, "19310", "18310")
	db := openTestServer(t, func(c *Config) { c.Addr = srv.addr(); c.DialTimeout = 2 * time.Second })
	mustExec(t, db, narrowTable)
	ctx := context.Background()
	w, err := NewWriter(ctx, db, "narrow", narrowColumns,
		WriterConfig{BatchRows: 1 << 20, FlushInterval: time.Hour, MaxRetries: 2, RetryBackoff: 50 * time.Millisecond}, quietLog(), nil)
	if err != nil {
		t.Fatal(err)
	}
	add := func(from, to int) {
		for i := from; i < to; i++ {
			id, small, x, label, at := narrowRow(i)
			if err := w.Add(ctx, id, small, x, label, at); err != nil {
				t.Fatal(err)
			}
		}
	}
	add(0, 1000)
	if err := w.Flush(ctx); err != nil {
		t.Fatalf("flush while the server is up: %v", err)
	}

	phase := time.Now()
	srv.run("stop")
	t.Logf("server stopped in %v", time.Since(phase))
	phase = time.Now()
	add(1000, 3000)
	flushCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = w.Flush(flushCtx)
	cancel()
	if err == nil {
		t.Fatal("Flush to a stopped server succeeded")
	}
	t.Logf("flush to the stopped server failed in %v: %v", time.Since(phase), err)
	if c := Classify(err); c != Retryable {
		t.Fatalf("Classify(%v) = %v, want retryable", err, c)
	}
	if got := w.Buffered(); got != 2000 {
		t.Fatalf("Buffered() after the failed flush = %d, want 2000", got)
	}
	add(3000, 3500)

	phase = time.Now()
	srv.run("start")
	t.Logf("server restarted in %v", time.Since(phase))
	if err := w.Flush(ctx); err != nil {
		t.Fatalf("flush after the server is back: %v", err)
	}
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	res := mustQuery(t, db, "SELECT count(), uniqExact(id), sum(id) FROM narrow")
	if want := []any{uint64(3500), uint64(3500), uint64(3500 * 3499 / 2)}; !reflect.DeepEqual(res.Rows[0], want) {
		t.Fatalf("count, distinct ids, sum = %v, want %v (no row lost or doubled)", res.Rows[0], want)
	}
}

func TestClassifyRealErrors(t *testing.T) {
	db := openTestServer(t)
	mustExec(t, db, narrowTable)
	ctx := context.Background()
	cancelled, cancel := context.WithCancel(ctx)
	cancel()

	queryErr := func(sql string) func() error {
		return func() error { _, err := db.Query(ctx, sql); return err }
	}
	for _, tc := range []struct {
		name     string
		provoke  func() error
		want     Class
		wantCode int32
	}{
		{"an unknown table (code 60)", queryErr("SELECT * FROM no_such_table"), Permanent, 60},
		{"a syntax error (code 62)", queryErr("SELEC 1"), Permanent, 62},
		{"an unknown column (code 47)", queryErr("SELECT no_such_column FROM narrow"), Permanent, 47},
		{"a value that does not parse as the type", queryErr("SELECT toUInt32('x')"), Permanent, 0},
		{"an unknown database", func() error {
			return db.Exec(ctx, "CREATE TABLE no_such_db.t (x UInt8) ENGINE = Memory")
		}, Permanent, 81},
		{"connection refused on a closed port", func() error {
			cfg := DefaultConfig()
			cfg.Addr = closedPort(t)
			_, err := Open(ctx, cfg, nil, nil)
			return err
		}, Retryable, 0},
		{"a cancelled context", func() error { _, err := db.Query(cancelled, "SELECT 1"); return err }, Canceled, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.provoke()
			if err == nil {
				t.Fatal("no error provoked")
			}
			if got := Classify(err); got != tc.want {
				t.Errorf("Classify(%v) = %v, want %v", err, got, tc.want)
			}
			if tc.wantCode != 0 {
				if code, ok := ErrorCode(err); !ok || code != tc.wantCode {
					t.Errorf("ErrorCode(%v) = %d, %v, want %d", err, code, ok, tc.wantCode)
				}
			}
		})
	}
}

func TestClassifyServerRefusalsAndNetworkFailures(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want Class
	}{
		{"TOO_MANY_SIMULTANEOUS_QUERIES", exception(202), Retryable},
		{"MEMORY_LIMIT_EXCEEDED", exception(241), Retryable},
		{"NETWORK_ERROR", exception(210), Retryable},
		{"TIMEOUT_EXCEEDED", exception(159), Retryable},
		{"TOO_MANY_PARTS", exception(252), Retryable},
		{"TYPE_MISMATCH", exception(53), Permanent},
		{"AUTHENTICATION_FAILED", exception(516), Permanent},
		{"chDB's text for UNKNOWN_TABLE", errors.New("Code: 60. DB::Exception: Unknown table expression identifier 'x'. (UNKNOWN_TABLE)"), Permanent},
		{"chDB's text for MEMORY_LIMIT_EXCEEDED", errors.New("Code: 241. DB::Exception: Memory limit (total) exceeded"), Retryable},
		{"a wrapped unexpected EOF", errors.Join(errors.New("read"), errUnexpectedEOF()), Retryable},
		{"an error nobody knows", errors.New("something odd"), Permanent},
		{"nil", nil, Permanent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Classify(tc.err); got != tc.want {
				t.Errorf("Classify(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

func TestQueryReturnsDocumentedGoTypes(t *testing.T) {
	db := openTestServer(t)
	res := mustQuery(t, db, crossEngineQuery)
	checkCrossEngineResult(t, res)
}

// TestQueryRowsKeepTheirOwnValues: a query's scan targets are reused from row to row for
// scalar columns (server.queryAll); every row of a result still holds its own values, of every
// kind — numbers, strings, times, arrays, Nullable — over more rows than one slab of cells.
func TestQueryRowsKeepTheirOwnValues(t *testing.T) {
	db := openTestServer(t)
	const n = 5000
	res := mustQuery(t, db, `SELECT number AS u, toString(number) AS s, toDateTime(number, 'UTC') AS dt,
    [number, number + 1] AS arr, if(number % 2 = 0, CAST(NULL AS Nullable(String)), CAST(toString(number) AS Nullable(String))) AS ns
FROM system.numbers LIMIT `+fmt.Sprint(n))
	if len(res.Rows) != n {
		t.Fatalf("%d rows, want %d", len(res.Rows), n)
	}
	for i, r := range res.Rows {
		u := uint64(i)
		var ns any
		if i%2 == 1 {
			ns = fmt.Sprint(i)
		}
		want := []any{u, fmt.Sprint(i), time.Unix(int64(i), 0).UTC(), []uint64{u, u + 1}, ns}
		if len(r) != len(want) {
			t.Fatalf("row %d: %d cells, want %d", i, len(r), len(want))
		}
		for j, w := range want {
			if wt, ok := w.(time.Time); ok {
				if gt, ok := r[j].(time.Time); !ok || !gt.Equal(wt) {
					t.Fatalf("row %d column %s = %#v, want %v", i, res.Columns[j].Name, r[j], wt)
				}
				continue
			}
			if !reflect.DeepEqual(r[j], w) {
				t.Fatalf("row %d column %s = %#v, want %#v", i, res.Columns[j].Name, r[j], w)
			}
		}
	}
}

// crossEngineQuery exercises the value types Result documents; it runs on 18.16 and 26.7.
const crossEngineQuery = `SELECT
    toUInt8(255) AS u8, toUInt32(4294967295) AS u32, toUInt64('18446744073709551615') AS u64,
    toInt64(-9223372036854775807) AS i64, toFloat64(0.1) AS f, toFloat32(1.5) AS f32,
    'it''s \\ "q"' AS s, toDateTime('2024-01-02 03:04:05', 'UTC') AS dt, toDate('2024-01-02') AS d,
    [toUInt64(1), toUInt64(2)] AS arr, ['a', 'b'] AS sarr, CAST(NULL AS Nullable(String)) AS n,
    CAST('x' AS Nullable(String)) AS nx, toFloat64(1) / 0 AS inf`

func checkCrossEngineResult(t *testing.T, res *Result) {
	t.Helper()
	if len(res.Rows) != 1 {
		t.Fatalf("%d rows, want 1", len(res.Rows))
	}
	want := []any{uint8(255), uint32(math.MaxUint32), uint64(math.MaxUint64), int64(-math.MaxInt64), 0.1, float32(1.5),
		`it's \ "q"`, time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC),
		[]uint64{1, 2}, []string{"a", "b"}, nil, "x", math.Inf(1)}
	wantNames := []string{"u8", "u32", "u64", "i64", "f", "f32", "s", "dt", "d", "arr", "sarr", "n", "nx", "inf"}
	if !reflect.DeepEqual(res.Names(), wantNames) {
		t.Fatalf("columns %v, want %v", res.Names(), wantNames)
	}
	for i, w := range want {
		got := res.Rows[0][i]
		if wt, ok := w.(time.Time); ok {
			gt, ok := got.(time.Time)
			if !ok || !gt.Equal(wt) {
				t.Errorf("%s = %#v, want %v", wantNames[i], got, wt)
			}
			continue
		}
		if !reflect.DeepEqual(got, w) {
			t.Errorf("%s (%s) = %#v (%T), want %#v (%T)", wantNames[i], res.Columns[i].Type, got, got, w, w)
		}
	}
}

func TestExecRefusesInsertsWithRowsInTheStatement(t *testing.T) {
	db := openTestServer(t)
	mustExec(t, db, narrowTable)
	for _, sql := range []string{
		"INSERT INTO narrow VALUES (1, 2, 3, 'x', 0)",
		"insert into narrow (id) values (1)",
		"INSERT INTO narrow FORMAT JSONEachRow {\"id\": 1}",
	} {
		if err := db.Exec(context.Background(), sql); !errors.Is(err, ErrInsertThroughExec) {
			t.Errorf("Exec(%q) = %v, want ErrInsertThroughExec", sql, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := db.Exec(ctx, "INSERT INTO narrow (id, small, x, label, at) SELECT number, 1, 1, 'a', now() FROM system.numbers LIMIT 10"); err != nil {
		t.Fatalf("INSERT … SELECT through Exec: %v", err)
	}
}

func TestOpenNamesTheAddressWhenTheServerIsUnreachable(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Addr = closedPort(t)
	_, err := Open(context.Background(), cfg, nil, nil)
	if err == nil || !strings.Contains(err.Error(), cfg.Addr) || !strings.Contains(err.Error(), "--clickhouse.addr") {
		t.Fatalf("Open() = %v, want an error naming %s and the flag", err, cfg.Addr)
	}
}

// testLatestViewShowsTheNewestVersion writes two versions of one network_hashrate row and
// another row through a Writer and reads network_hashrate_latest: one row per natural key,
// the newest version, with the keyword-like columns window and final usable in queries.
func testLatestViewShowsTheNewestVersion(t *testing.T, db *DB) {
	ctx := context.Background()
	if _, err := Migrate(ctx, db, embeddedMigrations(t), nil); err != nil {
		t.Fatal(err)
	}
	cols := []string{"window", "window_start", "window_end", "hashrate_hs", "hashrate_hs_lower", "hashrate_hs_upper",
		"luck", "luck_lower", "luck_upper", "expected_blocks", "final", "blocks", "model_version", "method",
		"inputs_digest", "computed_at", "version"}
	w, err := NewWriter(ctx, db, "network_hashrate", cols, WriterConfig{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	day := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	add := func(start time.Time, hashrate float64, final int, version uint64) {
		t.Helper()
		if err := w.Add(ctx, "day", start, start.Add(24*time.Hour), hashrate, hashrate*0.9, hashrate*1.1,
			1.0, 0.8, 1.2, 144.0, final, 144, "m1", "poisson", "digest", time.Now(), version); err != nil {
			t.Fatal(err)
		}
	}
	add(day, 5e20, 0, 1)
	add(day.AddDate(0, 0, 1), 6e20, 1, 1)
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	add(day, 5.5e20, 1, 2) // the recompute of the first day, in a later insert (another part)
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	res := mustQuery(t, db, "SELECT window, window_start, final, hashrate_hs, interval_level FROM network_hashrate_latest WHERE final = 1 AND window = 'day' ORDER BY window_start")
	want := [][]any{{"day", day, uint8(1), 5.5e20, 0.95}, {"day", day.AddDate(0, 0, 1), uint8(1), 6e20, 0.95}}
	if len(res.Rows) != len(want) {
		t.Fatalf("rows %v, want %v", res.Rows, want)
	}
	for i := range want {
		got := res.Rows[i]
		if got[0] != want[i][0] || !got[1].(time.Time).Equal(want[i][1].(time.Time)) || got[2] != want[i][2] || got[3] != want[i][3] || got[4] != want[i][4] {
			t.Errorf("row %d = %v, want %v", i, got, want[i])
		}
	}
}

func TestLatestViewShowsTheNewestVersionOnTheServer(t *testing.T) {
	testLatestViewShowsTheNewestVersion(t, openTestServer(t))
}

// TestRequireMigratedRefusesAPendingMigrationAndRunsNoDDL: a process told not to migrate
// (estimate --estimate.migrate=false) starts on an up-to-date database, and on one missing a
// migration gets an error naming it and `hashatlas migrate`, with the database left as it was.
func TestRequireMigratedRefusesAPendingMigrationAndRunsNoDDL(t *testing.T) {
	db := openTestServer(t)
	ctx := context.Background()
	ms, err := schemas.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if err := RequireMigrated(ctx, db, ms); err == nil || !strings.Contains(err.Error(), ms[0].Name) || !strings.Contains(err.Error(), "hashatlas migrate") {
		t.Fatalf("RequireMigrated on an empty database = %v, want an error naming %s and `hashatlas migrate`", err, ms[0].Name)
	}
	if applied, err := AppliedMigrations(ctx, db); err != nil || len(applied) != 0 {
		t.Fatalf("RequireMigrated changed the database: %v applied (%v)", applied, err)
	}
	if _, err := Migrate(ctx, db, ms[:len(ms)-1], nil); err != nil {
		t.Fatal(err)
	}
	last := ms[len(ms)-1].Name
	if err := RequireMigrated(ctx, db, ms); err == nil || !strings.Contains(err.Error(), last) {
		t.Fatalf("RequireMigrated with %s pending = %v, want an error naming it", last, err)
	}
	if _, err := Migrate(ctx, db, ms, nil); err != nil {
		t.Fatal(err)
	}
	if err := RequireMigrated(ctx, db, ms); err != nil {
		t.Fatalf("RequireMigrated on an up-to-date database: %v", err)
	}
}
