package estimate

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashatlas/hashatlas/schemas"
)

// Energy-signal kinds (the signal column).
const (
	SignalCurtailment = "curtailment" // β of a pool under a grid region (METHOD.md §8.4)
	SignalNetworkDip  = "network_dip" // a day's block shortfall on a day of grid stress
)

// Constants of the stress series and the curtailment fits (model 1.1.0, METHOD.md §8.2–8.6).
// The original design left them open ("e.g. demand above its trailing 95th percentile").
const (
	// StressQuantile: an hour is stressed when its demand exceeds this quantile of the region's
	// hourly demand over the StressTrailingDays before its day.
	StressQuantile     = 0.95
	StressTrailingDays = 30
	// StressMinHistoryHours: the demand rule needs this much trailing history (a week).
	StressMinHistoryHours = 7 * 24
	// BaselineDays: a pool's expected share on a day is its share of blocks over this many
	// days before it, leaving out days of stress in the region tested.
	BaselineDays = 30
	// BaselineMinDays: a day enters a fit only when its baseline has this many days.
	BaselineMinDays = 7
	// FitMinPoolShare: pools below this share of a window's blocks are not fitted.
	FitMinPoolShare = 0.01
	// FitMinEvents: a fit needs this many days with stress.
	FitMinEvents = 3
	// SignificanceLevel is the family-wise level of the curtailment tests of one window: the
	// stored p-values are Bonferroni-adjusted (× the number of pool × region fits of the
	// window, capped at 1), and a fit is significant when its adjusted p-value is below it.
	SignificanceLevel = 0.05
)

// Signal is one energy_signals row.
type Signal struct {
	Window               Window
	Final                bool
	Signal               string
	Pool                 string // "" for network dips
	Region, Country      string
	Beta                 Interval // curtailment: β; dip: the fraction of expected blocks missing
	PValue               float64  // curtailment: Bonferroni-adjusted LR test; dip: Poisson lower tail
	Events               int      // days (curtailment) or stressed hours (dip) of grid stress used
	Blocks               int      // the pool's (dip: the network's) blocks on the days used
	Shed                 Interval // hashrate shed, H/s
	ShedPower            Interval // power shed, GW (the fleet's best efficiency and PUE)
	Method, ModelVersion string
	InputsDigest         string
}

// Significant reports whether a curtailment fit passes the family-wise test.
func (s Signal) Significant() bool {
	return (s.Signal == SignalCurtailment || s.Signal == SignalGridExposure) && s.PValue < SignificanceLevel
}

// gridRegion is what the estimator keeps of one grid region: hourly demand and emergency
// flags by the Unix hour of the interval start.
type gridRegion struct {
	country   string
	demand    map[int64]float64
	emergency map[int64]float64
}

// GridState holds the grid observations that make stress series. Only hourly demand and
// emergency observations are used; the rest is kept as raw data by the store.
type GridState struct {
	regions map[string]*gridRegion
	touched map[int]struct{} // years with new observations since the last Touched
}

// NewGridState returns an empty state.
func NewGridState() *GridState {
	return &GridState{regions: map[string]*gridRegion{}, touched: map[int]struct{}{}}
}

// Add records one observation and reports whether it can change a stress series.
func (g *GridState) Add(o schemas.GridObservation) bool {
	if !stressMetric(o) {
		return false
	}
	r := g.regions[o.Region]
	if r == nil {
		// Copies: a decoded observation's strings may share the memory of its whole record.
		r = &gridRegion{country: strings.Clone(o.Country), demand: map[int64]float64{}, emergency: map[int64]float64{}}
		g.regions[strings.Clone(o.Region)] = r
	}
	m, hour := r.series(o)
	if old, ok := m[hour]; ok && old == o.Value {
		return false
	}
	m[hour] = o.Value
	y := o.Time.UTC().Year()
	g.touched[y] = struct{}{}
	// The demand rule looks StressTrailingDays ahead of an hour, which may cross a year end.
	if y2 := o.Time.UTC().AddDate(0, 0, StressTrailingDays+1).Year(); y2 != y {
		g.touched[y2] = struct{}{}
	}
	return true
}

