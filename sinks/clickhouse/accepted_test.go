//go:build chdb

package clickhouse

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/estimate"
	"github.com/hashatlas/hashatlas/schemas"
)

// The property these tests hold: any input message that schemas' Validate accepts goes through
// the estimator's Apply, its compute and the ClickHouse store without an error — what the
// model or a column cannot take must be refused by Validate (and so dead-lettered by the
// consumer), never fail a batch after it was accepted (issue 13, cases 1, 2 and 8).

// acceptedGen makes input messages with values drawn from the edges of what Validate accepts
// and beyond: heights up to MaxHeight and past it, times from before the genesis block to past
// the DateTime range, counts past UInt32, any compact target, any interval length.
type acceptedGen struct {
	r   *rand.Rand
	now time.Time
}

func (g *acceptedGen) time() time.Time {
	genesis := schemas.GenesisTime
	latest := g.now.Add(schemas.FutureAllowance)
	switch g.r.IntN(8) {
	case 0:
		return genesis
	case 1:
		return latest.Add(-time.Second)
	case 2:
		return genesis.Add(-time.Second) // refused
	case 3:
		return latest.Add(time.Hour) // refused
	case 4:
		return time.Date(2150, 1, 1, 0, 0, 0, 0, time.UTC) // refused (past DateTime)
	case 5:
		return time.Date(2009+g.r.IntN(8), 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(g.r.Int64N(365*24)) * time.Hour) // before the hardware table
	default:
		span := latest.Unix() - genesis.Unix()
		return time.Unix(genesis.Unix()+g.r.Int64N(span), 0).UTC()
	}
}

func (g *acceptedGen) height() int64 {
	switch g.r.IntN(6) {
	case 0:
		return 0
	case 1:
		return schemas.MaxHeight
	case 2:
		return schemas.MaxHeight + 1 // refused
	case 3:
		return 9e18 // refused
	default:
		return g.r.Int64N(1_000_000)
	}
}

func (g *acceptedGen) count() int64 {
	switch g.r.IntN(5) {
	case 0:
		return 0
	case 1:
		return schemas.MaxCount
	case 2:
		return schemas.MaxCount + 1 // refused
	default:
		return g.r.Int64N(5000)
	}
}

// bits returns a compact target: the easiest, the hardest, real ones, or any exponent and
// mantissa (some of which Validate refuses).
func (g *acceptedGen) bits() string {
	switch g.r.IntN(5) {
	case 0:
		return "1d00ffff" // difficulty 1
	case 1:
		return "17034219"
	case 2:
		return "03000001" // the hardest target: work near 2^232
	case 3:
		return "2100ffff" // overflows 256 bits: refused
	default:
		return fmt.Sprintf("%02x%06x", 1+g.r.IntN(0x21), g.r.IntN(0x800000))
	}
}

func (g *acceptedGen) pool() string {
	return []string{"foundryusa", "antpool", "unknown", "btcpool(unidentified)", "a", "x.y_z-0"}[g.r.IntN(6)]
}

func (g *acceptedGen) block() schemas.Block {
	bits := g.bits()
	work, _ := schemas.WorkFromBits(bits)
	diff, _ := schemas.DifficultyFromBits(bits)
	b := schemas.Block{
		Height: g.height(), Time: g.time(), Bits: bits, Difficulty: diff, Work: work, TxCount: g.count(),
		Pool: g.pool(), AttributionMethod: schemas.AttributionFile, Source: "property", ObservedAt: g.time(),
	}
	if g.r.IntN(2) == 0 {
		b.Hash = fmt.Sprintf("%064x", g.r.Uint64())
	}
	return b
}

func (g *acceptedGen) epoch() schemas.DifficultyEpoch {
	bits := g.bits()
	diff, _ := schemas.DifficultyFromBits(bits)
	start := g.height() / schemas.EpochBlocks * schemas.EpochBlocks
	e := schemas.DifficultyEpoch{Epoch: start / schemas.EpochBlocks, StartHeight: start, Bits: bits, Difficulty: diff, Source: "property"}
	if g.r.IntN(2) == 0 {
		t := g.time()
		e.FirstBlockTime = &t
	}
	return e
}

func (g *acceptedGen) interval() int64 {
	return []int64{schemas.MinIntervalSeconds, 3600, 86400, schemas.MaxIntervalSeconds, schemas.MaxIntervalSeconds + 1}[g.r.IntN(5)]
}

func (g *acceptedGen) poolStats() schemas.PoolStats {
	p := schemas.PoolStats{Pool: g.pool(), Time: g.time(), IntervalSeconds: g.interval(), Source: "property"}
	if g.r.IntN(3) > 0 {
		h := []float64{0, 1e21, math.MaxFloat64, g.r.Float64() * 1e20}[g.r.IntN(4)]
		p.HashrateHS = &h
	}
	if p.HashrateHS == nil || g.r.IntN(2) == 0 {
		n := g.count()
		p.Blocks = &n
	}
	return p
}

