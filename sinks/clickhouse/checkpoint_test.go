package clickhouse

import (
	"cmp"
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/estimate"
	"github.com/hashatlas/hashatlas/schemas"
)

// testRecentCheckpoint: the checkpoint from a time on (a restart's recent part) is exactly the
// whole checkpoint's blocks, observations and windows at or after it — judged by each block's
// newest row, after FINAL: a block whose newest row moved it before that time is left out
// although an older row of it is after, an orphaned row after it does not replace the
// canonical one, and of two unorphaned rows at one height the newer is taken. BlockSpan gives the first and last block times.
func testRecentCheckpoint(t *testing.T, db *DB) {
	ctx := context.Background()
	if _, err := Migrate(ctx, db, embeddedMigrations(t), quietLog()); err != nil {
		t.Fatal(err)
	}
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	from := time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC)
	blockCols := []string{"height", "hash", "time", "work", "pool", "version"}
	var rows [][]any
	for h := 100; h < 190; h++ {
		rows = append(rows, []any{uint32(h), fmt.Sprintf("h%d", h), base.AddDate(0, 0, h-100), "1000", fmt.Sprintf("pool%d", h%3), uint64(1)})
	}
	// Three inserts, three parts: FINAL merges them while reading.
	insertRows(t, db, "blocks", blockCols, rows...)
	moved := 185 // its newest row puts it before from; its first row was after
	insertRows(t, db, "blocks", blockCols, []any{uint32(moved), fmt.Sprintf("h%d", moved), base, "1000", "pool9", uint64(2)},
		[]any{uint32(186), "o186", from.AddDate(0, 0, 30), "2000", "orphan", uint64(3)},
		[]any{uint32(187), "x187", from.AddDate(0, 0, 29), "3000", "reorg", uint64(2)})
	insertRows(t, db, "orphaned_blocks", []string{"height", "hash", "replaced_by", "version"}, []any{uint32(186), "o186", "h186", uint64(1)})
	gridCols := []string{"region", "country", "time", "interval_seconds", "metric", "value", "source", "version"}
	insertRows(t, db, "grid_observations", gridCols, []any{"ERCO", "US", from.Add(-time.Hour), uint32(3600), "demand", 1.0, "eia", uint64(1)},
		[]any{"ERCO", "US", from, uint32(3600), "demand", 2.0, "eia", uint64(1)},
		[]any{"PJM", "US", from.Add(time.Hour), uint32(3600), "emergency", 1.0, "eia", uint64(1)},
		[]any{"PJM", "US", from.Add(2 * time.Hour), uint32(3600), "net_generation", 7.0, "eia", uint64(1)}, // not a stress metric
		[]any{"PJM", "US", from.Add(3 * time.Hour), uint32(86400), "demand", 8.0, "eia", uint64(1)})        // not hourly
	// A corrected value of the PJM hour: FINAL keeps it.
	insertRows(t, db, "grid_observations", gridCols, []any{"PJM", "US", from.Add(time.Hour), uint32(3600), "emergency", 3.0, "eia", uint64(2)})
	netCols := []string{"window", "window_start", "model_version", "inputs_digest", "final", "version"}
	insertRows(t, db, "network_hashrate", netCols, []any{"day", from.AddDate(0, 0, -1), "m", "a", uint8(1), uint64(1)},
		[]any{"day", from, "m", "b", uint8(1), uint64(1)}, []any{"week", from, "m", "c", uint8(0), uint64(1)})

	store, err := NewEstimateStore(ctx, db, DefaultConfig().WriterConfig(), quietLog(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = store.Close(ctx) }()
	first, last, ok, err := store.BlockSpan(ctx)
	if err != nil || !ok || !first.Equal(base) || !last.Equal(from.AddDate(0, 0, 30)) {
		t.Fatalf("block span %s – %s (%v, err %v), want %s – %s", first, last, ok, err, base, from.AddDate(0, 0, 30))
	}
	whole, err := store.Checkpoint(ctx, "m", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	recent, err := store.Checkpoint(ctx, "m", from)
	if err != nil {
		t.Fatal(err)
	}
	if !recent.From.Equal(from) || !whole.From.IsZero() {
		t.Errorf("From: recent %s, whole %s", recent.From, whole.From)
	}
	var want []estimate.BlockObs
	for _, b := range whole.Blocks {
		if !b.Time.Before(from) {
			want = append(want, b)
		}
	}
	if len(whole.Blocks) != 90 || len(want) == 0 || len(recent.Blocks) != len(want) {
		t.Fatalf("%d blocks whole, %d recent; want 90 and the %d at or after %s", len(whole.Blocks), len(recent.Blocks), len(want), from)
	}
	reorg := estimate.BlockObs{Height: 187, Time: from.AddDate(0, 0, 29), Work: 3000, Pool: "reorg", Hash: "x187"}
	if b := whole.Blocks[187-100]; b != reorg {
		t.Errorf("height 187 holds %+v, want the newer of its two unorphaned rows %+v", b, reorg)
	}
	for i, b := range recent.Blocks {
		if b != want[i] {
			t.Errorf("recent block %d: %+v, want %+v", i, b, want[i])
		}
		if b.Height == int64(moved) || b.Hash == "o186" {
			t.Errorf("recent block %+v: an older or orphaned row was taken", b)
		}
	}
	wantGrid := []schemas.GridObservation{
		{Region: "ERCO", Country: "US", Time: from.Add(-time.Hour), IntervalSeconds: 3600, Metric: "demand", Value: 1},
		{Region: "ERCO", Country: "US", Time: from, IntervalSeconds: 3600, Metric: "demand", Value: 2},
		{Region: "PJM", Country: "US", Time: from.Add(time.Hour), IntervalSeconds: 3600, Metric: "emergency", Value: 3},
	}
	for _, cp := range []*estimate.Checkpoint{whole, recent} {
		got := slices.Clone(cp.Grid)
		slices.SortFunc(got, func(a, b schemas.GridObservation) int {
			return cmp.Or(strings.Compare(a.Region, b.Region), a.Time.Compare(b.Time))
		})
		want := wantGrid
		if !cp.From.IsZero() {
			want = wantGrid[1:]
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("grid from %s: %+v, want %+v", cp.From, got, want)
		}
	}
	wantStored := map[estimate.Window]estimate.StoredWindow{
		estimate.WindowOf(estimate.Day, from):  {Digest: "b", Final: true},
		estimate.WindowOf(estimate.Week, from): {Digest: "c"},
	}
	if len(whole.Stored) != 3 || len(recent.Stored) != len(wantStored) {
		t.Fatalf("stored windows: %d whole, recent %v; want 3 and %v", len(whole.Stored), recent.Stored, wantStored)
	}
	for w, sw := range wantStored {
		if recent.Stored[w] != sw {
			t.Errorf("stored %s: %+v, want %+v", w, recent.Stored[w], sw)
		}
	}
}

func TestRecentCheckpointOnTheServer(t *testing.T) {
	testRecentCheckpoint(t, openTestServer(t))
}

// insertRows writes rows of cols into table in one insert (one part).
func insertRows(t *testing.T, db *DB, table string, cols []string, rows ...[]any) {
	t.Helper()
	ctx := context.Background()
	w, err := NewWriter(ctx, db, table, cols, WriterConfig{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if err := w.Add(ctx, r...); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
}
