// Package gridcsv is a generic source of grid observations: a CSV file, local or at an
// http(s) URL, in which a grid operator publishes a series. Its columns are mapped to the
// fields of a grid observation by configuration (default header: region,time,metric,value,
// unit); region, country, metric and unit can instead be fixed for the whole file. Presets read
// files as operators publish them, without a mapping: EIA-930's six-month BALANCE files
// (PresetEIA930Balance) and ERCOT's hourly load by weather zone (PresetERCOTLoad). Every row
// is validated and an error names its row. Read is the pure parser (table-tested and fuzzed);
// Collector publishes a file's rows that the grid topic does not have yet.
package gridcsv

import (
	"bufio"
	"compress/gzip"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashatlas/hashatlas/ingest"
	"github.com/hashatlas/hashatlas/ingest/grid"
	"github.com/hashatlas/hashatlas/schemas"
)

// Fields of a grid observation a column can be mapped to.
const (
	FieldRegion   = "region"
	FieldCountry  = "country"
	FieldTime     = "time"
	FieldMetric   = "metric"
	FieldValue    = "value"
	FieldUnit     = "unit"
	FieldInterval = "interval"
)

var fields = []string{FieldRegion, FieldCountry, FieldTime, FieldMetric, FieldValue, FieldUnit, FieldInterval}

// DefaultColumns maps each field to the column of the same name (interval to
// "interval_seconds"). region, time, metric, value and unit are required unless fixed;
// country and interval are read when the header has the column.
func DefaultColumns() map[string]string {
	return map[string]string{FieldRegion: "region", FieldCountry: "country", FieldTime: "time", FieldMetric: "metric",
		FieldValue: "value", FieldUnit: "unit", FieldInterval: "interval_seconds"}
}

// ParseColumns reads a column mapping "field=column,…" (e.g. "region=BA,time=timestamp"):
// the fields given replace their defaults, the others keep them.
func ParseColumns(s string) (map[string]string, error) {
	m := DefaultColumns()
	if strings.TrimSpace(s) == "" {
		return m, nil
	}
	seen := map[string]bool{}
	for _, part := range strings.Split(s, ",") {
		f, col, ok := strings.Cut(strings.TrimSpace(part), "=")
		f, col = strings.TrimSpace(f), strings.TrimSpace(col)
		if !ok || col == "" {
			return nil, fmt.Errorf("column mapping %q: want field=column", part)
		}
		if _, known := m[f]; !known {
			return nil, fmt.Errorf("column mapping %q: unknown field %q (fields: %s)", part, f, strings.Join(fields, ", "))
		}
		if seen[f] {
			return nil, fmt.Errorf("column mapping: field %q mapped twice", f)
		}
		seen[f] = true
		m[f] = col
	}
	return m, nil
}

// Time formats besides Go layouts.
const (
	TimeRFC3339 = "rfc3339" // 2024-01-01T05:00:00Z or with an offset
	TimeUnix    = "unix"    // seconds since 1970-01-01T00:00:00Z
	TimeUnixMs  = "unix_ms" // milliseconds since 1970-01-01T00:00:00Z
)

// Format says how to read a file's rows.
type Format struct {
	// Preset is the file's format: PresetHashatlas ("" too), read by the fields below, or a
	// preset of an operator's published format (PresetEIA930Balance, PresetERCOTLoad), which
	// fixes the columns, times, units and intervals: only Source and Regions apply to it.
	Preset string
	// Columns maps fields to column names (DefaultColumns, ParseColumns).
	Columns map[string]string
	// Region, Country, Metric and Unit, when set, are the value of that field on every row
	// (the column is not read).
	Region, Country, Metric, Unit string
	// Interval is the interval of rows without an interval column, in whole seconds. Must be
	// positive.
	Interval time.Duration
	// TimeFormat is TimeRFC3339, TimeUnix, TimeUnixMs or a Go time layout
	// ("2006-01-02 15:04").
	TimeFormat string
	// Location is the zone of times written without an offset (with a Go layout). Around a
	// daylight-saving change a local time can be ambiguous or missing; prefer sources with
	// offsets or UTC.
	Location *time.Location
	// LabelEnd says the time of a row is the END of its interval (as EIA-930 and many
	// operators label hours); it is converted to the start.
	LabelEnd bool
	// Source is the source name put in every observation.
	Source string
	// Regions gives the country of a region when the country is neither fixed nor a column.
	Regions *grid.Regions
}

