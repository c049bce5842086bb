package simulate

import (
	"bytes"
	"crypto/sha256"
	"math"
	"math/big"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/schemas"
)

// defaultWorld is the two-year default world, built once for the tests that only read it.
var defaultWorld = sync.OnceValues(func() (*World, error) { return New(DefaultConfig()) })

func mustDefault(t *testing.T) *World {
	t.Helper()
	w, err := defaultWorld()
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func mustNew(t *testing.T, cfg Config) *World {
	t.Helper()
	w, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// digest hashes every encoded message of w, the truth CSV and the model data.
func digest(t *testing.T, w *World) (messages, truth [32]byte) {
	t.Helper()
	h := sha256.New()
	for m := range w.Messages() {
		b, err := schemas.Encode(m)
		if err != nil {
			t.Fatalf("%s %s: %v", m.SchemaName(), m.Key(), err)
		}
		h.Write(b)
		h.Write([]byte{'\n'})
	}
	copy(messages[:], h.Sum(nil))
	var buf bytes.Buffer
	if err := w.WriteTruthCSV(&buf); err != nil {
		t.Fatal(err)
	}
	buf.Write(w.AllocationCSV())
	buf.Write(w.PoolHQCSV())
	buf.Write(w.ReferencesCSV())
	return messages, sha256.Sum256(buf.Bytes())
}

func TestSameConfigGivesByteIdenticalWorldsAndSeedsDiffer(t *testing.T) {
	cfg := DefaultConfig()
	cfg.End = cfg.Start.AddDate(0, 8, 0) // long enough for every kind of message and retargets
	cfg.JitterSeconds = 300              // exercise the jitter stream too
	a, b := mustNew(t, cfg), mustNew(t, cfg)
	ma, ta := digest(t, a)
	mb, tb := digest(t, b)
	if ma != mb || ta != tb {
		t.Fatal("two worlds of the same config differ")
	}
	cfg.Seed = 2
	c := mustNew(t, cfg)
	mc, tc := digest(t, c)
	if mc == ma || tc == ta {
		t.Fatal("seeds 1 and 2 give the same messages or truth")
	}
	m1, _ := a.TrueMix("alphapool")
	m2, _ := c.TrueMix("alphapool")
	if reflect.DeepEqual(m1, m2) {
		t.Fatalf("seeds 1 and 2 draw the same true mix %v", m1)
	}
}

func TestEveryMessageValidatesAndRoundTrips(t *testing.T) {
	w := mustDefault(t)
	s := w.Summary()
	counts := map[string]int{}
	first := map[string]bool{}
	for m := range w.Messages() {
		if err := m.Validate(); err != nil {
			t.Fatalf("%s %s: %v", m.SchemaName(), m.Key(), err)
		}
		counts[m.SchemaName()]++
		if first[m.SchemaName()] {
			continue
		}
		// The first message of each kind decodes back to itself.
		first[m.SchemaName()] = true
		b, err := schemas.Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		back, err := schemas.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if got := reflect.ValueOf(back).Elem().Interface(); !reflect.DeepEqual(got, m) {
			t.Errorf("%s does not round-trip:\n got %+v\nwant %+v", m.SchemaName(), got, m)
		}
	}
	want := map[string]int{schemas.SchemaBlock: s.Blocks, schemas.SchemaDifficultyEpoch: s.Epochs,
		schemas.SchemaGridObservation: s.GridObservations, schemas.SchemaPoolStats: s.PoolStats}
	if !reflect.DeepEqual(counts, want) {
		t.Fatalf("messages by schema %v, summary says %v", counts, want)
	}
	// Two years at ~600 s a block, 3 regions × 2 metrics × 17,544 hours, 7 reporting pools × 731 days.
	if s.Blocks < 100000 || s.Blocks > 112000 || s.GridObservations != 3*2*17544 || s.PoolStats != 7*731 || s.Epochs != (s.Blocks+2015)/2016 {
		t.Fatalf("summary %+v", s)
	}
	if len(w.Blocks()) != s.Blocks || len(w.Epochs()) != s.Epochs || len(w.GridObservations()) != s.GridObservations || len(w.PoolStats()) != s.PoolStats {
		t.Fatal("the slice accessors disagree with the summary")
	}
}

// checkRetargets recomputes every epoch's bits from the emitted blocks, independently of
// NextBits: the new target must be the compact truncation of old × clamp(last−first)/T capped at
// the pow limit. It also checks that blocks carry their epoch's bits.
func checkRetargets(t *testing.T, w *World) {
	t.Helper()
	blocks, epochs := w.Blocks(), w.Epochs()
	decode := func(hex string) (*big.Int, uint) {
		var v uint64
		for _, c := range hex {
			v = v<<4 | uint64(strings.IndexRune("0123456789abcdef", c))
		}
		exp := uint(v >> 24)
		return new(big.Int).Lsh(big.NewInt(int64(v&0x7fffff)), 8*(exp-3)), exp
	}
	pow := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 224), big.NewInt(1))
	for i, b := range blocks {
		if b.Bits != epochs[i/2016].Bits || b.Height != epochs[i/2016].StartHeight+int64(i%2016) {
			t.Fatalf("block %d has bits %s, its epoch %d has %s", b.Height, b.Bits, epochs[i/2016].StartHeight, epochs[i/2016].Bits)
		}
	}
	for e := 1; e < len(epochs); e++ {
		first := blocks[(e-1)*2016].Time.Unix()
		last := blocks[e*2016-1].Time.Unix()
		if got := epochs[e-1].FirstBlockTime.Unix(); got != first {
			t.Fatalf("epoch %d first_block_time %d, its first block %d", e-1, got, first)
		}
		span := min(max(last-first, 302400), 4*1209600)
		old, _ := decode(epochs[e-1].Bits)
		want := new(big.Int).Mul(old, big.NewInt(span))
		want.Quo(want, big.NewInt(1209600))
		if want.Cmp(pow) > 0 {
			want = pow
		}
		got, exp := decode(epochs[e].Bits)
		step := new(big.Int).Lsh(big.NewInt(1), 8*(exp-3))
		diff := new(big.Int).Sub(want, got)
		if diff.Sign() < 0 || diff.Cmp(step) >= 0 || got.BitLen() < want.BitLen()-16 {
			t.Fatalf("epoch %d: bits %s after %s with span %d s; the retarget rule gives target %x", epochs[e].StartHeight, epochs[e].Bits, epochs[e-1].Bits, last-first, want)
		}
	}
}