// Changes reports whether Add(o) would change the state: an hourly demand or emergency
// observation whose hour the region does not hold with this value.
func (g *GridState) Changes(o schemas.GridObservation) bool {
	if !stressMetric(o) {
		return false
	}
	r := g.regions[o.Region]
	if r == nil {
		return true
	}
	m, hour := r.series(o)
	old, ok := m[hour]
	return !ok || old != o.Value
}

// stressMetric reports whether o is one the grid state keeps: hourly demand or emergency.
func stressMetric(o schemas.GridObservation) bool {
	return o.IntervalSeconds == 3600 && (o.Metric == schemas.GridDemand || o.Metric == schemas.GridEmergency)
}

// series is the region's hourly series of o's metric and o's hour in it.
func (r *gridRegion) series(o schemas.GridObservation) (map[int64]float64, int64) {
	if o.Metric == schemas.GridEmergency {
		return r.emergency, o.Time.Unix() / 3600
	}
	return r.demand, o.Time.Unix() / 3600
}

// Touched returns the years with new observations since the last call, and clears them.
func (g *GridState) Touched() []int {
	out := make([]int, 0, len(g.touched))
	for y := range g.touched {
		out = append(out, y)
	}
	sort.Ints(out)
	clear(g.touched)
	return out
}

// Retouch marks years as having new observations again (a compute that used Touched's years
// failed and must run again).
func (g *GridState) Retouch(years []int) {
	for _, y := range years {
		g.touched[y] = struct{}{}
	}
}

