package eia

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/hashatlas/hashatlas/ingest"
)

// Route is one EIA-930 data route of the API.
type Route struct {
	// Name is the route's last element, for logs ("region-data").
	Name string
	// Path is appended to the base URL.
	Path string
	// Facet is the facet and data column that holds the series code ("type", "fueltype").
	Facet string
	// metrics maps the series codes hashatlas collects to grid metrics.
	metrics map[string]string
}

// The two EIA-930 routes collected (https://www.eia.gov/opendata/browser/electricity/rto).
var (
	// RegionData is hourly demand, day-ahead demand forecast, net generation and total
	// interchange by balancing authority (facet "type": D, DF, NG, TI).
	RegionData = Route{Name: "region-data", Path: "electricity/rto/region-data/data/", Facet: "type", metrics: regionTypes}
	// FuelTypeData is hourly net generation by energy source by balancing authority (facet
	// "fueltype": COL, NG, NUC, SUN, WND, WAT, …).
	FuelTypeData = Route{Name: "fuel-type-data", Path: "electricity/rto/fuel-type-data/data/", Facet: "fueltype", metrics: fuelTypes}
)

// Metric returns the grid metric of a series code of r, and false for a code hashatlas does
// not map.
func (r Route) Metric(code string) (string, bool) {
	m, ok := r.metrics[code]
	return m, ok
}

// Row is one data row of a page.
type Row struct {
	// Respondent is the balancing authority code ("ERCO").
	Respondent string
	// Code is the series code: the type (D, DF, NG, TI) or fueltype (COL, NG, …).
	Code string
	// Metric is Code's grid metric; "" when hashatlas does not map Code.
	Metric string
	// Start is the start of the hour the row covers, in UTC. EIA-930 labels an hour by its
	// end (the form's "hour ending" convention), so the row labelled "2024-01-01T05" covers
	// 04:00–05:00 UTC and Start is 04:00Z; a local-hourly label "2024-01-01T00-05" (hour
	// ending at midnight, UTC−5) covers 04:00–05:00 UTC too.
	Start time.Time
	// Value is the energy of the hour in MWh (EIA's "megawatthours"), which is also the
	// hour's mean power in MW. Zero when Missing.
	Value float64
	// Missing is set when EIA published no value for the hour (null or "").
	Missing bool
}

// Page is one response of a data route.
type Page struct {
	// Total is the number of rows the query matches over all pages (response.total).
	Total int
	// Rows are the data rows, in the order of the response.
	Rows []Row
	// Warnings are the response's warnings ("incomplete return: …"), one string each.
	Warnings []string
}

// unitsMWh is the only value-units the EIA-930 routes use.
const unitsMWh = "megawatthours"

// The answer of a data route has the documented shape {"response": {"total", "frequency",
// "dateFormat", "data": [...], "warnings": [...]}, "request": {...}, "apiVersion": "..."}
// (https://www.eia.gov/opendata/documentation.php). Error answers carry "error" instead: a
// string with a "code", or an object with "code" and "message" (the key gateway's format).

type apiWarning struct {
	Warning     string `json:"warning"`
	Description string `json:"description"`
}

// flexNumber is a JSON number, a string holding one, or null or "" (missing), as read from
// its raw JSON; bad holds a value that is none of these, so that the caller can name the row.
type flexNumber struct {
	v       float64
	missing bool
	set     bool
	bad     string
}

func (f *flexNumber) read(b []byte) {
	*f = flexNumber{set: true}
	if string(b) == "null" {
		f.missing = true
		return
	}
	s := b
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' {
		s = b[1 : len(b)-1]
		if len(bytes.TrimSpace(s)) == 0 {
			f.missing = true
			return
		}
	}
	v, err := strconv.ParseFloat(string(s), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		f.bad = ingest.Clip(string(b))
		return
	}
	f.v = v
}

