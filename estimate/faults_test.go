package estimate

import (
	"context"
	"errors"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/schemas"
	"github.com/sirupsen/logrus"
)

// Issue 13's estimator faults, at the service: a failed compute keeps its batch (case 1), a
// hash-less block replaced by one with a hash is an orphan (case 3), a rebuild survives a store
// outage (case 4) and history before the hardware table is estimated with power unknown
// (case 8).

// TestAFailedComputeKeepsTheWholeBatchForTheRetry makes the model fail (too few draws), as any
// model error would: the next Flush must fail again rather than "succeed" with nothing — which
// let the consumer commit inputs whose results were never written — and once the model works,
// the batch is written whole: its raw inputs, its orphans, every window it touched and the
// signals of the years its grid observations touched.
func TestAFailedComputeKeepsTheWholeBatchForTheRetry(t *testing.T) {
	store := &recordingStore{}
	s := newTestService(store, nil)
	hashed := func(b schemas.Block, h string) schemas.Block { b.Hash = h; return b }
	_ = s.Apply(hashed(block(t, 1, 0, "alpha"), "00000000000000000000000000000000000000000000000000000000000000aa"))
	if _, err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	store.writes = nil

	s.cfg.Model.Draws = 5 // PoolHashrates refuses fewer than 10
	_ = s.Apply(hashed(block(t, 1, 0, "beta"), "00000000000000000000000000000000000000000000000000000000000000bb"))
	_ = s.Apply(block(t, 2, 10, "alpha"))
	_ = s.Apply(block(t, 3, 24*60+5, "alpha")) // the next day: another day window
	for i := range 2 {
		if _, err := s.Flush(context.Background()); err == nil {
			t.Fatalf("Flush %d succeeded while the model fails: the batch was dropped", i+1)
		}
	}
	if len(store.writes) != 0 {
		t.Fatalf("%d writes while the model fails", len(store.writes))
	}
	if s.RawPending() != 3 {
		t.Fatalf("%d raw inputs kept after the failed computes, want 3", s.RawPending())
	}

	s.cfg.Model.Draws = 200
	r, err := s.Flush(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Raw) != 3 || len(r.Orphans) != 1 || r.Orphans[0].Hash[62:] != "aa" {
		t.Fatalf("after the retry: %d raw inputs, orphans %+v; want 3 and block 1's first hash", len(r.Raw), r.Orphans)
	}
	days := windowsOf(r.Network)
	if days["day 2026-03-02"].Blocks != 2 || days["day 2026-03-03"].Blocks != 1 {
		t.Fatalf("day windows after the retry: %+v", days)
	}
}

// TestAFailedComputeGivesBackTheGridYears: grid observations touch years whose signals are
// refitted; a failed compute must leave them touched.
func TestAFailedComputeGivesBackTheGridYears(t *testing.T) {
	s := newTestService(&recordingStore{}, nil)
	for h := range 48 {
		_ = s.Apply(schemas.GridObservation{Region: "ERCO", Country: "US", Time: t0.Add(time.Duration(h) * time.Hour),
			IntervalSeconds: 3600, Metric: schemas.GridDemand, Value: 40000, Unit: schemas.UnitMW, Source: "test"})
	}
	_ = s.Apply(block(t, 1, 0, "alpha"))
	s.cfg.Model.Draws = 5
	if _, err := s.Flush(context.Background()); err == nil {
		t.Fatal("Flush succeeded while the model fails")
	}
	if got := s.grid.Touched(); len(got) != 1 || got[0] != 2026 {
		t.Fatalf("touched years after the failed compute: %v, want [2026]", got)
	}
}

// TestAHashedBlockOverAHashlessOneIsAnOrphan: a file replay's block (no hash) replaced by the
// node's block at the same height must be recorded as an orphan, or both rows stay in
// blocks_canonical (which filters by height and hash).
func TestAHashedBlockOverAHashlessOneIsAnOrphan(t *testing.T) {
	s := newTestService(&recordingStore{}, nil)
	_ = s.Apply(block(t, 9, 0, "alpha"))
	if _, err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	b := block(t, 9, 0, "alpha")
	b.Hash = "00000000000000000000000000000000000000000000000000000000000000cc"
	_ = s.Apply(b)
	r, err := s.Flush(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Orphans) != 1 || r.Orphans[0].Height != 9 || r.Orphans[0].Hash != "" || r.Orphans[0].ReplacedBy != b.Hash {
		t.Fatalf("orphans %+v, want the hash-less block 9 replaced by %s", r.Orphans, b.Hash[60:])
	}
	// The same block delivered again is no reorg.
	_ = s.Apply(b)
	if r, _ := s.Flush(context.Background()); len(r.Orphans) != 0 {
		t.Fatalf("a re-delivered block made orphans %+v", r.Orphans)
	}
}

