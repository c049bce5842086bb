package estimate

import (
	"math"
	"slices"
	"sort"
	"time"

	"github.com/hashatlas/hashatlas/estimate/modeldata"
)

// The prior of METHOD.md §6.8: where hashrate with no direct evidence sits (pools without an
// allocation row, "unknown" blocks, and the XX remainder of rows), taken from the published
// country map nearest in time to the window and trusted less the older it is.
const (
	// PriorKappaFresh is the prior's largest Dirichlet pseudo-count, for a window inside the
	// map's own period or a few months from it: a map is geolocated from a few pools' miners,
	// so it is strong evidence but not a census (a 35 % share then has a 95 % interval of
	// about ±9 points).
	PriorKappaFresh = 100
	// PriorDriftPerMonth is how far a large country's share moves in a month between maps, the
	// map's own history: the CCAF map moved China from 65.1 % (April 2020) to 46.0 % (April
	// 2021), 19 points in 12 months, 1.6 points a month (references.csv). An aged map's κ is
	// the one whose standard deviation of a 50 % share equals this drift times the age:
	// 0.25/(κ+1) = (drift·age)².
	PriorDriftPerMonth = 0.016
	// PriorKappaFloor is the least pseudo-count of an old map: the last map stays a weak
	// prior (a 35 % share within about ±35 points) rather than none.
	PriorKappaFloor = 3
	// PriorMinCoverage is the least sum of a release's shares for one period for it to serve
	// as a prior: a release quoting a few countries (China alone, say) is a reference to score
	// against, not a map of where the rest sits.
	PriorMinCoverage = 0.8
	// daysPerMonth converts the distance to the map into months.
	daysPerMonth = 30.4375
)

// PriorKappa is the prior's pseudo-count for a map ageMonths whole months from the window.
func PriorKappa(ageMonths int) float64 {
	if ageMonths <= 0 {
		return PriorKappaFresh
	}
	sd := PriorDriftPerMonth * float64(ageMonths)
	return min(PriorKappaFresh, max(PriorKappaFloor, 0.25/(sd*sd)-1))
}

// Prior is the country mix given to hashrate no other evidence places in one window.
type Prior struct {
	Row       AllocationRow // Pool is "prior:" + the map's source
	Source    string
	Period    modeldata.Period
	AgeMonths int // whole months between the window's midpoint and the map's period
	// Completed are the countries the map's own table does not name that completeShares gave
	// part of its unnamed remainder, from the map CompletedFrom ("source period"); empty when
	// nothing was completed.
	Completed     []string
	CompletedFrom string
}

// PriorAt returns the prior at t from the published maps and surveys in maps, or false when
// there is none. The map is the one whose period is nearest to t (0 when t is inside it; ties
// go to the later-published release); live estimates pass every map known, a backtest only
// those published by its date (modeldata.Data.AsOf). Its shares are applied with the source's
// own caveats: a share the source says proxies inflate moves to the countries it says hide
// hashrate (split evenly), and each such country keeps at least a share 1/κ; what the map
// does not place (its "other", or the rest below 100 %) is completed from the nearest other
// map (completeShares), and what neither names stays XX. κ is PriorKappa of the age.
// Releases whose shares for the period sum below PriorMinCoverage are not maps.
func PriorAt(maps []modeldata.CountryMap, t time.Time) (Prior, bool) {
	best, bestDist := -1, math.Inf(1)
	for i, m := range maps {
		if !isMap(m) {
			continue
		}
		d := distanceDays(m.Period, t)
		if d < bestDist || d == bestDist && !m.Published.Before(maps[best].Published) {
			best, bestDist = i, d
		}
	}
	if best < 0 {
		return Prior{}, false
	}
	m := maps[best]
	age := int(math.Floor(bestDist / daysPerMonth))
	kappa := PriorKappa(age)
	if m.Coverage > 0 && m.Coverage < 1 {
		return partialPrior(maps, best, t, age, kappa)
	}
	shares, from, completed := completeShares(maps, best)
	// Sums run over sorted countries: the prior's shares key the row bank's draws (§6.3), so
	// they must not change in the last digit with map order.
	if len(m.Concealed) > 0 {
		moved := 0.0
		for _, c := range m.Proxy {
			moved += shares[c]
			delete(shares, c)
		}
		for _, c := range m.Concealed {
			shares[c] += moved / float64(len(m.Concealed))
		}
	}
	sum := 0.0
	for _, c := range sortedCountries(shares) {
		sum += shares[c]
	}
	if sum < 1 {
		shares[Unallocated] += 1 - sum
		sum = 1
	}
	for c := range shares {
		shares[c] /= sum
	}
	if len(m.Concealed) > 0 {
		// a hidden country keeps at least 1/κ: the map cannot rule it out
		floor := 1 / kappa
		raised := 0.0
		for _, c := range m.Concealed {
			if shares[c] < floor {
				raised += floor - shares[c]
				shares[c] = floor
			}
		}
		if raised > 0 {
			rest := 0.0
			for _, c := range sortedCountries(shares) {
				if !slices.Contains(m.Concealed, c) {
					rest += shares[c]
				}
			}
			for c, s := range shares {
				if !slices.Contains(m.Concealed, c) && rest > 0 {
					shares[c] = s * (rest - raised) / rest
				}
			}
		}
	}
	for c, s := range shares {
		if s <= 0 {
			delete(shares, c)
		}
	}
	return Prior{
		Row:    AllocationRow{Pool: "prior:" + m.Source, Shares: shares, Kappa: kappa},
		Source: m.Source, Period: m.Period, AgeMonths: age,
		CompletedFrom: from, Completed: completed,
	}, true
}

