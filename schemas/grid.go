package schemas

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// Grid metrics (GridObservation.Metric) and the units each allows.
const (
	// GridDemand is electricity demand (load) of the region: MW (mean over
	// the interval) or MWh (energy over the interval); >= 0.
	GridDemand = "demand"
	// GridDemandForecast is the operator's day-ahead demand forecast for the
	// interval: MW or MWh; >= 0.
	GridDemandForecast = "demand_forecast"
	// GridNetGeneration is net generation in the region: MW or MWh; may be
	// negative.
	GridNetGeneration = "net_generation"
	// GridInterchange is total interchange with neighbouring regions,
	// positive for net export (EIA's convention): MW or MWh.
	GridInterchange = "interchange"
	// GridPrice is the wholesale (real-time or day-ahead, as the source
	// publishes) electricity price: USD/MWh; may be negative.
	GridPrice = "price"
	// GridEmergency is the operator's emergency or alert level over the
	// interval: unit flag, an integer from 0 (none) to 10 (e.g. ERCOT EEA
	// levels 1–3).
	GridEmergency = "emergency"
	// GridGenerationPrefix starts the generation-by-fuel metrics,
	// "generation_<fuel>" with <fuel> one of GridFuels(): MW or MWh; may be
	// negative (storage charging, station use).
	GridGenerationPrefix = "generation_"
)

var gridFuels = []string{"coal", "gas", "oil", "nuclear", "hydro", "wind", "solar", "geothermal", "biomass", "battery", "pumped_storage", "other", "unknown"}

// GridFuels returns the fuels of the generation_<fuel> metrics, in a stable
// order; the caller owns the slice. Collectors map their sources' codes onto
// these (EIA: COL coal, NG gas, OIL oil, NUC nuclear, WAT hydro, WND wind,
// SUN solar, GEO geothermal, BAT battery, PS pumped_storage, OTH other,
// UNK unknown).
func GridFuels() []string { return append([]string(nil), gridFuels...) }

// GridMetrics returns every valid GridObservation.Metric, in a stable order;
// the caller owns the slice.
func GridMetrics() []string { return append([]string(nil), gridMetrics...) }

// Units of grid observations.
const (
	UnitMW        = "MW"
	UnitMWh       = "MWh"
	UnitUSDPerMWh = "USD/MWh"
	UnitFlag      = "flag"
)

// gridMetrics is every grid metric, for decoding without allocation and for
// error messages.
var gridMetrics = func() []string {
	m := []string{GridDemand, GridDemandForecast, GridNetGeneration, GridInterchange, GridPrice, GridEmergency}
	for _, f := range gridFuels {
		m = append(m, GridGenerationPrefix+f)
	}
	return m
}()

var (
	gridPowerUnits = []string{UnitMW, UnitMWh}
	gridPriceUnits = []string{UnitUSDPerMWh}
	gridFlagUnits  = []string{UnitFlag}
	gridUnits      = []string{UnitMW, UnitMWh, UnitUSDPerMWh, UnitFlag}
)

// gridMetricUnits returns the units metric allows and whether its values
// must be >= 0; ok is false for an unknown metric.
func gridMetricUnits(metric string) (units []string, nonNegative, ok bool) {
	switch metric {
	case GridDemand, GridDemandForecast:
		return gridPowerUnits, true, true
	case GridNetGeneration, GridInterchange:
		return gridPowerUnits, false, true
	case GridPrice:
		return gridPriceUnits, false, true
	case GridEmergency:
		return gridFlagUnits, true, true
	}
	if fuel, found := strings.CutPrefix(metric, GridGenerationPrefix); found {
		for _, f := range gridFuels {
			if fuel == f {
				return gridPowerUnits, false, true
			}
		}
	}
	return nil, false, false
}

// GridObservation is one value a grid operator published for one region,
// metric and interval. Published on TopicGrid under the key
// "region|metric|source|interval_seconds|time".
type GridObservation struct {
	// Schema is SchemaGridObservation ("hashatlas.grid.v1"); Encode fills it
	// in.
	Schema string `json:"schema"`
	// Region is the grid region: a balancing authority or market code as the
	// source names it ("ERCO", "PJM"), or a country code for national grids.
	Region string `json:"region"`
	// Country is the ISO 3166-1 alpha-2 code of the region's country ("US").
	Country string `json:"country"`
	// Time is the start of the interval, in UTC (sources that label
	// intervals by their end are converted).
	Time time.Time `json:"time"`
	// IntervalSeconds is the interval length in seconds (3600 for hourly
	// data), from MinIntervalSeconds to MaxIntervalSeconds.
	IntervalSeconds int64 `json:"interval_seconds"`
	// Metric is one of the Grid* metrics or "generation_<fuel>".
	Metric string `json:"metric"`
	// Value is the observation in Unit; finite; >= 0 for demand,
	// demand_forecast and emergency; an integer 0–10 for emergency.
	Value float64 `json:"value"`
	// Unit is the unit of Value, allowed per metric: MW or MWh for demand,
	// generation and interchange, USD/MWh for price, flag for emergency.
	Unit string `json:"unit"`
	// Source names the collector ("eia", "csv").
	Source string `json:"source"`
}

