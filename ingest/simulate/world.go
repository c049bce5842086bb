package simulate

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashatlas/hashatlas/schemas"
)

// Source is the Source field of every simulated message.
const Source = "simulator"

const (
	hourSeconds = 3600
	yearSeconds = 365.25 * 86400
)

// World is one generated world: the messages the collectors would publish, its ground truth and
// the model data the estimator should run with. It is immutable after New; its methods are safe
// for concurrent use and return newly allocated values.
type World struct {
	cfg       Config
	countries []string // Config order
	pools     []poolState
	regions   []regionState
	hours     int
	days      int

	blocks []simBlock
	epochs []epochState

	// truthCountries are the entities of country truth: every country of the config, sorted
	// (never XX: every pool's hashrate has a true location).
	truthCountries []string

	// Sums over each day's 24 hours of the hourly rates in H/s (divide by 24 for the day's
	// time average): network, pool (day*len(pools)+k), truth country (day*len(truthCountries)+j).
	dayNet     []float64
	dayPool    []float64
	dayCountry []float64

	// Expected blocks per day: network, and per pool with and without curtailment
	// (day*len(pools)+k). The tests compare the blocks with them.
	dayExpected   []float64
	dayPoolExp    []float64
	dayPoolExpPre []float64

	// poolStatsHS is the daily hashrate each pool reports (day*len(pools)+k), noisy.
	poolStatsHS []float64
}

type poolState struct {
	Pool
	size      float64   // normalised
	mix       []float64 // true mix by country index (0 where the pool has none)
	mixIdx    []int     // country indices with mix > 0, in ascending order
	published bool      // has an allocation row
	curt      []curtState
}

type curtState struct {
	region, country int
	beta            float64
}

type regionState struct {
	Region
	country int
	stress  []bool    // by hour
	demand  []float64 // by hour, MW
}

type simBlock struct {
	time, arrival int64 // Unix seconds: header time and arrival (observed) time
	pool          int32
}

type epochState struct {
	bits       uint32
	hex, work  string
	difficulty float64
	workF      float64
	firstTime  int64 // header time of the epoch's first block
}

func newEpoch(bits uint32) (epochState, error) {
	e := epochState{bits: bits, hex: bitsHex(bits)}
	var err error
	if e.work, err = schemas.WorkFromBits(e.hex); err != nil {
		return e, err
	}
	if e.difficulty, err = schemas.DifficultyFromBits(e.hex); err != nil {
		return e, err
	}
	e.workF, err = strconv.ParseFloat(e.work, 64)
	return e, err
}

// New generates the world cfg describes. It fails when cfg is invalid (Config.Validate) or when
// a planted curtailment is physically impossible in the drawn world (see Curtailment).
func New(cfg Config) (*World, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("simulator config: %w", err)
	}
	w := &World{cfg: cfg}
	w.setup()
	g := w.countryFactors()
	if err := w.checkCurtailments(g); err != nil {
		return nil, err
	}
	w.plantStress()
	if err := w.run(g); err != nil {
		return nil, err
	}
	w.reportPoolStats()
	return w, nil
}

// Config returns the configuration the world was made from.
func (w *World) Config() Config { return w.cfg }

// setup indexes countries, pools and regions and draws each published pool's true mix.
func (w *World) setup() {
	cfg := w.cfg
	idx := map[string]int{}
	for i, c := range cfg.Countries {
		w.countries = append(w.countries, c.Code)
		idx[c.Code] = i
	}
	w.hours = int(cfg.End.Sub(cfg.Start) / time.Hour)
	w.days = w.hours / 24

	total := 0.0
	for _, p := range cfg.Pools {
		total += p.Size
	}
	mixRng := newRand(cfg.Seed, streamMix)
	for _, p := range cfg.Pools {
		ps := poolState{Pool: p, size: p.Size / total, mix: make([]float64, len(w.countries)), published: p.Kappa > 0}
		codes := sortedKeys(p.Mix)
		if ps.published {
			alpha := make([]float64, len(codes))
			for i, c := range codes {
				alpha[i] = p.Kappa * p.Mix[c]
			}
			for i, m := range dirichletDraw(alpha, mixRng) {
				ps.mix[idx[codes[i]]] = m
			}
		} else {
			for _, c := range codes {
				ps.mix[idx[c]] = p.Mix[c]
			}
		}
		for c, m := range ps.mix {
			if m > 0 {
				ps.mixIdx = append(ps.mixIdx, c)
			}
		}
		w.pools = append(w.pools, ps)
	}
	w.truthCountries = slices.Sorted(slices.Values(w.countries))

	regionIdx := map[string]int{}
	for i, r := range cfg.Regions {
		w.regions = append(w.regions, regionState{Region: r, country: idx[r.Country]})
		regionIdx[r.Code] = i
	}
	for _, cu := range cfg.Curtailments {
		for k := range w.pools {
			if w.pools[k].Slug == cu.Pool {
				r := regionIdx[cu.Region]
				w.pools[k].curt = append(w.pools[k].curt, curtState{region: r, country: w.regions[r].country, beta: cu.Beta})
			}
		}
	}
}