func TestRetargetRuleAppliedAtEveryEpochBoundary(t *testing.T) {
	w := mustDefault(t)
	if n := len(w.Epochs()); n < 50 {
		t.Fatalf("only %d epochs in two years", n)
	}
	checkRetargets(t, w)
	// The first epoch's difficulty is matched to the first hour's hashrate.
	e := w.epochs[0]
	if r := e.workF / TargetSpacing / (w.dayNet[0] / 24); math.Abs(r-1) > 0.01 {
		t.Fatalf("first epoch's work/600 is %v × the first day's hashrate", r)
	}
}

func TestMeanBlockIntervalIsCloseTo600Seconds(t *testing.T) {
	w := mustDefault(t)
	bs := w.Blocks()
	mean := bs[len(bs)-1].Time.Sub(bs[0].Time).Seconds() / float64(len(bs)-1)
	// Hashrate grows ~42 %/yr and difficulty follows one epoch late, so blocks come a little
	// faster than 600 s (about 1.3 %); luck over 100,000 blocks is ±0.3 %.
	if mean < 582 || mean > 606 {
		t.Fatalf("mean block interval %.1f s, want 582-606 s", mean)
	}
	// Epoch by epoch, difficulty tracks hashrate: no epoch's mean interval is off by more than 10 %.
	for e := 0; e+1 < len(w.epochs); e++ {
		d := float64(bs[e*2016+2015].Time.Unix()-bs[e*2016].Time.Unix()) / 2015
		if d < 540 || d > 660 {
			t.Errorf("epoch %d: mean interval %.1f s", e, d)
		}
	}
}

