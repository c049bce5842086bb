package schemas

import (
	"strconv"
	"strings"
	"time"
)

// Estimate metrics (Estimate.Metric). Each has one unit, a kind of entity
// and a range for value, lower and upper; see EstimateUnit.
const (
	// MetricNetworkHashrate: network hashrate in H/s; entity "network".
	MetricNetworkHashrate = "network_hashrate"
	// MetricPoolHashrate: a pool's hashrate (share × network) in H/s; entity
	// a pool slug.
	MetricPoolHashrate = "pool_hashrate"
	// MetricPoolShare: a pool's share of blocks, ratio in [0, 1]; entity a
	// pool slug.
	MetricPoolShare = "pool_share"
	// MetricCountryHashrate: hashrate located in a country in H/s; entity an
	// ISO country code or "XX" (unallocated).
	MetricCountryHashrate = "country_hashrate"
	// MetricCountryShare: a country's share of network hashrate, ratio in
	// [0, 1]; entity a country code or "XX".
	MetricCountryShare = "country_share"
	// MetricRegionBlockShare: the block share of pools headquartered in a
	// region, ratio in [0, 1]; entity the region name ("north-america").
	MetricRegionBlockShare = "region_block_share"
	// MetricPowerGW: electrical power drawn by miners in GW; entity a country
	// code, "XX" or "network".
	MetricPowerGW = "power_gw"
	// MetricEnergyTWh: the same power annualised, in TWh/yr; entity as for
	// power_gw.
	MetricEnergyTWh = "energy_twh"
	// MetricEnergyBeta: the fraction β of a pool's hashrate that curtails
	// with a grid region's stress, ratio in [0, 1]; entity "pool/region"
	// ("foundryusa/ERCO").
	MetricEnergyBeta = "energy_beta"
	// MetricLuck: observed blocks / blocks expected from difficulty, ratio
	// >= 0; entity "network" or a pool slug.
	MetricLuck = "luck"
	// MetricShedHashrate: hashrate shed during a network dip that coincides
	// with grid stress, in H/s (may be negative in its interval); entity the
	// grid region.
	MetricShedHashrate = "shed_hashrate"
	// MetricShedPowerGW: power shed in such a dip, in GW (may be negative in
	// its interval); entity the grid region.
	MetricShedPowerGW = "shed_power_gw"
	// MetricStressDrop: on a day found as grid stress from the chain alone
	// (estimate/METHOD.md §8.11), the fraction of the region's reference
	// pools' hashrate gone, ratio <= 1 (its interval may reach below 0);
	// entity the chain-stress region ("north-america"), window day.
	MetricStressDrop = "stress_drop"
	// MetricGridExposure: the fraction of a pool's hashrate on a region's
	// grid, from its loss on the region's stress days, ratio in [0, 1];
	// entity "pool/region" ("antpool/north-america"), window year.
	MetricGridExposure = "grid_exposure"
)

// Units of estimates.
const (
	UnitHashesPerSecond = "H/s"
	UnitRatio           = "ratio"
	UnitGW              = "GW"
	UnitTWhPerYear      = "TWh/yr"
)

// Windows (Estimate.Window). Fixed windows are UTC calendar periods; the
// last-N-blocks window spans the header times of the blocks it used.
const (
	// WindowDay: [00:00, next 00:00) UTC.
	WindowDay = "day"
	// WindowWeek: an ISO week, [Monday 00:00, next Monday 00:00) UTC.
	WindowWeek = "week"
	// WindowMonth: [first day 00:00, first day of next month 00:00) UTC.
	WindowMonth = "month"
	// WindowYear: [1 January 00:00, next 1 January 00:00) UTC; used by the
	// curtailment fits of energy signals, which need a year of grid events.
	WindowYear = "year"
	// WindowLastN: the last N blocks; window_start is the earliest and
	// window_end the latest header time among them (start <= end).
	WindowLastN = "lastn"
)

// EntityNetwork is the entity of network-wide estimates.
const EntityNetwork = "network"

