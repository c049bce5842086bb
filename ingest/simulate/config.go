package simulate

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/hashatlas/hashatlas/schemas"
)

// Config describes a simulated world. New uses it as given and fills in nothing: start from
// DefaultConfig and change what the experiment needs. A Config is a plain value, but its slices
// and maps are shared by copies; New does not modify them.
type Config struct {
	// Seed selects the random world; the same Config gives byte-identical messages, truth and
	// model data. Default: 1.
	Seed uint64
	// Start and End bound the simulated span [Start, End). Both must be midnight UTC, Start
	// before End. Default: 2024-01-01 to 2026-01-01.
	Start, End time.Time
	// StartHeight is the height of the first block, a multiple of 2016 (the first block opens a
	// difficulty epoch). Default: 0.
	StartHeight int64
	// InitialHashrate is the network hashrate at Start before seasonality, in H/s; the first
	// epoch's difficulty is set so that the hashrate of the first hour finds a block every 600 s.
	// Default: 6e20 (600 EH/s, early 2024).
	InitialHashrate float64
	// NetworkGrowth is the exponential growth rate per year every country shares (0.35 means
	// ×e^0.35 ≈ ×1.42 a year); each country adds its Drift. Default: 0.35.
	NetworkGrowth float64
	// Countries are where hashrate sits, each with its trend and season.
	Countries []Country
	// Pools are the mining pools. Include one with slug "unknown" (no allocation row) for the
	// blocks no registry entry would match.
	Pools []Pool
	// Regions are the grid regions that publish hourly demand and emergency flags.
	Regions []Region
	// Curtailments are the planted grid-stress responses: during a region's stressed hours the
	// pool's hashrate is reduced by Beta of its total.
	Curtailments []Curtailment
	// JitterSeconds is the miners' clock error: a block's header time is its arrival time
	// (whole seconds) plus a uniform integer in [−JitterSeconds, +JitterSeconds], kept inside
	// [Start, End) and then raised, when needed, to one second above the median of the previous
	// 11 header times (Bitcoin's median-time-past rule), so header times are not monotonic.
	// 0 makes header time equal arrival time. At most 7200. Default: 0.
	JitterSeconds int
	// PoolStatsNoise is the standard deviation of the log-normal, mean-one error of the daily
	// hashrate each pool "reports" (PoolStats), e.g. 0.05 for about 5 %. Default: 0.05.
	PoolStatsNoise float64
	// Maps is the world's map-maker, who publishes measured country maps (ReferencesCSV).
	// Default: a map of every third month, 10 % error, published 90 to 150 days later.
	Maps Maps
}

// Maps describes the country maps a simulated world publishes, as a real map-maker (the CCAF
// mining map) would: the share of the whole network's hashrate in each country over one
// calendar month, measured with error and published months after the month ends. The
// estimator takes them as the prior for hashrate no allocation row places (estimate.PriorAt).
type Maps struct {
	// EveryMonths spaces the mapped months: the first calendar month wholly inside the span,
	// then every EveryMonths-th month after it that is also whole. 0: the world publishes no
	// map.
	EveryMonths int
	// Noise is the map's relative measurement error σ: each country's published share is its
	// true share of the month (Truth's month country share) × exp(σ·z − σ²/2), z standard
	// normal (seeded, one per map and country), and the shares are then renormalised to 1 and
	// rounded to 4 decimals. 0: the true shares, rounded. At most 1.
	Noise float64
	// MinLagDays and MaxLagDays bound the publication delay after the mapped month's last day
	// (drawn uniformly per map, seeded). A map whose publication day is not before End is not
	// public when the span ends and is left out. 0 <= MinLagDays <= MaxLagDays <= 3660.
	MinLagDays, MaxLagDays int
}

// Country is one country's hashrate path. Its factor at time t (years since Start y, fraction
// of the calendar year f) is g(t) = exp((NetworkGrowth + Drift)·y) · (1 + SeasonAmplitude ·
// cos(2π (f − (SeasonPeakDay−1)/365.25))); a pool's hashrate in the country is proportional to
// it.
type Country struct {
	// Code is the ISO 3166-1 alpha-2 code ("US"); not XX.
	Code string
	// Drift is the country's growth per year on top of NetworkGrowth, in the same units;
	// keep it mild (within ±0.2) so that pools' mixes stay plausible over the span.
	Drift float64
	// SeasonAmplitude is the relative yearly swing, in [0, 0.9] (e.g. 0.15 for a hydro season).
	SeasonAmplitude float64
	// SeasonPeakDay is the day of the year (1–366) on which the season peaks.
	SeasonPeakDay int
}

