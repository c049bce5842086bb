package gridcsv

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashatlas/hashatlas/ingest"
	"github.com/hashatlas/hashatlas/schemas"
)

// Presets: files as grid operators publish them, read without any column mapping.
const (
	// PresetHashatlas is the configurable format: the columns of Format.Columns (by default
	// region,time,metric,value,unit), times as Format.TimeFormat says.
	PresetHashatlas = "hashatlas"
	// PresetEIA930Balance is EIA's six-month BALANCE files of Form EIA-930, one row per
	// balancing authority and hour ("EIA930_BALANCE_<year>_<Jan_Jun|Jul_Dec>.csv" under
	// https://www.eia.gov/electricity/gridmonitor/sixMonthFiles/; about the data:
	// https://www.eia.gov/electricity/gridmonitor/about). See readEIA930Balance.
	PresetEIA930Balance = "eia930-balance"
	// PresetERCOTLoad is ERCOT's hourly load by weather zone (the "Actual System Load by
	// Weather Zone" report and the native load archives of
	// https://www.ercot.com/gridinfo/load/load_hist), one row per operating day and hour ending
	// in US Central prevailing time. See readERCOTLoad.
	PresetERCOTLoad = "ercot-load"
)

// presetSources are the default source names of the presets (Config.SourceName empty).
var presetSources = map[string]string{
	PresetHashatlas:     DefaultSourceName,
	PresetEIA930Balance: PresetEIA930Balance,
	PresetERCOTLoad:     PresetERCOTLoad,
}

// Presets returns the preset names, PresetHashatlas first; the caller owns the slice.
func Presets() []string {
	return []string{PresetHashatlas, PresetEIA930Balance, PresetERCOTLoad}
}

// checkPreset returns the preset's canonical name ("" is PresetHashatlas).
func checkPreset(p string) (string, error) {
	if p == "" {
		return PresetHashatlas, nil
	}
	if _, ok := presetSources[p]; !ok {
		return "", fmt.Errorf("preset %q: want one of %s", p, strings.Join(Presets(), ", "))
	}
	return p, nil
}

// HeaderError is a header that lacks columns its format needs. Read returns it wrapped with
// the input's name and row 1; errors.As finds it.
type HeaderError struct {
	// Preset is the format the header was read as.
	Preset string
	// Missing names what the header lacks.
	Missing []string
	// Have is the header's columns, sorted.
	Have []string
	// Hint says how to read the file otherwise.
	Hint string
}

// maxHaveListed bounds the columns a preset's HeaderError lists (an EIA-930 file has about 80).
const maxHaveListed = 16

func (e *HeaderError) Error() string {
	have := e.Have
	more := ""
	if e.Preset != PresetHashatlas && len(have) > maxHaveListed {
		have, more = have[:maxHaveListed], fmt.Sprintf(", … (%d columns)", len(e.Have))
	}
	msg := "the header lacks " + strings.Join(e.Missing, ", ")
	if e.Preset != PresetHashatlas {
		msg = fmt.Sprintf("the header does not match preset %s: it lacks %s", e.Preset, strings.Join(e.Missing, ", "))
	}
	msg += "; it has " + strings.Join(have, ", ") + more
	if e.Hint != "" {
		msg += " (" + e.Hint + ")"
	}
	return msg
}

// rowParser makes the observations of one data record, appending them to out.
type rowParser func(rec []string, out []schemas.GridObservation) ([]schemas.GridObservation, rowStats, error)

// rowStats counts what one record held besides its observations.
type rowStats struct {
	empty, refused int
	firstRefused   error
}

// header indexes a preset file's columns by their name in lower case with runs of white space
// made one space (EIA-930 files have "… from Pumped Storage " and "…  (Adjusted)").
type header struct {
	raw  []string
	idx  map[string]int
	dups map[string]bool
}

func headerKey(s string) string {
	return strings.ToLower(strings.Join(strings.Fields(strings.TrimPrefix(s, "\ufeff")), " "))
}

func newHeader(cols []string) header {
	h := header{raw: append([]string(nil), cols...), idx: map[string]int{}, dups: map[string]bool{}}
	for i, c := range cols {
		k := headerKey(c)
		if _, dup := h.idx[k]; dup {
			h.dups[k] = true
			continue
		}
		h.idx[k] = i
	}
	return h
}

// find returns the index of column name; a column the header has twice is an error.
func (h header) find(name string) (int, bool, error) {
	k := headerKey(name)
	i, ok := h.idx[k]
	if ok && h.dups[k] {
		return 0, false, fmt.Errorf("column %q appears twice in the header", name)
	}
	return i, ok, nil
}