// dayCounts counts blocks by pool (k) and UTC day of header time.
func dayCounts(w *World) (net []int, pool []int) {
	np := len(w.pools)
	net, pool = make([]int, w.days), make([]int, w.days*np)
	start := w.cfg.Start.Unix()
	for _, b := range w.blocks {
		d := int((b.time - start) / 86400)
		net[d]++
		pool[d*np+int(b.pool)]++
	}
	return net, pool
}

func TestDailyBlockCountsArePoissonAroundTheirExpectation(t *testing.T) {
	w := mustDefault(t)
	net, _ := dayCounts(w)
	chi2, obs, exp := 0.0, 0.0, 0.0
	for d, n := range net {
		e := w.dayExpected[d]
		chi2 += (float64(n) - e) * (float64(n) - e) / e
		obs += float64(n)
		exp += e
	}
	// Σ (n−μ)²/μ over 731 days is χ²(731): mean 731, sd 38.
	if disp := chi2 / float64(len(net)); disp < 0.82 || disp > 1.18 {
		t.Fatalf("dispersion %.3f over %d days, want about 1 (Poisson)", disp, len(net))
	}
	if z := (obs - exp) / math.Sqrt(exp); math.Abs(z) > 4 {
		t.Fatalf("%.0f blocks against %.0f expected (z = %.1f)", obs, exp, z)
	}
}

func TestPoolBlockSharesMatchTruthSharesWithinBinomialNoise(t *testing.T) {
	w := mustDefault(t)
	blocks := map[time.Time]map[string]int{}
	for _, b := range w.Blocks() {
		m := time.Date(b.Time.Year(), b.Time.Month(), 1, 0, 0, 0, 0, time.UTC)
		if blocks[m] == nil {
			blocks[m] = map[string]int{}
		}
		blocks[m][b.Pool]++
	}
	var sumZ2 float64
	n := 0
	for _, r := range w.Truth() {
		if r.Window != schemas.WindowMonth || r.Metric != schemas.MetricPoolShare {
			continue
		}
		total := 0
		for _, c := range blocks[r.WindowStart] {
			total += c
		}
		p := r.Value
		z := (float64(blocks[r.WindowStart][r.Entity])/float64(total) - p) / math.Sqrt(p*(1-p)/float64(total))
		if math.Abs(z) > 4.5 {
			t.Errorf("%s %s: block share off the truth %.4f by %.1f sd", r.WindowStart.Format("2006-01"), r.Entity, p, z)
		}
		sumZ2 += z * z
		n++
	}
	if n != 24*8 {
		t.Fatalf("%d month×pool truth rows, want 192", n)
	}
	// Mean z² is about 1 (sd 0.1) when shares are binomial around the truth.
	if m := sumZ2 / float64(n); m < 0.65 || m > 1.45 {
		t.Fatalf("mean z² of monthly pool shares %.2f, want about 1", m)
	}
}

// stressFraction is the fraction of each UTC day's hours in which region g is stressed.
func stressFraction(w *World, g int) []float64 {
	s := make([]float64, w.days)
	for h, on := range w.regions[g].stress {
		if on {
			s[h/24] += 1.0 / 24
		}
	}
	return s
}