// isMap reports whether m's shares cover PriorMinCoverage (summed over sorted countries, so
// the result does not depend on map order).
func isMap(m modeldata.CountryMap) bool {
	cover := 0.0
	for _, c := range sortedCountries(m.Shares) {
		cover += m.Shares[c]
	}
	return cover >= PriorMinCoverage
}

// completeShares returns maps[best]'s shares with the part its table leaves unnamed (its
// "other", XX, and whatever is missing below 100 %) completed from the nearest other map of
// the whole network (METHOD.md §6.8, "completing a partial table"): that map's shares of the
// countries maps[best] does not name, in proportion, with that map's own unnamed part staying
// XX. A release quoting only its largest countries (CCAF's April 2021 figures name 88.8 %)
// thereby keeps its own figures and leaves XX only what neither table can place. Without a
// completing map (or when it names no other country) the remainder stays XX.
func completeShares(maps []modeldata.CountryMap, best int) (shares map[string]float64, from string, completed []string) {
	m := maps[best]
	shares = make(map[string]float64, len(m.Shares)+4)
	named := 0.0
	for _, c := range sortedCountries(m.Shares) {
		shares[c] = m.Shares[c]
		if c != Unallocated {
			named += m.Shares[c]
		}
	}
	rest := 1 - named
	if rest <= 1e-9 {
		return shares, "", nil
	}
	other, bestDist := -1, math.Inf(1)
	for i, o := range maps {
		if i == best || o.Source == m.Source && o.Period == m.Period || o.Coverage > 0 && o.Coverage < 1 || !isMap(o) {
			continue
		}
		d := periodDistanceDays(m.Period, o.Period)
		if d < bestDist || d == bestDist && !o.Published.Before(maps[other].Published) {
			other, bestDist = i, d
		}
	}
	if other < 0 {
		return shares, "", nil
	}
	o := maps[other]
	unnamed, oNamed := map[string]float64{}, 0.0
	for _, c := range sortedCountries(o.Shares) {
		if c == Unallocated {
			continue
		}
		oNamed += o.Shares[c]
		if _, ok := m.Shares[c]; !ok && o.Shares[c] > 0 {
			unnamed[c] = o.Shares[c]
		}
	}
	w := 0.0
	for _, c := range sortedCountries(unnamed) {
		w += unnamed[c]
	}
	if w <= 0 {
		return shares, "", nil
	}
	oRest := max(0, 1-oNamed)
	completed = sortedCountries(unnamed)
	for _, c := range completed {
		shares[c] = rest * unnamed[c] / (w + oRest)
	}
	delete(shares, Unallocated)
	if xx := rest * oRest / (w + oRest); xx > 0 {
		shares[Unallocated] = xx
	}
	return shares, o.Source + " " + o.Period.String(), completed
}

// periodDistanceDays is the distance in days between two periods, 0 when they overlap.
func periodDistanceDays(a, b modeldata.Period) float64 {
	switch {
	case b.To.Before(a.From):
		return a.From.Sub(b.To).Hours() / 24
	case a.To.Before(b.From):
		return b.From.Sub(a.To).Hours() / 24
	}
	return 0
}