func (h header) missing(preset string, missing []string, hint string) error {
	have := make([]string, len(h.raw))
	for i, c := range h.raw {
		have[i] = strings.TrimSpace(strings.TrimPrefix(c, "\ufeff"))
	}
	sort.Strings(have)
	return &HeaderError{Preset: preset, Missing: missing, Have: have, Hint: hint}
}

// thousands is a number written with thousands separators, as EIA-930 files write values of
// 1,000 and more ("41,234", "-1,234.5").
var thousands = regexp.MustCompile(`^[+-]?[0-9]{1,3}(,[0-9]{3})+(\.[0-9]*)?$`)

// parseNumber reads a finite number, with or without thousands separators.
func parseNumber(s string) (float64, error) {
	if strings.Contains(s, ",") {
		if !thousands.MatchString(s) {
			return 0, errors.New("is not a number (a comma that does not separate thousands)")
		}
		s = strings.ReplaceAll(s, ",", "")
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, errors.New("is not a finite number")
	}
	return v, nil
}

// onlyValueRule reports whether err (a validation error) is about the value alone: a value the
// schema refuses (a negative demand), which presets skip as the source's data rather than a
// malformed file.
func onlyValueRule(err error) bool {
	errs := unjoin(err)
	for _, e := range errs {
		var fe *schemas.FieldError
		if !errors.As(e, &fe) || fe.Field != "value" {
			return false
		}
	}
	return len(errs) > 0
}

// presetObservation validates o: nil error and refused=true for a value the schema refuses.
func presetObservation(o schemas.GridObservation) (refused bool, err error) {
	err = o.Validate()
	if err == nil {
		return false, nil
	}
	err = fmt.Errorf("observation %s: %w", ingest.Clip(o.Key()), err)
	return onlyValueRule(errors.Unwrap(err)), err
}

// countryOf is the country of a region of a U.S. operator's file: the regions table's, else
// US.
func (f Format) countryOf(region string) string {
	if f.Regions != nil {
		if c, ok := f.Regions.Country(region); ok {
			return c
		}
	}
	return "US"
}

// EIA-930 BALANCE files (PresetEIA930Balance).
//
// Column names as EIA publishes them, from the files of 2015 H2 to now; the per-half-year
// column lists are tabulated in Catalyst Cooperative's PUDL EIA-930 column map
// (https://github.com/catalyst-cooperative/pudl, src/pudl/package_data/eia930/column_maps/
// balance.csv), whose snake_case names are these headers lower-cased.
const (
	eiaBA      = "Balancing Authority"
	eiaUTCEnd  = "UTC Time at End of Hour"
	eiaGenFrom = "Net Generation (MW) from "
)

// eiaValues are the columns every BALANCE file has besides the authority and the time, and
// their metrics: the values as the authority reported them. EIA's own cleaned series, the
// "… (Adjusted)" and "… (Imputed)" columns, are not read.
var eiaValues = []struct{ column, metric string }{
	{"Demand (MW)", schemas.GridDemand},
	{"Demand Forecast (MW)", schemas.GridDemandForecast},
	{"Net Generation (MW)", schemas.GridNetGeneration},
	{"Total Interchange (MW)", schemas.GridInterchange},
}

// eiaFuels maps the "Net Generation (MW) from <source>" columns to schemas.GridFuels. Files to
// 2024 H1 have Coal, Natural Gas, Nuclear, All Petroleum Products, Hydropower and Pumped
// Storage, Solar, Wind, Other Fuel Sources and Unknown Fuel Sources (from 2018 H2; none
// before); from 2024 H2 hydropower and pumped storage are apart, solar and wind are split by
// integrated battery storage, and battery, other and unknown energy storage and geothermal are
// added. Columns of one fuel are summed (solar with and without integrated battery storage);
// the storage EIA cannot attribute goes with other and unknown.
var eiaFuels = []struct{ source, fuel string }{
	{"Coal", "coal"},
	{"Natural Gas", "gas"},
	{"Nuclear", "nuclear"},
	{"All Petroleum Products", "oil"},
	{"Hydropower and Pumped Storage", "hydro"},
	{"Hydropower Excluding Pumped Storage", "hydro"},
	{"Pumped Storage", "pumped_storage"},
	{"Solar", "solar"},
	{"Solar without Integrated Battery Storage", "solar"},
	{"Solar with Integrated Battery Storage", "solar"},
	{"Wind", "wind"},
	{"Wind without Integrated Battery Storage", "wind"},
	{"Wind with Integrated Battery Storage", "wind"},
	{"Battery Storage", "battery"},
	{"Geothermal", "geothermal"},
	{"Other Energy Storage", "other"},
	{"Other Fuel Sources", "other"},
	{"Unknown Energy Storage", "unknown"},
	{"Unknown Fuel Sources", "unknown"},
}