func TestPlantedCurtailmentLowersBlocksOnStressDaysByBetaTimesS(t *testing.T) {
	w := mustDefault(t)
	_, pool := dayCounts(w)
	np := len(w.pools)
	idx := func(slug string) int {
		for k, p := range w.pools {
			if p.Slug == slug {
				return k
			}
		}
		t.Fatalf("no pool %s", slug)
		return -1
	}
	region := func(code string) int {
		for g, r := range w.regions {
			if r.Code == code {
				return g
			}
		}
		t.Fatalf("no region %s", code)
		return -1
	}
	cases := []struct {
		pool, region string
		beta         float64
	}{
		{"alphapool", "ERCO", 0.45},
		{"betapool", "ERCO", 0.35},
		{"deltapool", "RU", 0.35},
		{"alphapool", "KZ", 0}, // no curtailment planted in KZ
		{"gammapool", "KZ", 0},
		{"gammapool", "ERCO", 0},
	}
	for _, tc := range cases {
		t.Run(tc.pool+"/"+tc.region, func(t *testing.T) {
			k, s := idx(tc.pool), stressFraction(w, region(tc.region))
			// Over the region's stress days: observed blocks against the blocks expected without
			// curtailment. The model says the ratio is 1 − β·s̄ with s̄ the μ-weighted stress.
			var obs, pre, sw float64
			days := 0
			for d := range s {
				if s[d] == 0 {
					continue
				}
				days++
				obs += float64(pool[d*np+k])
				pre += w.dayPoolExpPre[d*np+k]
				sw += w.dayPoolExpPre[d*np+k] * s[d]
			}
			sbar := sw / pre
			ratio := 1 - obs/pre
			betaHat := ratio / sbar
			sd := math.Sqrt(pre) / pre / sbar
			if days < 40 {
				t.Fatalf("only %d stress days", days)
			}
			if sd > 0.12 {
				t.Fatalf("β is not identified: sd %.3f over %d stress days", sd, days)
			}
			if math.Abs(betaHat-tc.beta) > 4*sd {
				t.Fatalf("blocks on %d stress days are %.0f against %.0f uncurtailed (s̄ = %.2f): β̂ = %.3f ± %.3f, planted %.2f",
					days, obs, pre, sbar, betaHat, sd, tc.beta)
			}
			t.Logf("β̂ = %.3f ± %.3f (planted %.2f) over %d stress days, s̄ = %.2f", betaHat, sd, tc.beta, days, sbar)
		})
	}
}

func TestGridStressHoursStandOutInDemandAndFlag(t *testing.T) {
	w := mustDefault(t)
	obs := w.GridObservations()
	stressedBy := map[int]string{} // day → region with an event that day
	for g, r := range w.regions {
		var maxCalm, minStress = 0.0, math.Inf(1)
		runs, runLen := 0, 0
		for h := 0; h < w.hours; h++ {
			demand, flag := obs[2*(g*w.hours+h)], obs[2*(g*w.hours+h)+1]
			if demand.Region != r.Code || demand.Metric != schemas.GridDemand || flag.Metric != schemas.GridEmergency ||
				!demand.Time.Equal(w.cfg.Start.Add(time.Duration(h)*time.Hour)) || demand.Country != r.Country {
				t.Fatalf("observation %d of region %s is %+v", h, r.Code, demand)
			}
			if (flag.Value == 1) != r.stress[h] || (flag.Value != 0 && flag.Value != 1) {
				t.Fatalf("%s hour %d: emergency %v, stressed %v", r.Code, h, flag.Value, r.stress[h])
			}
			if r.stress[h] {
				minStress = min(minStress, demand.Value)
				runLen++
			} else {
				maxCalm = max(maxCalm, demand.Value)
			}
			if runLen > 0 && (!r.stress[h] || h%24 == 23) {
				// An event ends: it lies inside one UTC day and lasts min to max hours.
				if runLen < r.MinStressHours || runLen > r.MaxStressHours {
					t.Errorf("%s: a stress event of %d h on day %d, want %d-%d", r.Code, runLen, h/24, r.MinStressHours, r.MaxStressHours)
				}
				if r.stress[h] && h+1 < w.hours && r.stress[h+1] {
					t.Errorf("%s: a stress event runs past midnight into day %d", r.Code, h/24+1)
				}
				if day := h / 24; stressedBy[day] != "" {
					t.Errorf("day %d has stress in both %s and %s", day, stressedBy[day], r.Code)
				} else {
					stressedBy[day] = r.Code
				}
				runs++
				runLen = 0
			}
		}
		if minStress <= maxCalm*1.05 {
			t.Errorf("%s: lowest stressed demand %.0f MW is not clearly above the highest calm demand %.0f MW", r.Code, minStress, maxCalm)
		}
		if want := int(math.Round(r.StressDaysPerYear * 731 / 365.25)); runs != want {
			t.Errorf("%s: %d stress events, want %d", r.Code, runs, want)
		}
		if maxCalm > 1.2*r.BaseMW || maxCalm < 1.05*r.BaseMW {
			t.Errorf("%s: calm demand peaks at %.0f MW for a base of %.0f", r.Code, maxCalm, r.BaseMW)
		}
	}
}