// partialPrior is the prior of maps[best], whose shares describe only the fraction f =
// Coverage of the network (a survey's respondents): the mixture f·(its prior) + (1−f)·(the
// prior of the other maps at t), with κ matched to the mixture's variance,
// 1/(κ+1) = f²/(κ_s+1) + (1−f)²/(κ_o+1); without another map the rest is XX.
func partialPrior(maps []modeldata.CountryMap, best int, t time.Time, age int, kappa float64) (Prior, bool) {
	m := maps[best]
	f := m.Coverage
	whole := m
	whole.Coverage = 1
	own, _ := PriorAt([]modeldata.CountryMap{whole}, t) // this map alone, at the same age
	others := make([]modeldata.CountryMap, 0, len(maps)-1)
	for i, o := range maps {
		if i != best && o.Source != m.Source {
			others = append(others, o)
		}
	}
	base, ok := PriorAt(others, t)
	shares := map[string]float64{}
	for c, s := range own.Row.Shares {
		shares[c] += f * s
	}
	if ok {
		for c, s := range base.Row.Shares {
			shares[c] += (1 - f) * s
		}
		kappa = 1/(f*f/(kappa+1)+(1-f)*(1-f)/(base.Row.Kappa+1)) - 1
	} else {
		shares[Unallocated] += 1 - f
	}
	return Prior{
		Row:    AllocationRow{Pool: "prior:" + m.Source, Shares: shares, Kappa: kappa},
		Source: m.Source, Period: m.Period, AgeMonths: age,
		CompletedFrom: base.CompletedFrom, Completed: base.Completed,
	}, true
}

// PriorAt is the model's prior for a window whose midpoint is t (see the package PriorAt).
func (m Model) PriorAt(t time.Time) (Prior, bool) {
	if m.Data == nil {
		return Prior{}, false
	}
	return PriorAt(m.Data.Maps(), t)
}

// distanceDays is the distance from t to period p in days, 0 when t falls inside.
func distanceDays(p modeldata.Period, t time.Time) float64 {
	if p.Contains(t) {
		return 0
	}
	if t.Before(p.From) {
		return p.From.Sub(t).Hours() / 24
	}
	return t.Sub(p.To.AddDate(0, 0, 1)).Hours() / 24
}