// Pool is one mining pool.
type Pool struct {
	// Slug is the pool's slug ("alphapool"), "unknown" for unattributed blocks.
	Slug string
	// Size is the pool's relative weight; sizes are normalised to sum to 1, and the pool's
	// hashrate is InitialHashrate · size · Σ_c m_c · g_c(t) before curtailment.
	Size float64
	// Mix is a country mix (codes of Countries, shares > 0 summing to 1). With Kappa > 0 it is
	// the pool's published allocation row M (written to AllocationCSV) and the pool's true mix m
	// is drawn once per world from Dirichlet(Kappa · M); with Kappa = 0 the pool publishes no
	// row and Mix is its true mix, which the estimator does not see (it places such hashrate by
	// its prior, the world's published maps) but the truth counts (World.Truth). "unknown"'s
	// Mix is where the miners of unattributed blocks really are.
	Mix map[string]float64
	// Kappa is the row's pseudo-count κ, or 0 for a pool without a row. "unknown" has none.
	Kappa float64
	// HQCountry and HQRegion say where the pool is run, for PoolHQCSV (a region of the
	// modeldata HQ table such as "North America"; XX goes with "Unknown"). Both empty: the pool
	// has no HQ row ("unknown" must have none).
	HQCountry, HQRegion string
}

// Region is a grid region with stress events. Demand follows a daily and a yearly cosine
// (±7 % each) with about 1 % noise, between about 0.83 and 1.17 of BaseMW; in a stressed hour it
// is 1.25 to 1.35 of BaseMW, above every unstressed hour, and the emergency flag is 1.
type Region struct {
	// Code names the region as a grid operator would ("ERCO"); a country code for a national
	// grid.
	Code string
	// Country is the ISO code of the region's country; must be one of Countries.
	Country string
	// BaseMW is the mean demand in MW.
	BaseMW float64
	// StressDaysPerYear is the number of days per year with a stress event; event days are
	// drawn without replacement, more often near SeasonPeakDay, among the days no earlier
	// region of Config.Regions took (fewer when the days run out).
	StressDaysPerYear float64
	// MinStressHours and MaxStressHours bound an event's length in hours (1–24), drawn
	// uniformly.
	MinStressHours, MaxStressHours int
	// PeakHourUTC is the hour (0–23) of the daily demand peak; events are centred within two
	// hours of it, moved when needed to stay inside their UTC day.
	PeakHourUTC int
	// SeasonPeakDay is the day of the year (1–366) of the yearly demand peak.
	SeasonPeakDay int
}

// Curtailment plants a grid response: during Region's stressed hours, Beta of Pool's total
// hashrate switches off, taken from the pool's hashrate in the region's country. New refuses a
// world where that is physically impossible: for each pool and country the Betas of the
// country's regions must not exceed the pool's fraction of hashrate in that country at any
// hour of the span.
type Curtailment struct {
	Pool, Region string
	// Beta is the fraction β of the pool's total hashrate that curtails, in (0, 1).
	Beta float64
}