// Regions returns the region codes, sorted.
func (g *GridState) Regions() []string {
	out := make([]string, 0, len(g.regions))
	for r := range g.regions {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}

// Country is the country of a region.
func (g *GridState) Country(region string) string {
	if r := g.regions[region]; r != nil {
		return r.country
	}
	return ""
}

// StressDay is one day of a region's stress series: s is the fraction of the day's 24 hours
// that were stressed (emergency flag > 0, or demand above the trailing 95th percentile).
type DayStress struct {
	Day   time.Time
	S     float64
	Hours int // stressed hours
}

// DailyStress returns the stress of region on each day in [from, to) that has any
// observation (days without data are unknown, and left out).
func (g *GridState) DailyStress(region string, from, to time.Time) []DayStress {
	r := g.regions[region]
	if r == nil {
		return nil
	}
	// The hours the days read — each day's own and its trailing StressTrailingDays — are looked
	// up once, into dense slices: a day reads 31 days of hours, so looking each up in the maps
	// read every hour of a year 31 times (a ninth of a whole-history restore at 16 years).
	lo := from.Unix()/3600 - StressTrailingDays*24
	hi := lo
	for day := from; day.Before(to); day = day.Add(oneDay) {
		hi = day.Unix()/3600 + 24
	}
	n := max(0, int(hi-lo))
	dem, emg := make([]float64, n), make([]float64, n)
	hasDem, hasEmg := make([]bool, n), make([]bool, n)
	for i := range n {
		dem[i], hasDem[i] = r.demand[lo+int64(i)]
		emg[i], hasEmg[i] = r.emergency[lo+int64(i)]
	}
	var out []DayStress
	var window []float64
	for day := from; day.Before(to); day = day.Add(oneDay) {
		i0 := int(day.Unix()/3600 - lo) // the day's first hour
		seen := false
		for i := i0; i < i0+24; i++ {
			if hasDem[i] || hasEmg[i] {
				seen = true
				break
			}
		}
		if !seen {
			continue
		}
		// The demand threshold: the quantile of the trailing days' hourly demand.
		window = window[:0]
		for i := i0 - StressTrailingDays*24; i < i0; i++ {
			if hasDem[i] {
				window = append(window, dem[i])
			}
		}
		// A region that publishes an emergency flag is stressed when its operator says so: the
		// demand rule is a proxy for regions without one (it would also flag the ~5 % of
		// ordinary peak hours above the 95th percentile, diluting every fit).
		flagged := false
		for i := i0 - StressTrailingDays*24; i < i0+24 && !flagged; i++ {
			flagged = hasEmg[i]
		}
		threshold := math.Inf(1)
		if !flagged && len(window) >= StressMinHistoryHours {
			sort.Float64s(window)
			threshold = Quantile(window, StressQuantile)
		}
		hours := 0
		for i := i0; i < i0+24; i++ {
			if emg[i] > 0 || dem[i] > threshold {
				hours++
			}
		}
		out = append(out, DayStress{Day: day, S: float64(hours) / 24, Hours: hours})
	}
	return out
}

// dayCounts are the blocks of one day: per pool, total, work and the observed seconds.
type dayCounts struct {
	pools   map[string]int
	blocks  int
	work    float64
	seconds float64
	final   bool
}

// daySeries reads the chain's day windows in [from, to).
func daySeries(c *Chain, from, to time.Time) map[time.Time]dayCounts {
	var days []Window
	for d := from; d.Before(to); d = d.Add(oneDay) {
		days = append(days, WindowOf(Day, d))
	}
	stats := make([]WindowStats, len(days))
	parallelFor(len(days), func(i int) { stats[i] = c.stats(days[i], false) })
	out := make(map[time.Time]dayCounts, len(days))
	for _, st := range stats {
		if st.Blocks == 0 {
			continue
		}
		dc := dayCounts{pools: make(map[string]int, len(st.Pools)), blocks: st.Blocks, work: st.Work, seconds: st.Seconds, final: st.Final}
		for _, p := range st.Pools {
			dc.pools[p.Pool] = p.Blocks
		}
		out[st.Window.Start] = dc
	}
	return out
}

// ComputeSignals fits the curtailment β of every pool with at least FitMinPoolShare of the
// window's blocks under every grid region with stress in it (METHOD.md §8.5), for the month and
// year windows of the given years, and evaluates the network dip of every day of stress. The
// chain must not change during the call. Results are deterministic.
//
// Years are fitted in parallel (each reads only the chain and the grid), their signals returned
// in the order of years.
func (m Model) ComputeSignals(c *Chain, g *GridState, years []int) ([]Signal, error) {
	sigs := make([][]Signal, len(years))
	errs := make([]error, len(years))
	parallelFor(len(years), func(i int) { sigs[i], errs[i] = m.yearSignals(c, g, years[i]) })
	var out []Signal
	for i := range years {
		if errs[i] != nil {
			return nil, errs[i]
		}
		out = append(out, sigs[i]...)
	}
	return out, nil
}

// yearSignals are the signals of year y (ComputeSignals).
func (m Model) yearSignals(c *Chain, g *GridState, y int) ([]Signal, error) {
	var out []Signal
	yw := WindowOf(Year, time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC))
	days := daySeries(c, yw.Start.AddDate(0, 0, -BaselineDays), yw.End)
	if len(days) == 0 {
		return nil, nil
	}
	stress := map[string]map[time.Time]DayStress{}
	for _, region := range g.Regions() {
		s := map[time.Time]DayStress{}
		for _, d := range g.DailyStress(region, yw.Start.AddDate(0, 0, -BaselineDays), yw.End) {
			s[d.Day] = d
		}
		stress[region] = s
	}
	windows := []Window{yw}
	for mo := yw.Start; mo.Before(yw.End); mo = mo.AddDate(0, 1, 0) {
		windows = append(windows, WindowOf(Month, mo))
	}
	for _, w := range windows {
		sig, err := m.curtailmentFits(c, g, w, days, stress)
		if err != nil {
			return nil, err
		}
		out = append(out, sig...)
	}
	dips, err := m.networkDips(g, yw, days, stress)
	if err != nil {
		return nil, err
	}
	return append(out, dips...), nil
}