var windows = []string{WindowDay, WindowWeek, WindowMonth, WindowYear, WindowLastN}

type entityKind int

const (
	entityNetwork entityKind = iota
	entityPool
	entityPoolOrNetwork
	entityCountry
	entityCountryOrNetwork
	entityName
	entityPoolRegion
)

type metricRule struct {
	unit     string
	entity   entityKind
	min, max float64 // bounds of value, lower and upper
}

const inf = 1.7976931348623157e308 // math.MaxFloat64: every finite value

var estimateMetrics = []string{MetricNetworkHashrate, MetricPoolHashrate, MetricPoolShare, MetricCountryHashrate,
	MetricCountryShare, MetricRegionBlockShare, MetricPowerGW, MetricEnergyTWh, MetricEnergyBeta, MetricLuck,
	MetricShedHashrate, MetricShedPowerGW, MetricStressDrop, MetricGridExposure}

func estimateRule(metric string) (metricRule, bool) {
	switch metric {
	case MetricNetworkHashrate:
		return metricRule{UnitHashesPerSecond, entityNetwork, 0, inf}, true
	case MetricPoolHashrate:
		return metricRule{UnitHashesPerSecond, entityPool, 0, inf}, true
	case MetricPoolShare:
		return metricRule{UnitRatio, entityPool, 0, 1}, true
	case MetricCountryHashrate:
		return metricRule{UnitHashesPerSecond, entityCountry, 0, inf}, true
	case MetricCountryShare:
		return metricRule{UnitRatio, entityCountry, 0, 1}, true
	case MetricRegionBlockShare:
		return metricRule{UnitRatio, entityName, 0, 1}, true
	case MetricPowerGW:
		return metricRule{UnitGW, entityCountryOrNetwork, 0, inf}, true
	case MetricEnergyTWh:
		return metricRule{UnitTWhPerYear, entityCountryOrNetwork, 0, inf}, true
	case MetricEnergyBeta:
		return metricRule{UnitRatio, entityPoolRegion, 0, 1}, true
	case MetricLuck:
		return metricRule{UnitRatio, entityPoolOrNetwork, 0, inf}, true
	case MetricShedHashrate:
		return metricRule{UnitHashesPerSecond, entityName, -inf, inf}, true
	case MetricShedPowerGW:
		return metricRule{UnitGW, entityName, -inf, inf}, true
	case MetricStressDrop:
		return metricRule{UnitRatio, entityName, -inf, 1}, true
	case MetricGridExposure:
		return metricRule{UnitRatio, entityPoolRegion, 0, 1}, true
	}
	return metricRule{}, false
}

// EstimateUnit returns the unit of an estimate metric, or "" for an unknown
// metric.
func EstimateUnit(metric string) string {
	r, _ := estimateRule(metric)
	return r.unit
}

// EstimateMetrics returns every valid Estimate.Metric, in a stable order;
// the caller owns the slice.
func EstimateMetrics() []string { return append([]string(nil), estimateMetrics...) }