// SchemaName returns SchemaGridObservation.
func (GridObservation) SchemaName() string { return SchemaGridObservation }

// Topic returns TopicGrid.
func (GridObservation) Topic() string { return TopicGrid }

// Key returns "region|metric|source|interval_seconds|time", time in RFC 3339
// UTC.
func (g GridObservation) Key() string {
	b := make([]byte, 0, len(g.Region)+len(g.Metric)+len(g.Source)+48)
	b = append(b, g.Region...)
	b = append(b, '|')
	b = append(b, g.Metric...)
	b = append(b, '|')
	b = append(b, g.Source...)
	b = append(b, '|')
	b = strconv.AppendInt(b, g.IntervalSeconds, 10)
	b = append(b, '|')
	b = appendKeyTime(b, g.Time)
	return string(b)
}

// Validate checks the rules documented on the fields.
func (g GridObservation) Validate() error {
	var fe fieldErrors
	fe.check("schema", checkSchemaField(g.Schema, SchemaGridObservation))
	fe.check("region", checkName(g.Region))
	fe.check("country", checkCountry(g.Country))
	fe.check("time", checkTime(g.Time))
	fe.check("interval_seconds", checkInterval(g.IntervalSeconds))
	units, nonNegative, ok := gridMetricUnits(g.Metric)
	if !ok {
		fe.add("metric", checkEnum(g.Metric, gridMetrics))
	}
	if r := checkFinite(g.Value); r != "" {
		fe.add("value", r)
	} else if ok {
		switch {
		case g.Metric == GridEmergency && (g.Value != math.Trunc(g.Value) || g.Value < 0 || g.Value > 10):
			fe.add("value", "must be an integer from 0 to 10 for metric emergency, found "+fmtFloat(g.Value))
		case nonNegative && g.Value < 0:
			fe.add("value", "must be >= 0 for metric "+g.Metric+", found "+fmtFloat(g.Value))
		}
	}
	if ok {
		if r := checkEnum(g.Unit, units); r != "" {
			fe.add("unit", r+" (for metric "+g.Metric+")")
		}
	} else {
		fe.check("unit", checkEnum(g.Unit, gridUnits))
	}
	fe.check("source", checkName(g.Source))
	return fe.err()
}

var gridFields = fieldSet{
	names:    []string{"schema", "region", "country", "time", "interval_seconds", "metric", "value", "unit", "source"},
	required: requiredAll(9),
}

func (g *GridObservation) fieldSet() *fieldSet { return &gridFields }

func (g *GridObservation) decodeField(r *reader, i int) (err error) {
	switch i {
	case 0: // read and checked by decodeObject
		g.Schema = SchemaGridObservation
	case 1:
		g.Region, err = r.str()
	case 2:
		g.Country, err = r.str()
	case 3:
		g.Time, err = r.time()
	case 4:
		g.IntervalSeconds, err = r.int64()
	case 5:
		g.Metric, err = r.enum(gridMetrics)
	case 6:
		g.Value, err = r.float64()
	case 7:
		g.Unit, err = r.enum(gridUnits)
	case 8:
		g.Source, err = r.str()
	}
	return err
}

func (g *GridObservation) appendJSON(buf []byte) []byte {
	// Fixed text, numbers and times take at most about this much.
	buf = grow(buf, 224+len(g.Region)+len(g.Metric)+len(g.Source))
	buf = append(buf, `{"schema":"`+SchemaGridObservation+`","region":`...)
	buf = appendString(buf, g.Region)
	buf = append(buf, `,"country":`...)
	buf = appendVerbatim(buf, g.Country)
	buf = append(buf, `,"time":`...)
	buf = appendTime(buf, g.Time)
	buf = append(buf, `,"interval_seconds":`...)
	buf = strconv.AppendInt(buf, g.IntervalSeconds, 10)
	buf = append(buf, `,"metric":`...)
	buf = appendVerbatim(buf, g.Metric)
	buf = append(buf, `,"value":`...)
	buf = appendFloat(buf, g.Value)
	buf = append(buf, `,"unit":`...)
	buf = appendVerbatim(buf, g.Unit)
	buf = append(buf, `,"source":`...)
	buf = appendString(buf, g.Source)
	return append(buf, '}')
}