// eiaTimeLayouts are the forms of "UTC Time at End of Hour": the published one
// ("07/01/2024 5:00:00 AM"), then what a spreadsheet makes of it when it saves the file again.
var eiaTimeLayouts = []string{"1/2/2006 3:04:05 PM", "1/2/2006 15:04:05", "1/2/2006 15:04", "2006-01-02 15:04:05", time.RFC3339}

// parseEIAHourEnd reads "UTC Time at End of Hour".
func parseEIAHourEnd(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, errors.New("is empty")
	}
	for _, l := range eiaTimeLayouts {
		if t, err := time.ParseInLocation(l, s, time.UTC); err == nil {
			if t.Minute() != 0 || t.Second() != 0 || t.Nanosecond() != 0 {
				return time.Time{}, errors.New("is not on the hour")
			}
			return t.UTC(), nil
		}
	}
	return time.Time{}, errors.New(`is not a time such as "07/01/2024 5:00:00 AM"`)
}

// eiaMetricColumns is one metric and the columns summed into it.
type eiaMetricColumns struct {
	metric string
	cols   []int
	names  []string
}

// readEIA930Balance binds a BALANCE file's header. A row makes one hourly observation per
// metric with a value, in MW as the file labels them (the hour's mean power, the same number as
// the MWh the EIA API gives for the hour): demand, demand_forecast, net_generation,
// interchange (positive: net export, as EIA's), and generation_<fuel> for the fuel columns the
// file has. The region is the authority's code; its country the regions table's, else US
// (Form EIA-930 is filed by the balancing authorities of the contiguous United States). The
// time is the start of the hour: "UTC Time at End of Hour" minus one hour. Values may carry
// thousands separators; an empty cell is no value. A value the schema refuses (EIA-930 has
// negative demand in some hours) is counted and skipped. "Data Date", "Hour Number" and "Local
// Time at End of Hour" restate the hour in the authority's time zone and are not read.
func readEIA930Balance(h header, f Format) (rowParser, error) {
	var missing []string
	col := func(name string, required bool) (int, bool, error) {
		i, ok, err := h.find(name)
		if err == nil && !ok && required {
			missing = append(missing, strconv.Quote(name))
		}
		return i, ok, err
	}
	baCol, _, err := col(eiaBA, true)
	if err != nil {
		return nil, err
	}
	timeCol, _, err := col(eiaUTCEnd, true)
	if err != nil {
		return nil, err
	}
	var metrics []eiaMetricColumns
	for _, v := range eiaValues {
		i, ok, err := col(v.column, true)
		if err != nil {
			return nil, err
		}
		if ok {
			metrics = append(metrics, eiaMetricColumns{metric: v.metric, cols: []int{i}, names: []string{v.column}})
		}
	}
	if len(missing) > 0 {
		return nil, h.missing(PresetEIA930Balance, missing, "want an EIA930_BALANCE six-month file")
	}
	byFuel := map[string]int{}
	for _, fu := range eiaFuels {
		name := eiaGenFrom + fu.source
		i, ok, err := col(name, false)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		j, seen := byFuel[fu.fuel]
		if !seen {
			j = len(metrics)
			byFuel[fu.fuel] = j
			metrics = append(metrics, eiaMetricColumns{metric: schemas.GridGenerationPrefix + fu.fuel})
		}
		metrics[j].cols = append(metrics[j].cols, i)
		metrics[j].names = append(metrics[j].names, name)
	}
	return func(rec []string, out []schemas.GridObservation) ([]schemas.GridObservation, rowStats, error) {
		var rs rowStats
		ba := strings.TrimSpace(rec[baCol])
		if ba == "" {
			return out, rs, fmt.Errorf("column %q: is empty", eiaBA)
		}
		ts := strings.TrimSpace(rec[timeCol])
		end, err := parseEIAHourEnd(ts)
		if err != nil {
			return out, rs, fmt.Errorf("column %q: %q %v", eiaUTCEnd, ingest.Clip(ts), err)
		}
		base := schemas.GridObservation{Schema: schemas.SchemaGridObservation, Region: ba, Country: f.countryOf(ba),
			Time: end.Add(-time.Hour), IntervalSeconds: 3600, Unit: schemas.UnitMW, Source: f.Source}
		n := len(out)
		for _, m := range metrics {
			sum, any := 0.0, false
			for k, i := range m.cols {
				s := strings.TrimSpace(rec[i])
				if s == "" {
					continue
				}
				v, err := parseNumber(s)
				if err != nil {
					return out[:n], rowStats{}, fmt.Errorf("column %q: %q %v", m.names[k], ingest.Clip(s), err)
				}
				sum, any = sum+v, true
			}
			if !any {
				rs.empty++
				continue
			}
			o := base
			o.Metric, o.Value = m.metric, sum
			refused, err := presetObservation(o)
			switch {
			case refused:
				rs.refused++
				if rs.firstRefused == nil {
					rs.firstRefused = err
				}
				continue
			case err != nil:
				return out[:n], rowStats{}, err
			}
			out = append(out, o)
		}
		return out, rs, nil
	}, nil
}