// Estimate is one modelled number with its 95 % interval: a metric, for one
// entity, over one window, by one method and model version. Published on
// TopicEstimates under the key
// "metric|window|window_start|entity|method|model_version": a recomputation
// of the same window replaces the earlier result under compaction, while
// the pool-allocation and energy-adjusted variants (different methods) and
// other model versions stay side by side.
type Estimate struct {
	// Schema is SchemaEstimate ("hashatlas.estimate.v1"); Encode fills it in.
	Schema string `json:"schema"`
	// Metric is one of the Metric* constants.
	Metric string `json:"metric"`
	// Window is one of the Window* constants.
	Window string `json:"window"`
	// WindowStart is the inclusive start of the window, in UTC, aligned to
	// the window kind (midnight; Monday midnight; first of the month).
	WindowStart time.Time `json:"window_start"`
	// WindowEnd is the exclusive end of the window, in UTC: start + 1 day,
	// + 7 days or + 1 month; for lastn, >= start.
	WindowEnd time.Time `json:"window_end"`
	// Entity is what the number is about; its kind depends on the metric:
	// "network", a pool slug, a country code ("XX" unallocated), a region,
	// or "pool/region" for energy_beta.
	Entity string `json:"entity"`
	// Method names the estimator ("fixed-window", "last-n",
	// "clopper-pearson", "pool-allocation", "energy-adjusted", …): printable
	// ASCII without spaces or '|'.
	Method string `json:"method"`
	// Value is the point estimate (the median for Monte Carlo methods) in
	// Unit.
	Value float64 `json:"value"`
	// Lower is the lower bound of the 95 % interval, in Unit; lower <= value.
	Lower float64 `json:"lower"`
	// Upper is the upper bound of the 95 % interval, in Unit; value <= upper.
	Upper float64 `json:"upper"`
	// Unit is the metric's unit (EstimateUnit): "H/s", "ratio", "GW" or
	// "TWh/yr". Ratios lie in [0, 1] except luck (>= 0).
	Unit string `json:"unit"`
	// Blocks is the number of blocks the estimate rests on (for pool metrics
	// the pool's blocks in the window), >= 0.
	Blocks int64 `json:"blocks"`
	// Final is true once the window is past its watermark (window end + 2 h
	// of header time); a late block may still re-open it, producing a new
	// message under the same key.
	Final bool `json:"final"`
	// ModelVersion identifies the model (code and data) that produced the
	// number; required.
	ModelVersion string `json:"model_version"`
	// ComputedAt is when the number was computed, in UTC.
	ComputedAt time.Time `json:"computed_at"`
	// InputsDigest is a hex digest (16 to 128 lower-case hex characters,
	// e.g. SHA-256) of the inputs the number was computed from; equal
	// digests and model versions give identical numbers.
	InputsDigest string `json:"inputs_digest"`
}

// SchemaName returns SchemaEstimate.
func (Estimate) SchemaName() string { return SchemaEstimate }

// Topic returns TopicEstimates.
func (Estimate) Topic() string { return TopicEstimates }

// Key returns "metric|window|window_start|entity|method|model_version",
// window_start in RFC 3339 UTC.
func (e Estimate) Key() string {
	b := make([]byte, 0, len(e.Metric)+len(e.Window)+len(e.Entity)+len(e.Method)+len(e.ModelVersion)+32)
	b = append(b, e.Metric...)
	b = append(b, '|')
	b = append(b, e.Window...)
	b = append(b, '|')
	b = appendKeyTime(b, e.WindowStart)
	b = append(b, '|')
	b = append(b, e.Entity...)
	b = append(b, '|')
	b = append(b, e.Method...)
	b = append(b, '|')
	b = append(b, e.ModelVersion...)
	return string(b)
}