// yearFraction is the fraction of t's calendar year elapsed at t.
func yearFraction(t time.Time) float64 {
	y := t.Year()
	s := time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC)
	e := time.Date(y+1, 1, 1, 0, 0, 0, 0, time.UTC)
	return float64(t.Sub(s)) / float64(e.Sub(s))
}

// seasonal is 1 + amp·cos(2π(f − (peakDay−1)/365.25)).
func seasonal(f, amp float64, peakDay int) float64 {
	return 1 + amp*math.Cos(2*math.Pi*(f-float64(peakDay-1)/365.25))
}

// countryFactors returns g[h*len(countries)+c], country c's factor at the middle of hour h.
// Rates are constant within an hour, so truth and blocks see the same piecewise-constant path.
func (w *World) countryFactors() []float64 {
	nc := len(w.countries)
	g := make([]float64, w.hours*nc)
	for h := 0; h < w.hours; h++ {
		mid := float64(h*hourSeconds + hourSeconds/2)
		f := yearFraction(w.cfg.Start.Add(time.Duration(mid) * time.Second))
		y := mid / yearSeconds
		for c, k := range w.cfg.Countries {
			g[h*nc+c] = math.Exp((w.cfg.NetworkGrowth+k.Drift)*y) * seasonal(f, k.SeasonAmplitude, k.SeasonPeakDay)
		}
	}
	return g
}