func (m Model) curtailmentFits(c *Chain, g *GridState, w Window, days map[time.Time]dayCounts, stress map[string]map[time.Time]DayStress) ([]Signal, error) {
	total, work, seconds := 0, 0.0, 0.0
	poolBlocks := map[string]int{}
	final := true
	for d := w.Start; d.Before(w.End); d = d.Add(oneDay) {
		dc, ok := days[d]
		if !ok {
			continue
		}
		total += dc.blocks
		work += dc.work
		seconds += dc.seconds
		final = final && dc.final
		for p, n := range dc.pools {
			poolBlocks[p] += n
		}
	}
	if total == 0 {
		return nil, nil
	}
	final = final && c.IsFinal(w)
	var pools []string
	for p, n := range poolBlocks {
		if float64(n) >= FitMinPoolShare*float64(total) && p != "unknown" {
			pools = append(pools, p)
		}
	}
	sort.Strings(pools)
	fleet := m.Fleet(midpoint(w))
	netRate := work / seconds
	var out []Signal
	for _, region := range g.Regions() {
		st := stress[region]
		for _, pool := range pools {
			obs, used, digest := fitDays(w, pool, days, st)
			events := 0
			for _, o := range obs {
				if o.Stress > 0 {
					events++
				}
			}
			if events < FitMinEvents {
				continue
			}
			fit, err := FitBeta(obs)
			if err != nil {
				return nil, fmt.Errorf("curtailment of %s under %s, %s: %w", pool, region, w, err)
			}
			poolRate := netRate * float64(poolBlocks[pool]) / float64(total)
			shed := scaleInterval(fit.Beta, poolRate)
			out = append(out, Signal{
				Window: w, Final: final, Signal: SignalCurtailment, Pool: pool, Region: region, Country: g.Country(region),
				Beta: fit.Beta, PValue: fit.PValue, Events: fit.Events, Blocks: used,
				Shed: shed, ShedPower: scaleInterval(shed, fleet.Best*PUEBest/1e21),
				Method: MethodCurtailmentMLE, ModelVersion: m.Version, InputsDigest: digest,
			})
		}
	}
	for i := range out {
		out[i].PValue = math.Min(1, out[i].PValue*float64(len(out)))
	}
	return out, nil
}

// fitDays builds the days of one pool's fit under one region's stress: every day of w with
// blocks, known stress and a baseline of at least BaselineMinDays unstressed days among the
// BaselineDays before it. It returns the pool's blocks on those days and a digest of the inputs.
func fitDays(w Window, pool string, days map[time.Time]dayCounts, st map[time.Time]DayStress) ([]StressDay, int, string) {
	var obs []StressDay
	used := 0
	h := sha256.New()
	var buf [24]byte
	// The baseline of day d is the unstressed days of [d − BaselineDays, d) with blocks: the
	// pool's blocks bp, all blocks bt and the days bd, kept as sums over a sliding window
	// (integers, so the same as summing each day's baseline afresh).
	bp, bt, bd := 0, 0, 0
	slide := func(b time.Time, sign int) {
		bc, ok := days[b]
		if !ok || st[b].S > 0 {
			return
		}
		bp += sign * bc.pools[pool]
		bt += sign * bc.blocks
		bd += sign
	}
	for b := w.Start.Add(-BaselineDays * oneDay); b.Before(w.Start); b = b.Add(oneDay) {
		slide(b, 1)
	}
	for d := w.Start; d.Before(w.End); d = d.Add(oneDay) {
		if d != w.Start {
			slide(d.Add(-oneDay), 1)
			slide(d.Add(-(BaselineDays+1)*oneDay), -1)
		}
		dc, ok := days[d]
		if !ok {
			continue
		}
		ds, ok := st[d]
		if !ok {
			continue
		}
		if bd < BaselineMinDays || bp == 0 {
			continue
		}
		mu := float64(bp) / float64(bt) * dc.seconds / BlockSeconds
		n := dc.pools[pool]
		obs = append(obs, StressDay{Blocks: n, Expected: mu, Stress: ds.S})
		used += n
		binary.LittleEndian.PutUint64(buf[0:], uint64(n))
		binary.LittleEndian.PutUint64(buf[8:], math.Float64bits(mu))
		binary.LittleEndian.PutUint64(buf[16:], math.Float64bits(ds.S))
		h.Write(buf[:])
	}
	return obs, used, hex.EncodeToString(h.Sum(nil)[:16])
}