// ERCOT hourly load by weather zone (PresetERCOTLoad).
const (
	ercotDay  = "OperDay"
	ercotHour = "HourEnding"
	ercotDST  = "DSTFlag"
	// ercotRegion is the EIA-930 code of ERCOT's balancing authority, the region the regions
	// table (ingest/grid/regions.csv) and the EIA collector give ERCOT.
	ercotRegion = "ERCO"
	// ercotZone is the time zone of ERCOT's operating days: US Central prevailing time.
	ercotZone = "America/Chicago"
)

// ercotTotals are the names ERCOT gives the column of its whole system's load: ERCOT in the
// native load archives, TOTAL in the weather-zone report.
var ercotTotals = []string{"ERCOT", "TOTAL"}

// ercotChicago is America/Chicago, loaded once.
var ercotChicago = sync.OnceValues(func() (*time.Location, error) { return time.LoadLocation(ercotZone) })

// parseHourEnding reads an hour ending, "01:00" to "24:00" (or 1 to 24), as its number.
func parseHourEnding(s string) (int, error) {
	h, m, hasMinutes := strings.Cut(s, ":")
	n, err := strconv.Atoi(h)
	if err != nil || (hasMinutes && m != "00") || n < 1 || n > 24 || len(h) > 2 {
		return 0, errors.New(`is not an hour ending from "01:00" to "24:00"`)
	}
	return n, nil
}

// parseDSTFlag reads DSTFlag: Y on the repeated hour of the day daylight saving time ends.
func parseDSTFlag(s string) (bool, error) {
	switch strings.ToUpper(s) {
	case "Y", "TRUE":
		return true, nil
	case "N", "FALSE":
		return false, nil
	}
	return false, errors.New("is not Y or N")
}