// TestHistoryBeforeTheHardwareTableIsEstimatedWithPowerUnknown: blocks of 2010 (no hardware
// model counts before mid-2016) get every estimate — network, pools, countries, regions — with
// their power NaN in the results and left out of the topic, never a failed batch.
func TestHistoryBeforeTheHardwareTableIsEstimatedWithPowerUnknown(t *testing.T) {
	store, pub := &recordingStore{}, &recordingPublisher{}
	s := newTestService(store, pub)
	d, _ := schemas.DifficultyFromBits("1d00ffff")
	w, _ := schemas.WorkFromBits("1d00ffff")
	day := time.Date(2010, 7, 17, 0, 0, 0, 0, time.UTC)
	for h := range int64(200) {
		_ = s.Apply(schemas.Block{Height: 70000 + h, Time: day.Add(time.Duration(h) * 10 * time.Minute), Bits: "1d00ffff",
			Difficulty: d, Work: w, Pool: "unknown", AttributionMethod: schemas.AttributionFile, Source: "test", ObservedAt: day})
	}
	r, err := s.Flush(context.Background())
	if err != nil {
		t.Fatalf("history of 2010: %v", err)
	}
	if len(r.Network) == 0 || len(r.Pools) == 0 || len(r.Countries) == 0 || len(r.Regions) == 0 {
		t.Fatalf("2010 results: %d network, %d pool, %d country, %d region rows; want all kinds", len(r.Network), len(r.Pools), len(r.Countries), len(r.Regions))
	}
	for _, c := range r.Countries {
		if c.Power.Known() || !math.IsNaN(c.Power.TWhHigh) {
			t.Fatalf("power of %s in %s is %+v, want unknown (NaN)", c.Country, c.Window, c.Power)
		}
	}
	for _, m := range pub.msgs {
		e := m.(schemas.Estimate)
		if e.Metric == schemas.MetricPowerGW || e.Metric == schemas.MetricEnergyTWh {
			t.Fatalf("a %s estimate was published for %s although no hardware model counts", e.Metric, e.WindowStart)
		}
	}
	if len(pub.msgs) == 0 {
		t.Fatal("nothing published")
	}
}

// outageStore fails its first failures writes, as ClickHouse refusing connections would.
type outageStore struct {
	mu       sync.Mutex
	failures int
	raw      int
}

func (s *outageStore) WriteResults(ctx context.Context, r Results) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failures > 0 {
		s.failures--
		return errors.New("dial tcp 127.0.0.1:9000: connect: connection refused")
	}
	s.raw += len(r.Raw)
	return nil
}

type sliceSource struct{ msgs []schemas.Message }

func (s sliceSource) Replay(ctx context.Context, fn func(schemas.Message) error) (int, error) {
	for _, m := range s.msgs {
		if err := fn(m); err != nil {
			return 0, err
		}
	}
	return len(s.msgs), nil
}

func (s sliceSource) Follow(context.Context, func(schemas.Message) error, func(context.Context) error) error {
	return errors.New("not followed")
}

// TestTheRebuildRidesOutAStoreOutage: the store refuses the first raw writes of the start-up
// rebuild (more than rawFlushEvery inputs, so they are written in chunks while replaying); the
// rebuild must wait and retry, not exit, and store every input once.
func TestTheRebuildRidesOutAStoreOutage(t *testing.T) {
	d, _ := schemas.DifficultyFromBits(testBits)
	w := testWork(t)
	n := 2*rawFlushEvery + rawFlushEvery/2 // a failed chunk surfaces at the next one
	msgs := make([]schemas.Message, n)
	for i := range msgs {
		msgs[i] = schemas.Block{Height: int64(i), Time: t0.Add(-time.Duration(n-i) * 10 * time.Minute), Bits: testBits, Difficulty: d,
			Work: w, Pool: "alpha", AttributionMethod: schemas.AttributionFile, Source: "test", ObservedAt: t0}
	}
	store := &outageStore{failures: 3}
	m := NewModel()
	m.Draws = 100
	svc := NewService(ServiceConfig{Model: m, Now: func() time.Time { return t0 }}, store, nil, nil)
	log := logrus.New()
	log.SetLevel(logrus.ErrorLevel)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := Run(ctx, svc, sliceSource{msgs}, true, nil, log); err != nil {
		t.Fatalf("the rebuild failed through a store outage: %v", err)
	}
	if store.raw != n || store.failures != 0 {
		t.Fatalf("%d of %d raw inputs stored (%d failures left)", store.raw, n, store.failures)
	}
}