// ParsePage reads the body of a data route's answer. It checks the documented shape and
// every row: period (hourly "YYYY-MM-DDTHH" in UTC, or local-hourly with the offset,
// "YYYY-MM-DDTHH-05"), respondent, series code, value (a finite number, or null for a
// missing hour) and value-units ("megawatthours"). Codes r does not map are kept with an
// empty Metric for the caller to count. Errors name the row (data[i]) and the field.
func ParsePage(body []byte, r Route) (Page, error) {
	if !json.Valid(body) {
		var v any
		err := json.Unmarshal(body, &v) // the syntax error, with its offset
		if err == nil {
			err = errors.New("invalid JSON")
		}
		return Page{}, ingest.JSONFault("response", body, err)
	}
	// From here on the body is valid JSON, which the scanner relies on.
	s := scanner{b: body}
	s.ws()
	if s.b[s.i] != '{' {
		return Page{}, fmt.Errorf("the answer is a JSON %s, want an object", kind(s.b[s.i]))
	}
	var respRaw, errRaw []byte
	s.members(func(k, v []byte) {
		switch string(k) {
		case "response":
			respRaw = v
		case "error":
			errRaw = v
		}
	})
	if errRaw != nil && string(errRaw) != "null" {
		return Page{}, fmt.Errorf("the API answered with an error: %s", errorText(errRaw))
	}
	if respRaw == nil || string(respRaw) == "null" {
		return Page{}, errors.New(`"response" is missing`)
	}
	if respRaw[0] != '{' {
		return Page{}, fmt.Errorf(`"response" is a JSON %s, want an object`, kind(respRaw[0]))
	}
	var total flexNumber
	var freqRaw, dataRaw, warnRaw []byte
	rs := scanner{b: respRaw}
	rs.members(func(k, v []byte) {
		switch string(k) {
		case "total":
			total.read(v) // total.bad says what was wrong
		case "frequency":
			freqRaw = v
		case "data":
			dataRaw = v
		case "warnings":
			warnRaw = v
		}
	})
	if dataRaw == nil || string(dataRaw) == "null" {
		return Page{}, errors.New(`"response.data" is missing`)
	}
	if !total.set || total.missing {
		return Page{}, errors.New(`"response.total" is missing`)
	}
	if total.bad != "" {
		return Page{}, fmt.Errorf(`"response.total" %s is not a number`, total.bad)
	}
	if total.v < 0 || total.v != math.Trunc(total.v) || total.v > 1e12 {
		return Page{}, fmt.Errorf(`"response.total" %v is not a row count`, total.v)
	}
	in := interner{strings: map[string]string{}, periods: map[string]time.Time{}}
	freq, err := field(&in, `"response.frequency"`, freqRaw)
	if err != nil {
		return Page{}, err
	}
	switch freq {
	case "", "hourly", "local-hourly":
	default:
		return Page{}, fmt.Errorf(`"response.frequency" is %q, want hourly or local-hourly`, ingest.Clip(freq))
	}
	p := Page{Total: int(total.v)}
	if warnRaw != nil && string(warnRaw) != "null" {
		var ws []apiWarning
		if err := json.Unmarshal(warnRaw, &ws); err != nil {
			return Page{}, fmt.Errorf(`"response.warnings": %w`, err)
		}
		for _, w := range ws {
			p.Warnings = append(p.Warnings, strings.TrimSpace(w.Warning+": "+w.Description))
		}
	}
	if err := parseData(dataRaw, r, &p, &in); err != nil {
		return Page{}, err
	}
	return p, nil
}

// rawRow holds the raw JSON values (quotes included) of the members of one data row that
// this package reads; nil when absent.
type rawRow struct {
	period, respondent, typ, fuelType, value, units []byte
}

// parseData reads response.data into p.Rows. encoding/json has already checked that the whole
// body is valid JSON, so the scanner below only has to tell the rows' shapes apart, which it
// does without reflection and, through interning, with few allocations (ParsePage's speed is
// the backfill's).
func parseData(raw []byte, r Route, p *Page, in *interner) error {
	s := scanner{b: raw}
	s.ws()
	if s.b[s.i] != '[' {
		return fmt.Errorf(`"response.data" is a JSON %s, want an array`, kind(s.b[s.i]))
	}
	s.i++
	p.Rows = make([]Row, 0, bytes.Count(raw, []byte(`"period"`)))
	for idx := 0; ; idx++ {
		s.ws()
		if s.b[s.i] == ',' {
			s.i++
			s.ws()
		}
		if s.b[s.i] == ']' {
			return nil
		}
		if s.b[s.i] != '{' {
			return fmt.Errorf("data[%d] is a JSON %s, want an object", idx, kind(s.b[s.i]))
		}
		var d rawRow
		s.members(d.set)
		row, err := d.row(r, in)
		if err != nil {
			period, _, _ := in.str(d.period)
			resp, _, _ := in.str(d.respondent)
			return fmt.Errorf("data[%d] (period %q, respondent %q): %w", idx, ingest.Clip(period), ingest.Clip(resp), err)
		}
		p.Rows = append(p.Rows, row)
	}
}