// Validate checks the rules documented on the fields.
func (e Estimate) Validate() error {
	var fe fieldErrors
	fe.check("schema", checkSchemaField(e.Schema, SchemaEstimate))
	rule, ok := estimateRule(e.Metric)
	if !ok {
		fe.add("metric", checkEnum(e.Metric, estimateMetrics))
	}
	fe.check("window", checkEnum(e.Window, windows))
	// A window may end up to a year past now (the year window of this year).
	startOK, endOK := checkTime(e.WindowStart), checkTimeUntil(e.WindowEnd, latestTime().AddDate(1, 0, 1))
	fe.check("window_start", startOK)
	fe.check("window_end", endOK)
	if startOK == "" && endOK == "" {
		checkWindow(&fe, e.Window, e.WindowStart, e.WindowEnd)
	}
	if ok {
		fe.check("entity", checkEntity(e.Entity, rule.entity))
	} else {
		fe.check("entity", checkName(e.Entity))
	}
	fe.check("method", checkName(e.Method))
	vr, lr, ur := checkFinite(e.Value), checkFinite(e.Lower), checkFinite(e.Upper)
	fe.check("value", vr)
	fe.check("lower", lr)
	fe.check("upper", ur)
	if vr == "" && lr == "" && ur == "" {
		switch {
		case e.Lower > e.Value:
			fe.add("lower", "must be <= value ("+fmtFloat(e.Value)+"), found "+fmtFloat(e.Lower))
		case e.Value > e.Upper:
			fe.add("upper", "must be >= value ("+fmtFloat(e.Value)+"), found "+fmtFloat(e.Upper))
		}
		if ok {
			for _, f := range [...]struct {
				name string
				v    float64
			}{{"value", e.Value}, {"lower", e.Lower}, {"upper", e.Upper}} {
				if f.v < rule.min || f.v > rule.max {
					fe.add(f.name, "must be within "+boundsText(rule)+" for metric "+e.Metric+", found "+fmtFloat(f.v))
				}
			}
		}
	}
	if ok {
		if e.Unit != rule.unit {
			fe.add("unit", "must be "+strconv.Quote(rule.unit)+" for metric "+e.Metric+", found "+strconv.Quote(e.Unit))
		}
	} else {
		fe.check("unit", checkEnum(e.Unit, estimateUnits))
	}
	fe.check("blocks", checkCount(e.Blocks))
	fe.check("model_version", checkName(e.ModelVersion))
	fe.check("computed_at", checkTime(e.ComputedAt))
	if n := len(e.InputsDigest); n < 16 || n > 128 || !isLowerHex(e.InputsDigest) {
		fe.add("inputs_digest", "must be 16 to 128 lower-case hex characters, found "+strconv.Quote(truncate(e.InputsDigest)))
	}
	return fe.err()
}

func boundsText(r metricRule) string {
	switch {
	case r.min == 0 && r.max == 1:
		return "[0, 1]"
	case r.min == 0:
		return "[0, +inf)"
	default:
		return "the finite numbers"
	}
}

func checkEntity(s string, kind entityKind) string {
	switch kind {
	case entityNetwork:
		if s != EntityNetwork {
			return "must be \"network\" for this metric, found " + strconv.Quote(truncate(s))
		}
	case entityPool:
		return checkSlug(s)
	case entityPoolOrNetwork:
		if s != EntityNetwork {
			return checkSlug(s)
		}
	case entityCountry:
		return checkCountry(s)
	case entityCountryOrNetwork:
		if s != EntityNetwork {
			if r := checkCountry(s); r != "" {
				return "must be a country code, XX or \"network\", found " + strconv.Quote(truncate(s))
			}
		}
	case entityName:
		return checkName(s)
	case entityPoolRegion:
		pool, region, found := strings.Cut(s, "/")
		if !found || checkSlug(pool) != "" || checkName(region) != "" || len(s) > MaxNameLen {
			return "must be \"pool/region\" (a pool slug and a grid region) for metric energy_beta, found " + strconv.Quote(truncate(s))
		}
	}
	return ""
}

// checkWindow checks the alignment and length of a window whose bounds are
// valid times.
func checkWindow(fe *fieldErrors, window string, start, end time.Time) {
	start, end = start.UTC(), end.UTC()
	midnight := start.Hour() == 0 && start.Minute() == 0 && start.Second() == 0 && start.Nanosecond() == 0
	var want time.Time
	switch window {
	case WindowDay:
		if !midnight {
			fe.add("window_start", "must be 00:00:00Z for window day, found "+start.Format(time.RFC3339Nano))
			return
		}
		want = start.AddDate(0, 0, 1)
	case WindowWeek:
		if !midnight || start.Weekday() != time.Monday {
			fe.add("window_start", "must be a Monday 00:00:00Z for window week (ISO week), found "+start.Format(time.RFC3339Nano))
			return
		}
		want = start.AddDate(0, 0, 7)
	case WindowMonth:
		if !midnight || start.Day() != 1 {
			fe.add("window_start", "must be the first of a month at 00:00:00Z for window month, found "+start.Format(time.RFC3339Nano))
			return
		}
		want = start.AddDate(0, 1, 0)
	case WindowYear:
		if !midnight || start.Day() != 1 || start.Month() != time.January {
			fe.add("window_start", "must be 1 January at 00:00:00Z for window year, found "+start.Format(time.RFC3339Nano))
			return
		}
		want = start.AddDate(1, 0, 0)
	case WindowLastN:
		if end.Before(start) {
			fe.add("window_end", "must not be before window_start for window lastn")
		}
		return
	default:
		return
	}
	if !end.Equal(want) {
		fe.add("window_end", "must be "+want.Format(time.RFC3339)+" for a "+window+" window starting "+start.Format(time.RFC3339)+", found "+end.Format(time.RFC3339Nano))
	}
}