// DefaultConfig is a two-year world (2024–2025) of six countries, eight pools (six with
// allocation rows, one large pool without a row, epsilonpool, in China and Kazakhstan, and
// "unknown", split between the US and China) and three grid regions: ERCO (US), where two
// US-heavy pools curtail; RU, where a Russia-heavy pool curtails; and KZ, with stress events
// but no curtailment. Its map-maker maps January, April, July and October with 10 % error and
// publishes each 90 to 150 days after the month (seven maps, January 2024 to July 2025; the
// October 2025 map is not out by the end).
func DefaultConfig() Config {
	return Config{
		Seed:            1,
		Start:           time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		End:             time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		StartHeight:     0,
		InitialHashrate: 6e20,
		NetworkGrowth:   0.35,
		Countries: []Country{
			{Code: "US", Drift: 0.10, SeasonAmplitude: 0.04, SeasonPeakDay: 15},
			{Code: "CN", Drift: -0.10, SeasonAmplitude: 0.15, SeasonPeakDay: 230}, // hydro (wet) season
			{Code: "KZ", Drift: -0.15, SeasonAmplitude: 0.06, SeasonPeakDay: 15},
			{Code: "RU", Drift: 0.05, SeasonAmplitude: 0.10, SeasonPeakDay: 15}, // cold winters
			{Code: "CA", Drift: 0.00, SeasonAmplitude: 0.05, SeasonPeakDay: 15},
			{Code: "PY", Drift: 0.15, SeasonAmplitude: 0.08, SeasonPeakDay: 100}, // hydro
		},
		Pools: []Pool{
			{Slug: "alphapool", Size: 0.30, Mix: map[string]float64{"US": 0.80, "CA": 0.10, "PY": 0.10}, Kappa: 60, HQCountry: "US", HQRegion: "North America"},
			{Slug: "betapool", Size: 0.10, Mix: map[string]float64{"US": 0.95, "CA": 0.05}, Kappa: 80, HQCountry: "US", HQRegion: "North America"},
			{Slug: "gammapool", Size: 0.20, Mix: map[string]float64{"CN": 0.45, "KZ": 0.20, "RU": 0.20, "US": 0.15}, Kappa: 20, HQCountry: "CN", HQRegion: "Asia"},
			{Slug: "deltapool", Size: 0.12, Mix: map[string]float64{"RU": 0.70, "KZ": 0.10, "US": 0.10, "CA": 0.10}, Kappa: 50, HQCountry: "CZ", HQRegion: "Europe"},
			{Slug: "epsilonpool", Size: 0.15, Mix: map[string]float64{"CN": 0.60, "KZ": 0.40}, HQCountry: "XX", HQRegion: "Unknown"},
			{Slug: "zetapool", Size: 0.08, Mix: map[string]float64{"CN": 0.50, "US": 0.30, "PY": 0.20}, Kappa: 15, HQCountry: "SG", HQRegion: "Asia"},
			{Slug: "etapool", Size: 0.03, Mix: map[string]float64{"CA": 0.70, "US": 0.30}, Kappa: 10, HQCountry: "CA", HQRegion: "North America"},
			{Slug: schemas.PoolUnknown, Size: 0.02, Mix: map[string]float64{"US": 0.50, "CN": 0.50}},
		},
		Regions: []Region{
			{Code: "ERCO", Country: "US", BaseMW: 50000, StressDaysPerYear: 35, MinStressHours: 6, MaxStressHours: 12, PeakHourUTC: 22, SeasonPeakDay: 200},
			{Code: "RU", Country: "RU", BaseMW: 110000, StressDaysPerYear: 40, MinStressHours: 6, MaxStressHours: 12, PeakHourUTC: 14, SeasonPeakDay: 15},
			{Code: "KZ", Country: "KZ", BaseMW: 15000, StressDaysPerYear: 30, MinStressHours: 4, MaxStressHours: 10, PeakHourUTC: 13, SeasonPeakDay: 15},
		},
		Curtailments: []Curtailment{
			{Pool: "alphapool", Region: "ERCO", Beta: 0.45},
			{Pool: "betapool", Region: "ERCO", Beta: 0.35},
			{Pool: "deltapool", Region: "RU", Beta: 0.35},
		},
		JitterSeconds:  0,
		PoolStatsNoise: 0.05,
		Maps:           Maps{EveryMonths: 3, Noise: 0.10, MinLagDays: 90, MaxLagDays: 150},
	}
}

// maxSpan bounds End − Start (about 30 years), which keeps the hourly tables reasonable.
const maxSpan = 30 * 366 * 24 * time.Hour