func (d *rawRow) set(k, val []byte) {
	switch string(k) {
	case "period":
		d.period = val
	case "respondent":
		d.respondent = val
	case "type":
		d.typ = val
	case "fueltype":
		d.fuelType = val
	case "value":
		d.value = val
	case "value-units":
		d.units = val
	}
}

func (d *rawRow) row(r Route, in *interner) (Row, error) {
	period, err := field(in, "period", d.period)
	if err != nil {
		return Row{}, err
	}
	resp, err := field(in, "respondent", d.respondent)
	if err != nil {
		return Row{}, err
	}
	codeRaw := d.typ
	if r.Facet == "fueltype" {
		codeRaw = d.fuelType
	}
	code, err := field(in, r.Facet, codeRaw)
	if err != nil {
		return Row{}, err
	}
	var v flexNumber
	if d.value != nil {
		v.read(d.value) // v.bad says what was wrong
	}
	switch {
	case period == "":
		return Row{}, errors.New("period is missing")
	case resp == "":
		return Row{}, errors.New("respondent is missing")
	case code == "":
		return Row{}, fmt.Errorf("%s is missing", r.Facet)
	case !v.set:
		return Row{}, errors.New("value is missing (null is how the API says an hour has none)")
	case v.bad != "":
		return Row{}, fmt.Errorf("value %s is not a finite number", v.bad)
	}
	start, err := in.period(period)
	if err != nil {
		return Row{}, err
	}
	row := Row{Respondent: resp, Code: code, Metric: r.metrics[code], Start: start, Value: v.v, Missing: v.missing}
	if !row.Missing {
		units, err := field(in, "value-units", d.units)
		if err != nil {
			return Row{}, err
		}
		if units == "" {
			return Row{}, errors.New("value-units is missing")
		}
		if !strings.EqualFold(units, unitsMWh) {
			return Row{}, fmt.Errorf("value-units %q, want %q", ingest.Clip(units), unitsMWh)
		}
	}
	return row, nil
}

// field returns a string member's value ("" when absent or null), refusing other JSON types.
func field(in *interner, name string, raw []byte) (string, error) {
	s, ok, err := in.str(raw)
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	if !ok {
		return "", fmt.Errorf("%s is a JSON %s, want a string", name, kind(raw[0]))
	}
	return s, nil
}

// interner hands out one string per distinct value in a page (respondents, codes and periods
// repeat on every row), and caches the parsed periods.
type interner struct {
	strings map[string]string
	periods map[string]time.Time
}

// str returns the string a raw JSON value holds: ok is false for a value that is not a
// string; absent and null give "".
func (in *interner) str(raw []byte) (s string, ok bool, err error) {
	if raw == nil || string(raw) == "null" {
		return "", true, nil
	}
	if raw[0] != '"' {
		return "", false, nil
	}
	body := raw[1 : len(raw)-1]
	if bytes.IndexByte(body, '\\') >= 0 {
		return unquote(raw)
	}
	if s, hit := in.strings[string(body)]; hit {
		return s, true, nil
	}
	s = string(body)
	in.strings[s] = s
	return s, true, nil
}

// unquote decodes a JSON string with escapes (the rare, slow path).
func unquote(raw []byte) (string, bool, error) {
	var u string
	if err := json.Unmarshal(raw, &u); err != nil {
		return "", true, err
	}
	return u, true, nil
}

func (in *interner) period(s string) (time.Time, error) {
	if t, hit := in.periods[s]; hit {
		return t, nil
	}
	t, err := ParsePeriod(s)
	if err != nil {
		return time.Time{}, err
	}
	in.periods[s] = t
	return t, nil
}

