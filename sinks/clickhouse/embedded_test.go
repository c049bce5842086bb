//go:build chdb

package clickhouse

import (
	"context"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// openTestEmbedded opens the embedded engine with its data in a fresh directory and a fresh
// database; the engine is closed when the test ends (it allows one directory per process,
// so embedded tests do not run in parallel).
func openTestEmbedded(t testing.TB) *DB {
	t.Helper()
	cfg := DefaultConfig()
	cfg.EmbeddedDir = t.TempDir()
	cfg.Database = randomDatabase()
	db, err := Open(context.Background(), cfg, quietLog(), nil)
	if err != nil {
		t.Fatalf("open the embedded engine (CHDB_LIB_PATH=$(deploy/local/chdb-fetch.sh)): %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func TestEmbeddedEngineIsChDB26(t *testing.T) {
	db := openTestEmbedded(t)
	if !db.Embedded() || !strings.HasPrefix(db.ServerVersion(), "26.") {
		t.Fatalf("embedded %v, version %q; want the embedded chDB 26.x", db.Embedded(), db.ServerVersion())
	}
}

func TestMigrateOnEmbeddedAndServerGivesTheSameTablesAndColumns(t *testing.T) {
	server := openTestServer(t)
	serverTables, serverColumns := testMigrateTwice(t, server)
	embedded := openTestEmbedded(t)
	embeddedTables, embeddedColumns := testMigrateTwice(t, embedded)
	if !reflect.DeepEqual(serverTables, embeddedTables) {
		t.Errorf("tables differ:\nserver 18.16: %v\nembedded:     %v", serverTables, embeddedTables)
	}
	if !reflect.DeepEqual(serverColumns, embeddedColumns) {
		t.Errorf("columns differ:\nserver 18.16: %v\nembedded:     %v", serverColumns, embeddedColumns)
	}
	if len(serverColumns) < 100 {
		t.Errorf("only %d columns compared", len(serverColumns))
	}
}

func TestMigrateOnEmbeddedRefusesChangedOrUnknownMigrations(t *testing.T) {
	testMigrateRefusesTampering(t, openTestEmbedded(t))
}

func TestEmbeddedWriterRoundTripsNastyStringsArraysAndNumbersExactly(t *testing.T) {
	db := openTestEmbedded(t)
	mustExec(t, db, `CREATE TABLE nasty (
    id UInt64, s String, arr Array(String), f Float64, f32 Float32, i Int64, u8 UInt8, at DateTime('UTC'), d Date
) ENGINE = MergeTree ORDER BY id`)
	ctx := context.Background()
	strs := []string{
		"", "plain", "it's", `back\slash`, `\'`, `\\'`, "new\nline", "tab\tcr\r", "nul\x00byte",
		"unicode: Ελληνικά 中文 🙂", "\x01\x1f\x7f control", "') , ('injection", "[\"json\"]", "trailing \\",
		"'", "''", "--comment", "/* c */", "\u2028\u2029", strings.Repeat("x", 10000),
	}
	floats := []float64{0, math.Copysign(0, -1), 0.1, math.Pi, 1e300, -1e-300, math.MaxFloat64, math.SmallestNonzeroFloat64, math.Inf(1), math.Inf(-1)}
	w, err := NewWriter(ctx, db, "nasty", []string{"id", "s", "arr", "f", "f32", "i", "u8", "at", "d"}, WriterConfig{BatchRows: 7}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		s   string
		arr []string
		f   float64
		i   int64
		at  time.Time
	}
	var want []row
	for k, s := range strs {
		r := row{s: s, arr: []string{s, strs[(k+1)%len(strs)], ""}, f: floats[k%len(floats)], i: int64(k) * math.MinInt64 / 20,
			at: time.Unix(int64(k)*100_000_000, 0).UTC()}
		if k == 3 {
			r.arr = []string{}
		}
		want = append(want, r)
		if err := w.Add(ctx, k, r.s, r.arr, r.f, float32(r.f), r.i, k, r.at, r.at); err != nil {
			t.Fatal(err)
		}
	}
	// NaN does not equal itself: check it separately.
	if err := w.Add(ctx, 1000, "nan", []string(nil), math.NaN(), float32(math.NaN()), 0, 0, time.Unix(0, 0), time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	res := mustQuery(t, db, "SELECT id, s, arr, f, f32, i, u8, at, d FROM nasty ORDER BY id")
	if len(res.Rows) != len(want)+1 {
		t.Fatalf("%d rows read back, want %d", len(res.Rows), len(want)+1)
	}
	for k, r := range want {
		got := res.Rows[k]
		if got[0] != uint64(k) || got[1] != r.s || !reflect.DeepEqual(got[2], r.arr) || got[5] != r.i || got[6] != uint8(k) {
			t.Errorf("row %d = %q, want id %d s %q arr %q i %d", k, got, k, r.s, r.arr, r.i)
		}
		if f := got[3].(float64); f != r.f || math.Signbit(f) != math.Signbit(r.f) {
			t.Errorf("row %d: f = %v, want %v", k, f, r.f)
		}
		if f := got[4].(float32); f != float32(r.f) {
			t.Errorf("row %d: f32 = %v, want %v", k, f, float32(r.f))
		}
		if at := got[7].(time.Time); !at.Equal(r.at) {
			t.Errorf("row %d: at = %v, want %v", k, at, r.at)
		}
		if d, wd := got[8].(time.Time), r.at.Truncate(24*time.Hour); !d.Equal(wd) {
			t.Errorf("row %d: d = %v, want %v", k, d, wd)
		}
	}
	last := res.Rows[len(want)]
	if !math.IsNaN(last[3].(float64)) || !math.IsNaN(float64(last[4].(float32))) || !reflect.DeepEqual(last[2], []string{}) {
		t.Errorf("NaN row = %v", last)
	}
	// The same bytes, checked by the engine itself rather than by our decoder.
	for k, s := range strs {
		res := mustQuery(t, db, "SELECT s = "+QuoteString(s)+" AND length(s) = "+strconv.Itoa(len(s))+" FROM nasty WHERE id = "+strconv.Itoa(k))
		if res.Rows[0][0] != uint8(1) {
			t.Errorf("row %d: the engine does not see %q", k, s)
		}
	}
}

func TestQueryReturnsTheSameGoTypesOnEmbeddedAsOnTheServer(t *testing.T) {
	server := openTestServer(t)
	embedded := openTestEmbedded(t)
	checkCrossEngineResult(t, mustQuery(t, embedded, crossEngineQuery))
	s := mustQuery(t, server, crossEngineQuery)
	e := mustQuery(t, embedded, crossEngineQuery)
	if !reflect.DeepEqual(s.Columns, e.Columns) {
		t.Errorf("column types differ:\nserver:   %v\nembedded: %v", s.Columns, e.Columns)
	}
	for i := range s.Rows[0] {
		if st, et := reflect.TypeOf(s.Rows[0][i]), reflect.TypeOf(e.Rows[0][i]); st != et {
			t.Errorf("%s: server gives %v, embedded %v", s.Columns[i].Name, st, et)
		}
	}
}

func TestEmbeddedEngineAllowsOneDataDirectoryPerProcess(t *testing.T) {
	db := openTestEmbedded(t)
	cfg := DefaultConfig()
	cfg.EmbeddedDir = t.TempDir()
	if other, err := Open(context.Background(), cfg, nil, nil); err == nil {
		_ = other.Close()
		t.Fatal("a second data directory was opened while the first is open")
	} else if !strings.Contains(err.Error(), "one data directory per process") {
		t.Fatalf("error %q does not explain the limit", err)
	}
	// A second DB on the same directory shares the session, with its own database.
	chdbSession.mu.Lock()
	cfg.EmbeddedDir = chdbSession.dir
	chdbSession.mu.Unlock()
	cfg.Database = randomDatabase()
	other, err := Open(context.Background(), cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	mustExec(t, db, "CREATE TABLE only_in_first (x UInt8) ENGINE = Memory")
	if res := mustQuery(t, other, "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = 'only_in_first'"); res.Rows[0][0] != uint64(0) {
		t.Fatal("the second DB sees the first DB's database as its current one")
	}
}

func BenchmarkWriterEmbedded(b *testing.B) {
	benchmarkWriter(b, openTestEmbedded(b))
}

func TestLatestViewShowsTheNewestVersionOnEmbedded(t *testing.T) {
	testLatestViewShowsTheNewestVersion(t, openTestEmbedded(t))
}

func TestRepartitionOnEmbeddedCarriesEveryRowAndSurvivesAnInterruption(t *testing.T) {
	testRepartition(t, openTestEmbedded(t))
}

func TestRecentCheckpointOnEmbedded(t *testing.T) {
	testRecentCheckpoint(t, openTestEmbedded(t))
}