func TestJitteredHeaderTimesObeyMedianTimePastAndTheRetargetRule(t *testing.T) {
	cfg := DefaultConfig()
	cfg.End = cfg.Start.AddDate(0, 6, 0)
	cfg.JitterSeconds = 900
	w := mustNew(t, cfg)
	bs := w.Blocks()
	backwards := 0
	for i, b := range bs {
		if i > 0 && b.Time.Before(bs[i-1].Time) {
			backwards++
		}
		if b.Time.Before(cfg.Start) || !b.Time.Before(cfg.End.Add(time.Hour)) {
			t.Fatalf("block %d time %s outside the span", b.Height, b.Time)
		}
		if i == 0 {
			continue
		}
		prev := make([]int64, 0, 11)
		for j := max(0, i-11); j < i; j++ {
			prev = append(prev, bs[j].Time.Unix())
		}
		// Median time past (upper middle for an even count).
		for a := range prev {
			for c := a + 1; c < len(prev); c++ {
				if prev[c] < prev[a] {
					prev[a], prev[c] = prev[c], prev[a]
				}
			}
		}
		if mtp := prev[len(prev)/2]; b.Time.Unix() <= mtp {
			t.Fatalf("block %d time %d is not above the median time past %d", b.Height, b.Time.Unix(), mtp)
		}
		if d := b.Time.Sub(b.ObservedAt); d > 900*time.Second {
			t.Fatalf("block %d header %s is %s after its arrival", b.Height, b.Time, d)
		}
	}
	if backwards < len(bs)/20 {
		t.Fatalf("only %d of %d header times go backwards with ±900 s jitter", backwards, len(bs))
	}
	checkRetargets(t, w)
}

func TestConfigValidationNamesWhatIsWrong(t *testing.T) {
	cases := []struct {
		name   string
		change func(c *Config)
		want   string
	}{
		{"a start that is not midnight", func(c *Config) { c.Start = c.Start.Add(time.Hour) }, "midnight UTC"},
		{"an end before the start", func(c *Config) { c.End = c.Start.AddDate(0, 0, -1) }, "before end"},
		{"a start height inside an epoch", func(c *Config) { c.StartHeight = 100 }, "multiple of 2016"},
		{"a mix that does not sum to one", func(c *Config) { c.Pools[0].Mix = map[string]float64{"US": 0.5, "CA": 0.4} }, "alphapool: mix shares sum"},
		{"a mix country that is not simulated", func(c *Config) { c.Pools[1].Mix = map[string]float64{"DE": 1} }, `"DE" is not one of the countries`},
		{"an allocation row for unknown", func(c *Config) { c.Pools[7].Kappa = 5 }, "unknown blocks have no allocation row"},
		{"a bad pool slug", func(c *Config) { c.Pools[2].Slug = "Gamma Pool" }, "[a-z0-9()._-]"},
		{"duplicate pools", func(c *Config) { c.Pools[3].Slug = "alphapool" }, "alphapool appears twice"},
		{"a curtailment of a pool with no hashrate in the region's country", func(c *Config) {
			c.Curtailments = append(c.Curtailments, Curtailment{Pool: "epsilonpool", Region: "ERCO", Beta: 0.1})
		}, "no hashrate in US"},
		{"a beta of one", func(c *Config) { c.Curtailments[0].Beta = 1 }, "beta 1 must be in (0, 1)"},
		{"a region in an unknown country", func(c *Config) { c.Regions[0].Country = "MX" }, `region ERCO: country "MX"`},
		{"stress hours out of order", func(c *Config) { c.Regions[1].MinStressHours = 13 }, "stress hours 13-12"},
		{"a region code with a slash", func(c *Config) { c.Regions[2].Code = "K/Z" }, "'/'"},
		{"HQ XX outside region Unknown", func(c *Config) { c.Pools[4].HQRegion = "Asia" }, "HQ country XX goes with region Unknown"},
		{"too much jitter", func(c *Config) { c.JitterSeconds = 9000 }, "jitter 9000"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			// Deep-copy what the cases change.
			cfg.Pools = append([]Pool(nil), cfg.Pools...)
			cfg.Regions = append([]Region(nil), cfg.Regions...)
			cfg.Curtailments = append([]Curtailment(nil), cfg.Curtailments...)
			tc.change(&cfg)
			_, err := New(cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v; want an error containing %q", err, tc.want)
			}
		})
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("the default config is invalid: %v", err)
	}
}

