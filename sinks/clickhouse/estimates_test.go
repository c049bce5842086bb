package clickhouse

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/estimate"
	"github.com/hashatlas/hashatlas/schemas"
)

// insertHook is a backend that calls onInsert before each insert it passes on.
type insertHook struct {
	backend
	onInsert func(table string)
}

func (h *insertHook) insert(ctx context.Context, table string, names []string, rows *rowBuffer) error {
	h.onInsert(table)
	return h.backend.insert(ctx, table, names, rows)
}

// TestEstimateStoreWritesOneTableAtATimeNetworkLast: WriteResults adds a table's rows only once
// the table before it is flushed, so that a replay's results are never all buffered at once
// (the peak of its memory), and writes network_hashrate after every other estimate table (a
// restart trusts a window whose network row it finds).
func TestEstimateStoreWritesOneTableAtATimeNetworkLast(t *testing.T) {
	ctx := context.Background()
	db := openTestServer(t)
	if _, err := Migrate(ctx, db, embeddedMigrations(t), quietLog()); err != nil {
		t.Fatal(err)
	}
	store, err := NewEstimateStore(ctx, db, DefaultConfig().WriterConfig(), quietLog(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = store.Close(ctx) }()
	byTable := map[string]*Writer{}
	for _, w := range store.all {
		byTable[w.table] = w
	}
	estimateTables := []string{"pool_hashrate", "country_hashrate", "region_block_share", "network_hashrate"}
	var mu sync.Mutex
	var order []string
	db.b = &insertHook{backend: db.b, onInsert: func(table string) {
		mu.Lock()
		defer mu.Unlock()
		order = append(order, table)
		if !slices.Contains(estimateTables, table) {
			return
		}
		for _, other := range estimateTables {
			if n := byTable[other].Buffered(); other != table && n > 0 {
				t.Errorf("while %s was written, %s held %d rows", table, other, n)
			}
		}
	}}

	// two days of blocks of two pools with allocation rows: network, pool, country and region rows
	model := estimate.NewModel()
	model.Draws = 100
	svc := estimate.NewService(estimate.ServiceConfig{Model: model, RecentBlocks: 4}, nopStore{}, nil, nil)
	start := time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC)
	work, _ := schemas.WorkFromBits("17034219")
	diff, _ := schemas.DifficultyFromBits("17034219")
	for i := range 288 {
		pool := []string{"foundryusa", "antpool"}[i%2]
		b := schemas.Block{Height: int64(880000 + i), Time: start.Add(time.Duration(i) * 10 * time.Minute), Bits: "17034219",
			Difficulty: diff, Work: work, Pool: pool, AttributionMethod: schemas.AttributionFile, Source: "test", ObservedAt: start}
		if err := svc.Apply(b); err != nil {
			t.Fatal(err)
		}
	}
	r, err := svc.Flush(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Pools) == 0 || len(r.Countries) == 0 || len(r.Regions) == 0 || len(r.Network) == 0 {
		t.Fatalf("results without a table's rows: %d network, %d pools, %d countries, %d regions", len(r.Network), len(r.Pools), len(r.Countries), len(r.Regions))
	}
	if err := store.WriteResults(ctx, r); err != nil {
		t.Fatal(err)
	}
	var written []string
	for _, table := range order {
		if slices.Contains(estimateTables, table) {
			written = append(written, table)
		}
	}
	if !slices.Equal(written, estimateTables) {
		t.Errorf("estimate tables written in the order %v, want %v (one insert each, network last)", written, estimateTables)
	}
}

// nopStore takes results and writes nothing (the test writes them itself).
type nopStore struct{}

func (nopStore) WriteResults(context.Context, estimate.Results) error { return nil }