func sortedCountries(m map[string]float64) []string {
	out := make([]string, 0, len(m))
	for c := range m {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// SiteFloors returns, by country, the least share of the prior that holds what listed miners
// report running there (bounds: EH/s by country, modeldata.Data.SiteBoundsAt; METHOD.md §6.9):
// with network hashrate h (H/s), a fraction placed of the window's hashrate taking the prior,
// and rowShares the share the allocation rows already put in each country, a country needs
// (bound/h − rowShares)/placed of the prior. Countries that need nothing are left out; floors
// summing past 1 are scaled to sum to 1. Nil when none binds.
func SiteFloors(bounds map[string]float64, h, placed float64, rowShares map[string]float64) map[string]float64 {
	if len(bounds) == 0 || h <= 0 || placed <= 0 {
		return nil
	}
	out := map[string]float64{}
	total := 0.0
	for _, c := range sortedCountries(bounds) {
		if need := (bounds[c]*1e18/h - rowShares[c]) / placed; need > 0 {
			out[c] = min(need, 1)
			total += out[c]
		}
	}
	if len(out) == 0 {
		return nil
	}
	if total > 1 {
		for c := range out {
			out[c] /= total
		}
	}
	return out
}

// raiseToFloors raises q (shares over the countries of floor, same order) in place so that
// q[k] ≥ floor[k], scaling the entries not raised down to keep the sum: the prior's draw
// with the listed miners' sites made room for.
func raiseToFloors(q, floor []float64) {
	raised, rest := 0.0, 0.0
	for k, f := range floor {
		if q[k] < f {
			raised += f
		} else {
			rest += q[k]
		}
	}
	if raised == 0 {
		return
	}
	scale := 0.0
	if rest > 0 && raised < 1 {
		scale = (1 - raised) / rest
	}
	for k, f := range floor {
		if q[k] < f {
			q[k] = f
		} else {
			q[k] *= scale
		}
	}
}

// RaiseToSites is the prior row with its mean shares raised to floors (SiteFloors): the mean
// of what countryHashrates does to every draw. prior may be nil (no map): the raise then
// starts from all in XX with κ PriorKappaFloor. It returns prior unchanged (and false) when no
// floor binds. The input is not modified.
func RaiseToSites(prior *AllocationRow, floors map[string]float64) (*AllocationRow, bool) {
	if len(floors) == 0 {
		return prior, false
	}
	base := AllocationRow{Pool: "prior:none", Shares: map[string]float64{Unallocated: 1}, Kappa: PriorKappaFloor}
	if prior != nil {
		base = *prior
	}
	names := sortedCountries(base.Shares)
	for _, c := range sortedCountries(floors) {
		if _, ok := base.Shares[c]; !ok {
			names = append(names, c)
		}
	}
	q := make([]float64, len(names))
	fl := make([]float64, len(names))
	for k, c := range names {
		q[k], fl[k] = base.Shares[c], floors[c]
	}
	before := append([]float64(nil), q...)
	raiseToFloors(q, fl)
	if slices.Equal(q, before) {
		return prior, false
	}
	out := AllocationRow{Pool: base.Pool + "+sites", Kappa: base.Kappa, Shares: make(map[string]float64, len(names))}
	for k, c := range names {
		if q[k] > 0 {
			out.Shares[c] = q[k]
		}
	}
	return &out, true
}

// WindowPrior is the prior as one window applies it (METHOD.md §6.8, §6.9).
type WindowPrior struct {
	// Row is the map's prior (nil: no map, and no floors).
	Row *AllocationRow
	// Taken is, by country, the share of the network the window's allocation rows already
	// place there: the map describes the whole network, so the hashrate it leaves to the pools
	// taking the prior is the map less what the rows place, max(0, q_c − Taken_c),
	// renormalised, in every draw q of the map.
	Taken map[string]float64
	// Floors are the listed miners' site floors (SiteFloors) every draw is then raised to.
	Floors map[string]float64
	// Prior is the map's prior as PriorAt gives it; OK false when no map is known.
	Prior Prior
	OK    bool
}

// residual replaces q (shares over names, in place) by what the map leaves once the rows'
// taken shares are removed: max(0, q − taken), renormalised; q is kept when nothing is left.
func residual(q, taken []float64) {
	residualOf(q, q, taken)
}

// residualOf is residual of the draw src (the first len(src) shares; those beyond are 0)
// written into q, so that countryHashrates does not first copy every draw of the map. Its
// arithmetic is residual's step for step — a share less its taken part is added to the sum
// only when positive, as adding max(0, ·) = +0 leaves a sum unchanged — without Go's float
// max, whose NaN and signed-zero rules cost a branch chain per share in the hottest loop.
func residualOf(q, src, taken []float64) {
	s := 0.0
	for k, x := range src {
		if d := x - taken[k]; d > 0 {
			s += d
		}
	}
	if s <= 0 {
		copy(q, src)
		clear(q[len(src):])
		return
	}
	for k, x := range src {
		if d := x - taken[k]; d > 0 {
			q[k] = d / s
		} else {
			q[k] = 0
		}
	}
	clear(q[len(src):])
}

// MeanShares is what the window's prior gives the hashrate it places, applied to the map's
// mean shares rather than to each draw (countryHashrates applies it to every draw, so its
// mean differs a little): the residual of the rows, then the site floors. Nil without a prior.
func (wp WindowPrior) MeanShares() map[string]float64 {
	if wp.Row == nil {
		return nil
	}
	names := sortedCountries(wp.Row.Shares)
	for _, c := range sortedCountries(wp.Floors) {
		if _, ok := wp.Row.Shares[c]; !ok {
			names = append(names, c)
		}
	}
	q := make([]float64, len(names))
	taken := make([]float64, len(names))
	floor := make([]float64, len(names))
	for k, c := range names {
		q[k], taken[k], floor[k] = wp.Row.Shares[c], wp.Taken[c], wp.Floors[c]
	}
	residual(q, taken)
	raiseToFloors(q, floor)
	out := make(map[string]float64, len(names))
	for k, c := range names {
		if q[k] > 0 {
			out[c] = q[k]
		}
	}
	return out
}

// PriorFor is the prior of window st given its allocation rows (METHOD.md §6.8, §6.9): the
// map's prior row at the window's midpoint (with floors but no map, the all-XX row of
// RaiseToSites), the shares the rows take, and the listed miners' site floors.
func (m Model) PriorFor(st WindowStats, rows map[string]AllocationRow) WindowPrior {
	t := midpoint(st.Window)
	var wp WindowPrior
	wp.Prior, wp.OK = m.PriorAt(t)
	if wp.OK {
		wp.Row = &wp.Prior.Row
	}
	if m.Data == nil || st.Blocks == 0 || st.Seconds <= 0 {
		return wp
	}
	placed := 0.0
	wp.Taken = map[string]float64{}
	for _, c := range st.Pools {
		w := float64(c.Blocks) / float64(st.Blocks)
		r, has := rows[c.Pool]
		if !has {
			placed += w
			continue
		}
		for _, cc := range sortedCountries(r.Shares) {
			if cc == Unallocated {
				placed += w * r.Shares[cc]
			} else {
				wp.Taken[cc] += w * r.Shares[cc]
			}
		}
	}
	wp.Floors = SiteFloors(m.Data.SiteBoundsAt(t), st.Work/st.Seconds, placed, wp.Taken)
	if wp.Row == nil && wp.Floors != nil {
		wp.Row = &AllocationRow{Pool: "prior:none", Shares: map[string]float64{Unallocated: 1}, Kappa: PriorKappaFloor}
	}
	return wp
}