func TestPhysicallyImpossibleCurtailmentIsRefused(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Curtailments = []Curtailment{{Pool: "gammapool", Region: "ERCO", Beta: 0.5}} // gammapool has ~15 % in the US
	_, err := New(cfg)
	if err == nil || !strings.Contains(err.Error(), "physically impossible") || !strings.Contains(err.Error(), "pool gammapool") {
		t.Fatalf("New: %v", err)
	}
}

// TestDefaultCurtailmentsAreFeasibleForManySeeds draws the true mixes of seeds 1-300 and checks
// that the default planted curtailments fit in every one, so that any small seed gives a world.
func TestDefaultCurtailmentsAreFeasibleForManySeeds(t *testing.T) {
	cfg := DefaultConfig()
	base := &World{cfg: cfg}
	base.setup()
	g := base.countryFactors()
	for seed := uint64(1); seed <= 300; seed++ {
		cfg.Seed = seed
		w := &World{cfg: cfg}
		w.setup()
		if err := w.checkCurtailments(g); err != nil {
			t.Errorf("seed %d: %v", seed, err)
		}
	}
}

func TestTrueMixesFollowDirichletOfThePublishedRows(t *testing.T) {
	// Over 400 seeds the mean true share of each row's country is the published share, with the
	// Dirichlet variance M(1−M)/(κ+1).
	cfg := DefaultConfig()
	const seeds = 400
	for _, p := range cfg.Pools {
		if p.Kappa == 0 {
			continue
		}
		for c, m := range p.Mix {
			sum, sum2 := 0.0, 0.0
			for s := uint64(1); s <= seeds; s++ {
				cfg.Seed = s
				w := &World{cfg: cfg}
				w.setup()
				for _, ps := range w.pools {
					if ps.Slug == p.Slug {
						for j, code := range w.countries {
							if code == c {
								sum += ps.mix[j]
								sum2 += ps.mix[j] * ps.mix[j]
							}
						}
					}
				}
			}
			mean := sum / seeds
			variance := sum2/seeds - mean*mean
			wantVar := m * (1 - m) / (p.Kappa + 1)
			if math.Abs(mean-m) > 4*math.Sqrt(wantVar/seeds) {
				t.Errorf("%s %s: mean true share %.4f, published %.4f", p.Slug, c, mean, m)
			}
			if variance < 0.7*wantVar || variance > 1.3*wantVar {
				t.Errorf("%s %s: variance %.5f, Dirichlet(κM) gives %.5f", p.Slug, c, variance, wantVar)
			}
		}
	}
}