// Stats counts the rows Read saw.
type Stats struct {
	// Rows is the number of data rows (the header excluded).
	Rows int
	// Empty counts the values left empty (a row's value; with a preset, each metric of a row):
	// the operator published no value; skipped.
	Empty int
	// Refused counts the values a preset skipped because the grid schema refuses them (a
	// negative demand: the source's data, not a malformed file); FirstRefused says why the
	// first was. Without a preset such a row is an error.
	Refused      int
	FirstRefused error
}

// column indexes of a file.
type layout struct {
	idx map[string]int // field -> column index; absent when fixed or optional and missing
}

// Read reads a CSV (plain or gzip, detected by content) with a header row, and calls fn with
// the observation of every data row and its row number (the header is row 1). Rows with an
// empty value are counted and skipped. Every other row must make a valid observation: an
// error names the input, the row, the column and the rule. fn's error stops the read.
//
// With a preset a row may make several observations (one per metric of an EIA-930 row): each
// is validated, and the row's are handed to fn once all of them are read.
func Read(r io.Reader, name string, f Format, fn func(row int, o schemas.GridObservation) error) (Stats, error) {
	var st Stats
	preset, err := checkPreset(f.Preset)
	if err != nil {
		return st, fmt.Errorf("%s: %w", name, err)
	}
	if preset == PresetHashatlas {
		if f.Interval <= 0 || f.Interval%time.Second != 0 {
			return st, fmt.Errorf("%s: interval %v must be a positive whole number of seconds", name, f.Interval)
		}
		if f.Location == nil {
			f.Location = time.UTC
		}
	}
	br := bufio.NewReader(r)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return st, fmt.Errorf("%s: gzip: %w", name, err)
		}
		defer gz.Close()
		br = bufio.NewReader(gz)
	}
	cr := csv.NewReader(br)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err == io.EOF {
		return st, fmt.Errorf("%s: empty, want a header row", name)
	}
	if err != nil {
		return st, csvError(name, err)
	}
	parse, err := f.bind(preset, header)
	if err != nil {
		return st, fmt.Errorf("%s row 1: %w", name, err)
	}
	var obs []schemas.GridObservation
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return st, nil
		}
		if err != nil {
			return st, csvError(name, err)
		}
		row, _ := cr.FieldPos(0)
		st.Rows++
		var rs rowStats
		obs, rs, err = parse(rec, obs[:0])
		if err != nil {
			return st, fmt.Errorf("%s row %d: %w", name, row, err)
		}
		st.Empty += rs.empty
		st.Refused += rs.refused
		if st.FirstRefused == nil && rs.firstRefused != nil {
			st.FirstRefused = fmt.Errorf("%s row %d: %w", name, row, rs.firstRefused)
		}
		for _, o := range obs {
			if err := fn(row, o); err != nil {
				return st, err
			}
		}
	}
}

// bind checks the header against the format and returns the parser of its rows.
func (f Format) bind(preset string, cols []string) (rowParser, error) {
	switch preset {
	case PresetEIA930Balance:
		return readEIA930Balance(newHeader(cols), f)
	case PresetERCOTLoad:
		return readERCOTLoad(newHeader(cols), f)
	}
	lay, err := f.layout(cols)
	if err != nil {
		return nil, err
	}
	return func(rec []string, out []schemas.GridObservation) ([]schemas.GridObservation, rowStats, error) {
		o, empty, err := f.observation(rec, lay)
		switch {
		case err != nil:
			return out, rowStats{}, err
		case empty:
			return out, rowStats{empty: 1}, nil
		}
		return append(out, o), rowStats{}, nil
	}, nil
}

func csvError(name string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s row %d: %v", name, pe.StartLine, pe.Err)
	}
	return fmt.Errorf("%s: %w", name, err)
}

// fixed reports whether field has a fixed value.
func (f Format) fixed(field string) bool {
	switch field {
	case FieldRegion:
		return f.Region != ""
	case FieldCountry:
		return f.Country != ""
	case FieldMetric:
		return f.Metric != ""
	case FieldUnit:
		return f.Unit != ""
	}
	return false
}