func (g *acceptedGen) grid() schemas.GridObservation {
	metrics := []struct{ metric, unit string }{
		{schemas.GridDemand, schemas.UnitMW}, {schemas.GridDemandForecast, schemas.UnitMWh},
		{schemas.GridPrice, schemas.UnitUSDPerMWh}, {schemas.GridEmergency, schemas.UnitFlag},
		{schemas.GridGenerationPrefix + "wind", schemas.UnitMW}, {schemas.GridInterchange, schemas.UnitMW},
	}
	m := metrics[g.r.IntN(len(metrics))]
	v := []float64{0, -1e300, 1e300, math.MaxFloat64, g.r.Float64() * 1e5, float64(g.r.IntN(11))}[g.r.IntN(6)]
	return schemas.GridObservation{
		Region: []string{"ERCO", "PJM", "us-tx"}[g.r.IntN(3)], Country: "US", Time: g.time(), IntervalSeconds: g.interval(),
		Metric: m.metric, Value: v, Unit: m.unit, Source: "property",
	}
}

func (g *acceptedGen) message() schemas.Message {
	switch g.r.IntN(6) {
	case 0:
		return g.epoch()
	case 1:
		return g.poolStats()
	case 2:
		return g.grid()
	default:
		return g.block()
	}
}

// storeAccepted applies the messages that Validate accepts to a fresh estimator writing to a
// store on db, flushes it, and fails the test on any error. It returns the accepted messages.
func storeAccepted(t *testing.T, db *DB, msgs []schemas.Message) []schemas.Message {
	t.Helper()
	ctx := context.Background()
	store, err := NewEstimateStore(ctx, db, DefaultConfig().WriterConfig(), quietLog(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = store.Close(ctx) }()
	model := estimate.NewModel()
	model.Draws = 100
	svc := estimate.NewService(estimate.ServiceConfig{Model: model, RecentBlocks: 4}, store, nil, nil)
	var accepted []schemas.Message
	for _, m := range msgs {
		if m.Validate() != nil {
			continue
		}
		if err := svc.Apply(m); err != nil {
			t.Fatalf("Apply refused a message Validate accepted: %v\n%#v", err, m)
		}
		accepted = append(accepted, m)
	}
	if _, err := svc.Flush(ctx); err != nil {
		t.Fatalf("a batch of %d accepted messages failed to compute or store: %v", len(accepted), err)
	}
	return accepted
}

func migrated(t testing.TB) *DB {
	t.Helper()
	db := openTestEmbedded(t)
	if _, err := Migrate(context.Background(), db, embeddedMigrations(t), quietLog()); err != nil {
		t.Fatal(err)
	}
	return db
}

// TestEveryAcceptedInputIsComputedAndStored draws 3,000 messages from the edges of the rules
// (about half of them refused), applies those Validate accepts in one batch and writes it to
// the embedded engine: the batch must go through, and every accepted block must be in blocks.
func TestEveryAcceptedInputIsComputedAndStored(t *testing.T) {
	db := migrated(t)
	g := &acceptedGen{r: rand.New(rand.NewPCG(13, 1)), now: time.Now()}
	msgs := make([]schemas.Message, 3000)
	for i := range msgs {
		msgs[i] = g.message()
	}
	accepted := storeAccepted(t, db, msgs)
	heights := map[int64]bool{}
	for _, m := range accepted {
		if b, ok := m.(schemas.Block); ok {
			heights[b.Height] = true
		}
	}
	if len(heights) < 100 || len(accepted) > len(msgs)*9/10 {
		t.Fatalf("%d of %d messages accepted, %d block heights: the generator no longer reaches both sides of the rules", len(accepted), len(msgs), len(heights))
	}
	res := mustQuery(t, db, "SELECT count(DISTINCT height) FROM blocks")
	if got := fmt.Sprint(res.Rows[0][0]); got != strconv.Itoa(len(heights)) {
		t.Fatalf("blocks holds %s heights, want the %d accepted", got, len(heights))
	}
}

// FuzzAcceptedBlockIsComputedAndStored is the same property for one block at a time, for
// `go test -fuzz`: any block Validate accepts is computed and stored.
func FuzzAcceptedBlockIsComputedAndStored(f *testing.F) {
	f.Add(int64(0), schemas.GenesisTime.Unix(), uint32(0x1d00ffff), int64(1), "unknown")
	f.Add(int64(schemas.MaxHeight), time.Now().Unix(), uint32(0x03000001), int64(schemas.MaxCount), "foundryusa")
	f.Add(int64(9e18), int64(5680281600), uint32(0x17034219), int64(0), "antpool") // 2150: refused
	f.Add(int64(400000), int64(1456790400), uint32(0x1806b99f), int64(2000), "f2pool")
	db := migrated(f)
	f.Fuzz(func(t *testing.T, height, unix int64, bits uint32, txCount int64, pool string) {
		hex := fmt.Sprintf("%08x", bits)
		work, _ := schemas.WorkFromBits(hex)
		diff, _ := schemas.DifficultyFromBits(hex)
		b := schemas.Block{Height: height, Time: time.Unix(unix, 0).UTC(), Bits: hex, Difficulty: diff, Work: work,
			TxCount: txCount, Pool: pool, AttributionMethod: schemas.AttributionFile, Source: "fuzz", ObservedAt: time.Now().UTC()}
		if b.Validate() != nil {
			return
		}
		storeAccepted(t, db, []schemas.Message{b})
	})
}