var estimateFields = fieldSet{
	names: []string{"schema", "metric", "window", "window_start", "window_end", "entity", "method", "value",
		"lower", "upper", "unit", "blocks", "final", "model_version", "computed_at", "inputs_digest"},
	required: requiredAll(16),
}

var estimateUnits = []string{UnitHashesPerSecond, UnitRatio, UnitGW, UnitTWhPerYear}

func (e *Estimate) fieldSet() *fieldSet { return &estimateFields }

func (e *Estimate) decodeField(r *reader, i int) (err error) {
	switch i {
	case 0: // read and checked by decodeObject
		e.Schema = SchemaEstimate
	case 1:
		e.Metric, err = r.enum(estimateMetrics)
	case 2:
		e.Window, err = r.enum(windows)
	case 3:
		e.WindowStart, err = r.time()
	case 4:
		e.WindowEnd, err = r.time()
	case 5:
		e.Entity, err = r.str()
	case 6:
		e.Method, err = r.str()
	case 7:
		e.Value, err = r.float64()
	case 8:
		e.Lower, err = r.float64()
	case 9:
		e.Upper, err = r.float64()
	case 10:
		e.Unit, err = r.enum(estimateUnits)
	case 11:
		e.Blocks, err = r.int64()
	case 12:
		e.Final, err = r.bool()
	case 13:
		e.ModelVersion, err = r.str()
	case 14:
		e.ComputedAt, err = r.time()
	case 15:
		e.InputsDigest, err = r.str()
	}
	return err
}

func (e *Estimate) appendJSON(buf []byte) []byte {
	// Fixed text, numbers and times take at most about this much.
	buf = grow(buf, 448+len(e.Metric)+len(e.Entity)+len(e.Method)+len(e.ModelVersion)+len(e.InputsDigest))
	buf = append(buf, `{"schema":"`+SchemaEstimate+`","metric":`...)
	buf = appendVerbatim(buf, e.Metric)
	buf = append(buf, `,"window":`...)
	buf = appendVerbatim(buf, e.Window)
	buf = append(buf, `,"window_start":`...)
	buf = appendTime(buf, e.WindowStart)
	buf = append(buf, `,"window_end":`...)
	buf = appendTime(buf, e.WindowEnd)
	buf = append(buf, `,"entity":`...)
	buf = appendString(buf, e.Entity)
	buf = append(buf, `,"method":`...)
	buf = appendString(buf, e.Method)
	buf = append(buf, `,"value":`...)
	buf = appendFloat(buf, e.Value)
	buf = append(buf, `,"lower":`...)
	buf = appendFloat(buf, e.Lower)
	buf = append(buf, `,"upper":`...)
	buf = appendFloat(buf, e.Upper)
	buf = append(buf, `,"unit":`...)
	buf = appendVerbatim(buf, e.Unit)
	buf = append(buf, `,"blocks":`...)
	buf = strconv.AppendInt(buf, e.Blocks, 10)
	buf = append(buf, `,"final":`...)
	buf = appendBool(buf, e.Final)
	buf = append(buf, `,"model_version":`...)
	buf = appendString(buf, e.ModelVersion)
	buf = append(buf, `,"computed_at":`...)
	buf = appendTime(buf, e.ComputedAt)
	buf = append(buf, `,"inputs_digest":`...)
	buf = appendVerbatim(buf, e.InputsDigest)
	return append(buf, '}')
}