// wallInstants returns the instants, ascending, at which the clock of loc reads the hour h:00
// of day d: one, two on the hour a clock set back repeats, none on the hour one set forward
// skips.
func wallInstants(loc *time.Location, d time.Time, h int) []time.Time {
	wall := time.Date(d.Year(), d.Month(), d.Day(), h, 0, 0, 0, time.UTC)
	var out []time.Time
	seen := map[int]bool{}
	// The offsets in force a day around the hour include both of a change near it.
	for _, probe := range []time.Time{wall.Add(-24 * time.Hour), wall, wall.Add(24 * time.Hour)} {
		_, off := probe.In(loc).Zone()
		if seen[off] {
			continue
		}
		seen[off] = true
		t := wall.Add(-time.Duration(off) * time.Second)
		lt := t.In(loc)
		if lt.Year() == d.Year() && lt.Month() == d.Month() && lt.Day() == d.Day() && lt.Hour() == h && lt.Minute() == 0 {
			out = append(out, t.UTC())
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
	return out
}

// ercotHourStart is the start, in UTC, of the hour ending he on the operating day day, in US
// Central prevailing time. ERCOT numbers an operating day's hours by their end on the clock of
// a day without a clock change: the hour ending he starts at (he-1):00, so "24:00" is the hour
// from 23:00 to midnight ending the day. On the day daylight saving time ends the clock reads
// 01:00 twice: the hour ending "02:00" appears twice, the first (DSTFlag N) starting at 01:00
// CDT and the second (DSTFlag Y) an hour later, at 01:00 CST. On the day it starts the clock
// skips 02:00: there is no hour ending "03:00", and the hour ending "04:00" follows the hour
// ending "02:00". (DSTFlag and the repeated hour ending 2:
// https://progridpy-docs.pages.dev/wiki/markets/ercot-market-overview, "DST and Timestamp
// Handling".)
func ercotHourStart(loc *time.Location, day time.Time, he int, repeated bool) (time.Time, error) {
	starts := wallInstants(loc, day, he-1)
	switch {
	case len(starts) == 0:
		return time.Time{}, fmt.Errorf("the hour ending %02d:00 on %s would start at %02d:00, which the clock skips that day (daylight saving time starts): the day has no such hour",
			he, day.Format("01/02/2006"), he-1)
	case len(starts) == 1 && repeated:
		return time.Time{}, fmt.Errorf("DSTFlag Y marks the repeated hour, but the hour ending %02d:00 on %s is not repeated",
			he, day.Format("01/02/2006"))
	case len(starts) == 1:
		return starts[0], nil
	case repeated:
		return starts[1], nil
	default:
		return starts[0], nil
	}
}

// readERCOTLoad binds a file of ERCOT's hourly load: OperDay (MM/DD/YYYY), HourEnding ("01:00"
// to "24:00"), the eight weather zones (COAST, EAST, FWEST or FAR_WEST, NORTH, NCENT or
// NORTH_C, SOUTH or SOUTHERN, SCENT or SOUTH_C, WEST), the total (ERCOT or TOTAL) and DSTFlag.
// A row makes one observation: the total's demand in MW, region ERCO (its country from the
// regions table, else US), the hour's start in UTC (ercotHourStart).
//
// The weather zones are not read. The estimator makes every region with hourly demand a grid
// region of its own (estimate.GridState: a stress series each, curtailment fits for every pool
// under each, network dips for each); the zones are parts of ERCO, not regions of the regions
// table, and as eight more regions would repeat ERCO's stress days, add fits to the
// Bonferroni adjustment of every window and network-dip rows that are ERCO's again.
func readERCOTLoad(h header, f Format) (rowParser, error) {
	loc, err := ercotChicago()
	if err != nil {
		return nil, fmt.Errorf("preset %s needs the time zone %s: %w", PresetERCOTLoad, ercotZone, err)
	}
	var missing []string
	cols := map[string]int{}
	for _, name := range []string{ercotDay, ercotHour, ercotDST} {
		i, ok, err := h.find(name)
		if err != nil {
			return nil, err
		}
		if !ok {
			missing = append(missing, strconv.Quote(name))
		}
		cols[name] = i
	}
	totalCol, totalName := -1, ""
	for _, name := range ercotTotals {
		i, ok, err := h.find(name)
		if err != nil {
			return nil, err
		}
		if ok {
			totalCol, totalName = i, name
			break
		}
	}
	if totalCol < 0 {
		missing = append(missing, `the total ("ERCOT" or "TOTAL")`)
	}
	if len(missing) > 0 {
		return nil, h.missing(PresetERCOTLoad, missing, "want ERCOT's hourly load by weather zone with OperDay, HourEnding and DSTFlag")
	}
	country := f.countryOf(ercotRegion)
	dayCol, hourCol, dstCol := cols[ercotDay], cols[ercotHour], cols[ercotDST]
	return func(rec []string, out []schemas.GridObservation) ([]schemas.GridObservation, rowStats, error) {
		var rs rowStats
		ds := strings.TrimSpace(rec[dayCol])
		day, err := time.Parse("1/2/2006", ds)
		if err != nil {
			return out, rs, fmt.Errorf("column %q: %q is not a date MM/DD/YYYY", ercotDay, ingest.Clip(ds))
		}
		hs := strings.TrimSpace(rec[hourCol])
		he, err := parseHourEnding(hs)
		if err != nil {
			return out, rs, fmt.Errorf("column %q: %q %v", ercotHour, ingest.Clip(hs), err)
		}
		fs := strings.TrimSpace(rec[dstCol])
		repeated, err := parseDSTFlag(fs)
		if err != nil {
			return out, rs, fmt.Errorf("column %q: %q %v", ercotDST, ingest.Clip(fs), err)
		}
		start, err := ercotHourStart(loc, day, he, repeated)
		if err != nil {
			return out, rs, fmt.Errorf("columns %q, %q, %q: %w", ercotDay, ercotHour, ercotDST, err)
		}
		vs := strings.TrimSpace(rec[totalCol])
		if vs == "" {
			rs.empty++
			return out, rs, nil
		}
		v, err := parseNumber(vs)
		if err != nil {
			return out, rs, fmt.Errorf("column %q: %q %v", totalName, ingest.Clip(vs), err)
		}
		o := schemas.GridObservation{Schema: schemas.SchemaGridObservation, Region: ercotRegion, Country: country, Time: start,
			IntervalSeconds: 3600, Metric: schemas.GridDemand, Value: v, Unit: schemas.UnitMW, Source: f.Source}
		refused, err := presetObservation(o)
		switch {
		case refused:
			rs.refused, rs.firstRefused = 1, err
			return out, rs, nil
		case err != nil:
			return out, rs, err
		}
		return append(out, o), rs, nil
	}, nil
}