// kind names the JSON type of a value that starts with c.
func kind(c byte) string {
	switch c {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

// scanner walks valid JSON.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// members calls fn with the key (unescaped) and raw value of every member of the object at
// s.i, and moves past it.
func (s *scanner) members(fn func(key, val []byte)) {
	s.i++ // '{'
	for {
		s.ws()
		if s.b[s.i] == ',' {
			s.i++
			s.ws()
		}
		if s.b[s.i] == '}' {
			s.i++
			return
		}
		key := s.value()
		k := key[1 : len(key)-1]
		if bytes.IndexByte(k, '\\') >= 0 {
			u, _, _ := unquote(key)
			k = []byte(u)
		}
		s.ws()
		s.i++ // ':'
		s.ws()
		fn(k, s.value())
	}
}

// value returns the raw JSON value at s.i and moves past it.
func (s *scanner) value() []byte {
	start := s.i
	switch s.b[s.i] {
	case '"':
		s.i++
		for s.b[s.i] != '"' {
			if s.b[s.i] == '\\' {
				s.i++
			}
			s.i++
		}
		s.i++
	case '{', '[':
		depth := 0
	nested:
		for {
			switch s.b[s.i] {
			case '"':
				s.value()
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
			}
			s.i++
			if depth == 0 {
				break nested
			}
		}
	default: // a number, true, false or null
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return s.b[start:s.i]
			}
			s.i++
		}
	}
	return s.b[start:s.i]
}

// errorText renders an "error" member: a string, or an object with code and message.
func errorText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return ingest.Clip(s)
	}
	var o struct {
		Code    any    `json:"code"`
		Message string `json:"message"`
	}
	if json.Unmarshal(raw, &o) == nil && (o.Message != "" || o.Code != nil) {
		return ingest.Clip(fmt.Sprintf("%v: %s", o.Code, o.Message))
	}
	return ingest.Clip(string(raw))
}

// ParsePeriod reads an EIA-930 hourly period label and returns the start of the hour it
// covers, in UTC. Labels name the hour's END (EIA-930 "hour ending";
// https://www.eia.gov/electricity/gridmonitor/about):
//   - hourly (UTC): "2024-01-01T05" is the hour 04:00–05:00 UTC, start 2024-01-01T04:00Z;
//   - local-hourly: "2024-01-01T00-05" is the hour ending at midnight UTC−5, i.e. 04:00–05:00
//     UTC, start 2024-01-01T04:00Z. Offsets are ±HH or ±HH:MM.
func ParsePeriod(s string) (time.Time, error) {
	if len(s) < 13 || s[10] != 'T' {
		return time.Time{}, fmt.Errorf("period %q: want YYYY-MM-DDTHH (hourly) or YYYY-MM-DDTHH±HH (local-hourly)", ingest.Clip(s))
	}
	end, err := time.Parse("2006-01-02T15", s[:13])
	if err != nil {
		return time.Time{}, fmt.Errorf("period %q: want YYYY-MM-DDTHH (hourly) or YYYY-MM-DDTHH±HH (local-hourly)", ingest.Clip(s))
	}
	if off := s[13:]; off != "" {
		secs, ok := parseOffset(off)
		if !ok {
			return time.Time{}, fmt.Errorf("period %q: offset %q, want ±HH or ±HH:MM", ingest.Clip(s), ingest.Clip(off))
		}
		end = end.Add(-time.Duration(secs) * time.Second)
	}
	return end.Add(-time.Hour).UTC(), nil
}

// parseOffset reads ±HH or ±HH:MM (at most 14 hours) and returns it in seconds east of UTC.
func parseOffset(s string) (int, bool) {
	if len(s) != 3 && len(s) != 6 {
		return 0, false
	}
	sign := 1
	switch s[0] {
	case '+':
	case '-':
		sign = -1
	default:
		return 0, false
	}
	digit := func(c byte) (int, bool) { return int(c - '0'), '0' <= c && c <= '9' }
	h1, ok1 := digit(s[1])
	h2, ok2 := digit(s[2])
	if !ok1 || !ok2 {
		return 0, false
	}
	h, m := h1*10+h2, 0
	if len(s) == 6 {
		m1, ok3 := digit(s[4])
		m2, ok4 := digit(s[5])
		if s[3] != ':' || !ok3 || !ok4 {
			return 0, false
		}
		m = m1*10 + m2
	}
	if h > 14 || m > 59 || (h == 14 && m > 0) {
		return 0, false
	}
	return sign * (h*3600 + m*60), true
}

// FormatPeriod returns the hourly (UTC) label of the hour that starts at start: the label of
// its end, as the start and end request parameters take it.
func FormatPeriod(start time.Time) string {
	return start.UTC().Add(time.Hour).Format("2006-01-02T15")
}