// checkpointOf is what a store holding everything s wrote would give back.
func checkpointOf(s *Service, stored []NetworkResult) *Checkpoint {
	cp := &Checkpoint{Stored: map[Window]StoredWindow{}}
	for h := int64(0); h <= s.chain.Tip(); h++ {
		if b, ok := s.chain.Block(h); ok {
			cp.Blocks = append(cp.Blocks, b)
		}
	}
	for _, n := range stored {
		cp.Stored[n.Window] = StoredWindow{Digest: n.InputsDigest, Final: n.Final}
	}
	return cp
}

// storedHistory runs 300 blocks of two pools through a service and returns its results and the
// checkpoint a store holding them would give back.
func storedHistory(t *testing.T) (Results, *Checkpoint) {
	t.Helper()
	first := newTestService(&recordingStore{}, nil)
	for h := range 300 {
		_ = first.Apply(block(t, int64(h), h*10, []string{"alpha", "beta"}[h%2]))
	}
	r, err := first.Flush(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return r, checkpointOf(first, r.Network)
}

// restoredUnchanged restores a service from cp, the checkpoint of r (storedHistory), and fails
// unless it holds r's 300 blocks and windows, none stale, and a Flush with nothing new writes
// nothing.
func restoredUnchanged(t *testing.T, r Results, cp *Checkpoint) *Service {
	t.Helper()
	svc := newTestService(&recordingStore{}, nil)
	st, err := svc.Restore(cp)
	if err != nil {
		t.Fatal(err)
	}
	if st.Blocks != 300 || st.Stale != 0 || st.Windows != len(r.Network) {
		t.Fatalf("restore: %+v; want 300 blocks, %d windows, none stale", st, len(r.Network))
	}
	if r2, err := svc.Flush(context.Background()); err != nil || !r2.Empty() {
		t.Fatalf("a restored service with nothing new wrote %+v (err %v)", r2, err)
	}
	return svc
}

// TestRestoreRecomputesOnlyWhatTheStoreLacks: a service restored from a store's checkpoint
// computes nothing when nothing changed, only the windows a new block touches when one arrives,
// and every window whose stored estimate is of other inputs (a write cut short, another model
// version) — and the results equal those of a service that replayed everything.
func TestRestoreRecomputesOnlyWhatTheStoreLacks(t *testing.T) {
	r, cp := storedHistory(t)

	again := restoredUnchanged(t, r, cp)
	_ = again.Apply(block(t, 300, 3000, "alpha"))
	r3, err := again.Flush(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(r3.Raw) != 1 || len(r3.Network) == 0 || len(r3.Network) > 5 {
		t.Fatalf("one new block: %d raw, %d windows recomputed", len(r3.Raw), len(r3.Network))
	}

	// A stored window of other inputs (its write was cut short) is recomputed.
	for w := range cp.Stored {
		if w.Kind == Day {
			cp.Stored[w] = StoredWindow{Digest: "stale", Final: cp.Stored[w].Final}
			break
		}
	}
	third := newTestService(&recordingStore{}, nil)
	if st, _ := third.Restore(cp); st.Stale != 1 {
		t.Fatalf("%d stale windows, want the one whose stored digest differs", st.Stale)
	}
	r4, err := third.Flush(context.Background())
	if err != nil || len(r4.Network) != 1 || r4.Network[0].InputsDigest == "stale" {
		t.Fatalf("recomputed %+v (err %v), want the stale day", r4.Network, err)
	}
	want := windowsOf(r.Network)[r4.Network[0].Window.String()]
	if r4.Network[0].Hashrate != want.Hashrate || r4.Network[0].InputsDigest != want.InputsDigest {
		t.Fatalf("the recomputed day differs from the full replay's: %+v vs %+v", r4.Network[0], want)
	}
}

// TestRestoreTakesTheCheckpointsBlocksInAnyOrder: a store may give a checkpoint's blocks in any
// order (Restore sorts them by height for Chain.Add's sake); restored from them in reverse, a
// service holds the same windows, none stale, and computes nothing.
func TestRestoreTakesTheCheckpointsBlocksInAnyOrder(t *testing.T) {
	r, cp := storedHistory(t)
	slices.Reverse(cp.Blocks)
	restoredUnchanged(t, r, cp)
}