// networkDips evaluates every day of the year with stress in a region: the network's blocks
// against the count the difficulty predicts, the shortfall as a fraction with its 95 %
// interval (Garwood on the count), and the shed hashrate and power.
func (m Model) networkDips(g *GridState, yw Window, days map[time.Time]dayCounts, stress map[string]map[time.Time]DayStress) ([]Signal, error) {
	var out []Signal
	for _, region := range g.Regions() {
		for d := yw.Start; d.Before(yw.End); d = d.Add(oneDay) {
			ds, ok := stress[region][d]
			dc, have := days[d]
			if !ok || ds.Hours == 0 || !have {
				continue
			}
			expected := dc.seconds / BlockSeconds
			implied := dc.work / float64(dc.blocks) / BlockSeconds // difficulty × 2^32 / 600
			dip, err := NetworkDip(dc.blocks, expected, implied)
			if err != nil {
				return nil, fmt.Errorf("network dip on %s: %w", d.Format("2006-01-02"), err)
			}
			lo, hi := poissonMeanInterval(dc.blocks)
			frac := Interval{
				Value: math.Max(0, 1-float64(dc.blocks)/expected),
				Lower: math.Max(0, 1-hi/expected),
				Upper: math.Max(0, 1-lo/expected),
			}
			fleet := m.Fleet(d)
			var buf [16]byte
			binary.LittleEndian.PutUint64(buf[0:], uint64(dc.blocks))
			binary.LittleEndian.PutUint64(buf[8:], math.Float64bits(dc.work))
			sum := sha256.Sum256(append(buf[:], []byte(fmt.Sprintf("%s|%d", region, ds.Hours))...))
			out = append(out, Signal{
				Window: WindowOf(Day, d), Final: dc.final, Signal: SignalNetworkDip, Region: region, Country: g.Country(region),
				Beta: frac, PValue: dip.PValue, Events: ds.Hours, Blocks: dc.blocks,
				Shed: scaleInterval(frac, implied), ShedPower: scaleInterval(frac, implied*fleet.Best*PUEBest/1e21),
				Method: MethodNetworkDipCount, ModelVersion: m.Version, InputsDigest: hex.EncodeToString(sum[:16]),
			})
		}
	}
	return out, nil
}

// Adjustments are the significant curtailment fits of the calendar year containing w, as
// allocation adjustments (the energy-adjusted variant of METHOD.md §8.9).
func Adjustments(signals map[int][]Signal, w Window) []Adjustment {
	var out []Adjustment
	for _, s := range signals[w.Start.Year()] {
		if s.Window.Kind == Year && s.Significant() && s.Country != "" {
			out = append(out, Adjustment{Pool: s.Pool, Region: s.Region, Country: s.Country, Beta: s.Beta.Value})
		}
	}
	return out
}

// poissonMeanInterval is the 95 % Garwood interval of a Poisson mean from one count.
func poissonMeanInterval(k int) (lo, hi float64) {
	if k >= 0 && k < len(poissonIntervals) {
		iv := &poissonIntervals[k]
		iv.once.Do(func() { iv.lo, iv.hi = poissonMeanIntervalOf(k) })
		return iv.lo, iv.hi
	}
	return poissonMeanIntervalOf(k)
}

// poissonIntervals caches poissonMeanInterval for the counts of a day (two χ² quantiles each,
// asked for every day and region of the chain-stress test and the signals at every start).
var poissonIntervals [1024]struct {
	once   sync.Once
	lo, hi float64
}

func poissonMeanIntervalOf(k int) (lo, hi float64) {
	alpha := 1 - Level
	if k > 0 {
		lo = chi2Quantile(alpha/2, 2*float64(k)) / 2
	}
	return lo, chi2Quantile(1-alpha/2, 2*float64(k)+2) / 2
}

// scaleInterval multiplies an interval by a positive factor.
func scaleInterval(iv Interval, f float64) Interval {
	return Interval{Value: iv.Value * f, Lower: iv.Lower * f, Upper: iv.Upper * f}
}