func (f Format) layout(header []string) (layout, error) {
	cols := map[string]int{}
	for i, h := range header {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		if _, dup := cols[h]; dup {
			return layout{}, fmt.Errorf("column %q appears twice in the header", h)
		}
		cols[h] = i
	}
	lay := layout{idx: map[string]int{}}
	var missing []string
	for _, field := range fields {
		if f.fixed(field) {
			continue
		}
		col := f.Columns[field]
		if col == "" {
			col = DefaultColumns()[field]
		}
		i, ok := cols[col]
		switch {
		case ok:
			lay.idx[field] = i
		case field == FieldCountry || field == FieldInterval:
			// optional: from the regions table or Format.Interval
		default:
			missing = append(missing, fmt.Sprintf("%s (column %q)", field, col))
		}
	}
	if len(missing) > 0 {
		have := append([]string(nil), header...)
		sort.Strings(have)
		return layout{}, &HeaderError{Preset: PresetHashatlas, Missing: missing, Have: have,
			Hint: "map columns with field=column, or fix a field's value"}
	}
	return lay, nil
}

func cell(rec []string, lay layout, field string) (string, bool) {
	i, ok := lay.idx[field]
	if !ok {
		return "", false
	}
	return strings.TrimSpace(rec[i]), true
}

// observation makes the grid observation of one record; empty reports an empty value.
func (f Format) observation(rec []string, lay layout) (o schemas.GridObservation, empty bool, err error) {
	colErr := func(field, v, reason string) error {
		return fmt.Errorf("column %q (%s): %q %s", f.col(field), field, ingest.Clip(v), reason)
	}
	o = schemas.GridObservation{Schema: schemas.SchemaGridObservation, Region: f.Region, Country: f.Country, Metric: f.Metric,
		Unit: f.Unit, Source: f.Source, IntervalSeconds: int64(f.Interval / time.Second)}
	if v, ok := cell(rec, lay, FieldRegion); ok {
		o.Region = v
	}
	if v, ok := cell(rec, lay, FieldMetric); ok {
		o.Metric = v
	}
	if v, ok := cell(rec, lay, FieldUnit); ok {
		o.Unit = v
	}
	if v, ok := cell(rec, lay, FieldCountry); ok && v != "" {
		o.Country = v
	}
	if v, ok := cell(rec, lay, FieldInterval); ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < schemas.MinIntervalSeconds || n > schemas.MaxIntervalSeconds {
			return o, false, colErr(FieldInterval, v, fmt.Sprintf("is not a whole number of seconds from %d to %d", schemas.MinIntervalSeconds, schemas.MaxIntervalSeconds))
		}
		o.IntervalSeconds = n
	}
	ts, _ := cell(rec, lay, FieldTime)
	t, err := f.parseTime(ts)
	if err != nil {
		return o, false, colErr(FieldTime, ts, err.Error())
	}
	if f.LabelEnd {
		t = t.Add(-time.Duration(o.IntervalSeconds) * time.Second)
	}
	o.Time = t.UTC()
	v, _ := cell(rec, lay, FieldValue)
	if v == "" {
		return o, true, nil
	}
	val, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(val) || math.IsInf(val, 0) {
		return o, false, colErr(FieldValue, v, "is not a finite number")
	}
	o.Value = val
	if o.Country == "" && o.Region != "" {
		if f.Regions == nil {
			return o, false, fmt.Errorf("region %q: no country column, no fixed country and no regions table", ingest.Clip(o.Region))
		}
		c, ok := f.Regions.Country(o.Region)
		if !ok {
			return o, false, fmt.Errorf("region %q is not in the regions table %s: add it, or give the country (column or fixed value)",
				ingest.Clip(o.Region), f.Regions.Name())
		}
		o.Country = c
	}
	if err := o.Validate(); err != nil {
		return o, false, fmt.Errorf("observation %s: %w", ingest.Clip(o.Key()), err)
	}
	return o, false, nil
}

func (f Format) col(field string) string {
	if c := f.Columns[field]; c != "" {
		return c
	}
	return DefaultColumns()[field]
}

func (f Format) parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, errors.New("is empty")
	}
	switch f.TimeFormat {
	case "", TimeRFC3339:
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return time.Time{}, errors.New("is not an RFC 3339 time with an offset (2024-01-01T05:00:00Z)")
		}
		return t, nil
	case TimeUnix, TimeUnixMs:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("is not an integer (%s)", f.TimeFormat)
		}
		if f.TimeFormat == TimeUnixMs {
			return time.UnixMilli(n), nil
		}
		if n > math.MaxInt64/int64(time.Second) || n < math.MinInt64/int64(time.Second) {
			return time.Time{}, errors.New("is out of range")
		}
		return time.Unix(n, 0), nil
	default:
		t, err := time.ParseInLocation(f.TimeFormat, s, f.Location)
		if err != nil {
			return time.Time{}, fmt.Errorf("does not match the layout %q", f.TimeFormat)
		}
		return t, nil
	}
}