// checkCurtailments refuses a curtailment that would switch off more of a pool's hashrate in a
// country than the pool has there at some hour.
func (w *World) checkCurtailments(g []float64) error {
	nc := len(w.countries)
	var errs []string
	for _, p := range w.pools {
		need := map[int]float64{}
		for _, cu := range p.curt {
			need[cu.country] += cu.beta
		}
		for _, c := range sortedIntKeys(need) {
			least := math.Inf(1)
			for h := 0; h < w.hours; h++ {
				gh := g[h*nc : (h+1)*nc]
				tot := 0.0
				for _, j := range p.mixIdx {
					tot += p.mix[j] * gh[j]
				}
				least = min(least, p.mix[c]*gh[c]/tot)
			}
			if need[c] > least {
				errs = append(errs, fmt.Sprintf("pool %s: curtailment of %.3f of its hashrate in %s exceeds its smallest fraction there, %.3f (its true mix, drawn with seed %d, has %.3f in %s); lower beta or raise the pool's share of %s or its kappa",
					p.Slug, need[c], w.countries[c], least, w.cfg.Seed, p.mix[c], w.countries[c], w.countries[c]))
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("simulator world is physically impossible: %s", strings.Join(errs, "; "))
	}
	return nil
}

// plantStress draws each region's stress events and its hourly demand. Events of different
// regions fall on different days (a region draws among the days no earlier region took), and
// an event stays inside its UTC day: real grids' stress does coincide and straddle midnight,
// but keeping them apart makes every region's planted response identifiable on its own from
// daily block counts, the data estimate/METHOD.md §8.4 fits, and a day's stress fraction as
// large as the event.
func (w *World) plantStress() {
	taken := make([]bool, w.days)
	for gi := range w.regions {
		r := &w.regions[gi]
		r.stress = make([]bool, w.hours)
		rng := newRand(w.cfg.Seed, streamStress<<32|uint64(gi))
		n := min(int(math.Round(r.StressDaysPerYear*float64(w.days)/365.25)), w.days)
		// Weighted sampling without replacement (Efraimidis and Spirakis): day d gets the key
		// log(u)/w_d, with w_d larger near the demand season; the n largest keys win.
		type dayKey struct {
			day int
			key float64
		}
		keys := make([]dayKey, w.days)
		for d := range keys {
			f := yearFraction(w.cfg.Start.AddDate(0, 0, d).Add(12 * time.Hour))
			wd := seasonal(f, 0.8, r.SeasonPeakDay)
			keys[d] = dayKey{d, math.Log(1-rng.Float64()) / wd}
			if taken[d] {
				keys[d].key = math.Inf(-1)
			}
		}
		slices.SortStableFunc(keys, func(a, b dayKey) int { return cmp.Compare(b.key, a.key) })
		chosen := make([]int, 0, n)
		for _, k := range keys[:n] {
			if !taken[k.day] {
				chosen = append(chosen, k.day)
			}
		}
		slices.Sort(chosen)
		for _, d := range chosen {
			taken[d] = true
			dur := r.MinStressHours + rng.IntN(r.MaxStressHours-r.MinStressHours+1)
			first := r.PeakHourUTC - dur/2 + rng.IntN(5) - 2
			first = min(max(first, 0), 24-dur) // inside the day
			for h := d*24 + first; h < d*24+first+dur; h++ {
				r.stress[h] = true
			}
		}

		r.demand = make([]float64, w.hours)
		drng := newRand(w.cfg.Seed, streamDemand<<32|uint64(gi))
		for h := range r.demand {
			noise := min(max(0.01*drng.NormFloat64(), -0.03), 0.03)
			u := drng.Float64()
			hod := float64(h%24) + 0.5
			f := yearFraction(w.cfg.Start.Add(time.Duration(h*hourSeconds+hourSeconds/2) * time.Second))
			v := 1 + 0.07*math.Cos(2*math.Pi*(hod-float64(r.PeakHourUTC))/24) + 0.07*(seasonal(f, 1, r.SeasonPeakDay)-1) + noise
			if r.stress[h] {
				v = 1.25 + 0.1*u
			}
			r.demand[h] = math.Round(r.BaseMW*v*10) / 10
		}
	}
}

// run walks the span hour by hour: it computes every pool's rate (after curtailment), adds the
// hour to the truth, and draws the blocks of a Poisson process with intensity H/work, retargeting
// every 2016 blocks.
func (w *World) run(g []float64) error {
	cfg := w.cfg
	nc, np, nt := len(w.countries), len(w.pools), len(w.truthCountries)
	tIdx := make([]int, nc) // truth index of each country
	for c, code := range w.countries {
		tIdx[c] = sort.SearchStrings(w.truthCountries, code)
	}
	w.dayNet = make([]float64, w.days)
	w.dayPool = make([]float64, w.days*np)
	w.dayCountry = make([]float64, w.days*nt)
	w.dayExpected = make([]float64, w.days)
	w.dayPoolExp = make([]float64, w.days*np)
	w.dayPoolExpPre = make([]float64, w.days*np)
	// About 6 blocks an hour; reserve for a little growth.
	w.blocks = make([]simBlock, 0, w.hours*7)

	pre := make([]float64, np)
	rate := make([]float64, np)
	cum := make([]float64, np)
	hourRates := func(h int) float64 {
		gh := g[h*nc : (h+1)*nc]
		H := 0.0
		for k := range w.pools {
			p := &w.pools[k]
			tot := 0.0
			for _, c := range p.mixIdx {
				tot += p.mix[c] * gh[c]
			}
			tot *= cfg.InitialHashrate * p.size
			shed := 0.0
			for _, cu := range p.curt {
				if w.regions[cu.region].stress[h] {
					shed += cu.beta
				}
			}
			pre[k], rate[k] = tot, tot*(1-shed)
			H += rate[k]
			cum[k] = H
		}
		return H
	}

	first, err := newEpoch(bitsForHashrate(hourRates(0)))
	if err != nil {
		return fmt.Errorf("initial difficulty: %w", err)
	}
	w.epochs = []epochState{first}

	rng := newRand(cfg.Seed, streamBlocks)
	jit := newRand(cfg.Seed, streamJitter)
	startUnix, endUnix := cfg.Start.Unix(), cfg.End.Unix()
	var past [11]int64 // header times of the last 11 blocks, a ring
	var scratch [11]int64
	pos := 0.0 // seconds since Start
	e := rng.ExpFloat64()
	for h := 0; h < w.hours; h++ {
		d := h / 24
		gh := g[h*nc : (h+1)*nc]
		H := hourRates(h)

		// Truth: the hour's rates, every pool's (with a row or without, "unknown" too) in its
		// true countries.
		w.dayNet[d] += H
		for k := range w.pools {
			p := &w.pools[k]
			w.dayPool[d*np+k] += rate[k]
			scale := cfg.InitialHashrate * p.size
			for _, c := range p.mixIdx {
				w.dayCountry[d*nt+tIdx[c]] += scale * p.mix[c] * gh[c]
			}
			for _, cu := range p.curt {
				if w.regions[cu.region].stress[h] {
					w.dayCountry[d*nt+tIdx[cu.country]] -= cu.beta * pre[k]
				}
			}
		}

		// Blocks: e is the exponential "budget" of integrated intensity left until the next
		// block; the intensity is H/work, constant until the hour ends or the difficulty changes.
		hourEnd := float64((h + 1) * hourSeconds)
		q := 0.0 // Σ seconds/work over the hour: expected blocks = rate · q
		for H > 0 {
			ep := &w.epochs[len(w.epochs)-1]
			lam := H / ep.workF
			dt := e / lam
			if pos+dt >= hourEnd {
				e -= (hourEnd - pos) * lam
				q += (hourEnd - pos) / ep.workF
				break
			}
			q += dt / ep.workF
			pos += dt
			e = rng.ExpFloat64()
			u := rng.Float64() * H
			k := 0
			for k < np-1 && u >= cum[k] {
				k++
			}
			arrival := startUnix + int64(pos)
			t := arrival
			if cfg.JitterSeconds > 0 {
				t += int64(jit.IntN(2*cfg.JitterSeconds+1) - cfg.JitterSeconds)
				t = min(max(t, startUnix), endUnix-1)
			}
			i := len(w.blocks)
			if n := min(i, 11); n > 0 {
				// Median time past: the middle (upper middle for an even count, as Bitcoin Core
				// picks it) of the previous n header times.
				s := scratch[:n]
				for j := range s {
					s[j] = past[(i-1-j)%11]
				}
				slices.Sort(s)
				t = max(t, s[n/2]+1)
			}
			past[i%11] = t
			w.blocks = append(w.blocks, simBlock{time: t, arrival: arrival, pool: int32(k)})
			if i%EpochBlocks == 0 {
				ep.firstTime = t
			}
			if i%EpochBlocks == EpochBlocks-1 {
				bits, err := NextBits(ep.bits, ep.firstTime, t)
				if err != nil {
					return fmt.Errorf("retarget after height %d: %w", cfg.StartHeight+int64(i), err)
				}
				next, err := newEpoch(bits)
				if err != nil {
					return fmt.Errorf("retarget after height %d: %w", cfg.StartHeight+int64(i), err)
				}
				w.epochs = append(w.epochs, next)
			}
		}
		pos = hourEnd
		w.dayExpected[d] += H * q
		for k := range w.pools {
			w.dayPoolExp[d*np+k] += rate[k] * q
			w.dayPoolExpPre[d*np+k] += pre[k] * q
		}
	}
	// An epoch opened by the last retarget but never reached holds no block: drop it.
	w.epochs = w.epochs[:(len(w.blocks)+EpochBlocks-1)/EpochBlocks]
	return nil
}

// reportPoolStats draws the daily hashrate each pool (not "unknown") reports: its true daily
// mean times a log-normal error of mean one.
func (w *World) reportPoolStats() {
	np := len(w.pools)
	sd := w.cfg.PoolStatsNoise
	rng := newRand(w.cfg.Seed, streamPoolStats)
	w.poolStatsHS = make([]float64, w.days*np)
	for d := 0; d < w.days; d++ {
		for k := range w.pools {
			w.poolStatsHS[d*np+k] = w.dayPool[d*np+k] / 24 * math.Exp(sd*rng.NormFloat64()-sd*sd/2)
		}
	}
}

// TrueMix returns the pool's true country mix in this world (drawn from Dirichlet(κ·M) for a
// pool with an allocation row, the configured mix otherwise), and false for an unknown pool.
// The map is a copy.
func (w *World) TrueMix(pool string) (map[string]float64, bool) {
	for _, p := range w.pools {
		if p.Slug == pool {
			m := map[string]float64{}
			for _, c := range p.mixIdx {
				m[w.countries[c]] = p.mix[c]
			}
			return m, true
		}
	}
	return nil, false
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func sortedIntKeys[V any](m map[int]V) []int {
	ks := make([]int, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Ints(ks)
	return ks
}