// Validate checks the rules documented on the fields (not physical feasibility of the
// curtailments, which depends on the drawn mixes; New checks that). Every broken rule is
// reported, each naming the field.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	midnight := func(t time.Time) bool { return t.Equal(t.UTC().Truncate(24 * time.Hour)) }
	switch {
	case c.Start.IsZero() || c.End.IsZero():
		bad("start and end are required")
	case !midnight(c.Start) || !midnight(c.End):
		bad("start %s and end %s must be midnight UTC", c.Start.Format(time.RFC3339), c.End.Format(time.RFC3339))
	case !c.Start.Before(c.End):
		bad("start %s must be before end %s", c.Start.Format(time.DateOnly), c.End.Format(time.DateOnly))
	case c.End.Sub(c.Start) > maxSpan:
		bad("span %s to %s is longer than 30 years", c.Start.Format(time.DateOnly), c.End.Format(time.DateOnly))
	case c.Start.Before(schemas.GenesisTime) || c.End.After(time.Now().Add(schemas.FutureAllowance)):
		bad("span %s to %s must lie between the day after the genesis block (2009-01-04) and now (the times the schemas accept)", c.Start.Format(time.DateOnly), c.End.Format(time.DateOnly))
	}
	if c.StartHeight < 0 || c.StartHeight%EpochBlocks != 0 {
		bad("start height %d must be a non-negative multiple of 2016", c.StartHeight)
	}
	if !(c.InitialHashrate > 0) || math.IsInf(c.InitialHashrate, 0) {
		bad("initial hashrate %g must be positive and finite", c.InitialHashrate)
	}
	if !finite(c.NetworkGrowth) || math.Abs(c.NetworkGrowth) > 5 {
		bad("network growth %g must be finite and within ±5 per year", c.NetworkGrowth)
	}
	if c.JitterSeconds < 0 || c.JitterSeconds > 7200 {
		bad("jitter %d s must be in [0, 7200]", c.JitterSeconds)
	}
	if !(c.PoolStatsNoise >= 0) || c.PoolStatsNoise > 1 {
		bad("pool stats noise %g must be in [0, 1]", c.PoolStatsNoise)
	}
	if c.Maps.EveryMonths < 0 || c.Maps.EveryMonths > 1200 {
		bad("maps: every %d months must be in [0, 1200]", c.Maps.EveryMonths)
	}
	if !(c.Maps.Noise >= 0) || c.Maps.Noise > 1 {
		bad("maps: noise %g must be in [0, 1]", c.Maps.Noise)
	}
	if c.Maps.MinLagDays < 0 || c.Maps.MaxLagDays > 3660 || c.Maps.MinLagDays > c.Maps.MaxLagDays {
		bad("maps: lag %d-%d days must satisfy 0 <= min <= max <= 3660", c.Maps.MinLagDays, c.Maps.MaxLagDays)
	}

	countries := map[string]bool{}
	if len(c.Countries) == 0 {
		bad("no countries")
	}
	for i, k := range c.Countries {
		if !isCountryCode(k.Code) || k.Code == unallocated {
			bad("countries[%d]: code %q must be an upper-case ISO 3166-1 alpha-2 code other than XX", i, k.Code)
		}
		if countries[k.Code] {
			bad("countries[%d]: %s appears twice", i, k.Code)
		}
		countries[k.Code] = true
		if !finite(k.Drift) || math.Abs(k.Drift) > 5 {
			bad("country %s: drift %g must be finite and within ±5 per year", k.Code, k.Drift)
		}
		if !(k.SeasonAmplitude >= 0 && k.SeasonAmplitude <= 0.9) {
			bad("country %s: season amplitude %g must be in [0, 0.9]", k.Code, k.SeasonAmplitude)
		}
		if k.SeasonPeakDay < 1 || k.SeasonPeakDay > 366 {
			bad("country %s: season peak day %d must be in 1-366", k.Code, k.SeasonPeakDay)
		}
	}

	pools := map[string]Pool{}
	if len(c.Pools) == 0 {
		bad("no pools")
	}
	for i, p := range c.Pools {
		if r := checkSlug(p.Slug); r != "" {
			bad("pools[%d]: slug %q %s", i, p.Slug, r)
		}
		if _, dup := pools[p.Slug]; dup {
			bad("pools[%d]: %s appears twice", i, p.Slug)
		}
		pools[p.Slug] = p
		if !(p.Size > 0) || math.IsInf(p.Size, 0) {
			bad("pool %s: size %g must be positive and finite", p.Slug, p.Size)
		}
		if !(p.Kappa >= 0) || math.IsInf(p.Kappa, 0) {
			bad("pool %s: kappa %g must be >= 0 and finite", p.Slug, p.Kappa)
		}
		if p.Slug == schemas.PoolUnknown && p.Kappa != 0 {
			bad("pool unknown: kappa %g must be 0 (unknown blocks have no allocation row)", p.Kappa)
		}
		if len(p.Mix) == 0 {
			bad("pool %s: empty mix", p.Slug)
		}
		sum := 0.0
		for _, code := range sortedKeys(p.Mix) {
			s := p.Mix[code]
			if !countries[code] {
				bad("pool %s: mix country %q is not one of the countries", p.Slug, code)
			}
			if !(s > 0 && s <= 1) {
				bad("pool %s: share %g of %s must be in (0, 1]", p.Slug, s, code)
			}
			sum += s
		}
		if math.Abs(sum-1) > 1e-9 {
			bad("pool %s: mix shares sum to %v, want 1", p.Slug, sum)
		}
		switch {
		case p.HQCountry == "" && p.HQRegion == "":
		case p.Slug == schemas.PoolUnknown:
			bad("pool unknown: must have no HQ")
		case !isCountryCode(p.HQCountry) || p.HQRegion == "":
			bad("pool %s: HQ country %q must be an ISO code (or XX) and HQ region %q non-empty", p.Slug, p.HQCountry, p.HQRegion)
		case (p.HQCountry == unallocated) != (p.HQRegion == "Unknown"):
			bad("pool %s: HQ country XX goes with region Unknown and only with it (found %s, %s)", p.Slug, p.HQCountry, p.HQRegion)
		}
	}

	regions := map[string]Region{}
	for i, r := range c.Regions {
		if r.Code == "" || checkName(r.Code) != "" || strings.ContainsAny(r.Code, ",/") {
			bad("regions[%d]: code %q must be printable ASCII without spaces, '|', ',' or '/'", i, r.Code)
		}
		if _, dup := regions[r.Code]; dup {
			bad("regions[%d]: %s appears twice", i, r.Code)
		}
		regions[r.Code] = r
		if !countries[r.Country] {
			bad("region %s: country %q is not one of the countries", r.Code, r.Country)
		}
		if !(r.BaseMW > 0) || math.IsInf(r.BaseMW, 0) {
			bad("region %s: base demand %g MW must be positive and finite", r.Code, r.BaseMW)
		}
		if !(r.StressDaysPerYear >= 0 && r.StressDaysPerYear <= 366) {
			bad("region %s: stress days per year %g must be in [0, 366]", r.Code, r.StressDaysPerYear)
		}
		if r.MinStressHours < 1 || r.MaxStressHours > 24 || r.MinStressHours > r.MaxStressHours {
			bad("region %s: stress hours %d-%d must satisfy 1 <= min <= max <= 24", r.Code, r.MinStressHours, r.MaxStressHours)
		}
		if r.PeakHourUTC < 0 || r.PeakHourUTC > 23 {
			bad("region %s: peak hour %d must be in 0-23", r.Code, r.PeakHourUTC)
		}
		if r.SeasonPeakDay < 1 || r.SeasonPeakDay > 366 {
			bad("region %s: season peak day %d must be in 1-366", r.Code, r.SeasonPeakDay)
		}
	}

	type pair struct{ pool, region string }
	seen := map[pair]bool{}
	for i, cu := range c.Curtailments {
		p, okP := pools[cu.Pool]
		r, okR := regions[cu.Region]
		switch {
		case !okP:
			bad("curtailments[%d]: pool %q is not one of the pools", i, cu.Pool)
		case !okR:
			bad("curtailments[%d]: region %q is not one of the regions", i, cu.Region)
		case p.Mix[r.Country] == 0:
			bad("curtailments[%d]: pool %s has no hashrate in %s, the country of region %s", i, cu.Pool, r.Country, cu.Region)
		}
		if !(cu.Beta > 0 && cu.Beta < 1) {
			bad("curtailments[%d]: beta %g must be in (0, 1)", i, cu.Beta)
		}
		if seen[pair{cu.Pool, cu.Region}] {
			bad("curtailments[%d]: pool %s and region %s appear twice", i, cu.Pool, cu.Region)
		}
		seen[pair{cu.Pool, cu.Region}] = true
	}
	return errors.Join(errs...)
}

// unallocated is the pseudo-country of hashrate no allocation row places.
const unallocated = "XX"

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

func isCountryCode(s string) bool {
	return len(s) == 2 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z'
}

// checkSlug mirrors the schemas rule for pool slugs ([a-z0-9()._-], 1 to 128 bytes) so that a
// bad slug is reported by New, not by the first publish.
func checkSlug(s string) string {
	if s == "" || len(s) > schemas.MaxNameLen {
		return "must be 1 to 128 characters"
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '(' && c != ')' && c != '.' && c != '_' && c != '-' {
			return "must use only [a-z0-9()._-]"
		}
	}
	return ""
}

// checkName mirrors the schemas rule for names (regions): printable ASCII without spaces or '|'.
func checkName(s string) string {
	if len(s) > schemas.MaxNameLen {
		return "too long"
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '|' {
			return "bad character"
		}
	}
	return ""
}
