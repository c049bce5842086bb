package eia

import (
	"bytes"
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/ingest/ingesttest"
	"github.com/hashatlas/hashatlas/schemas"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func TestParsePeriodReturnsTheUTCStartOfTheHourTheLabelEnds(t *testing.T) {
	cases := []struct {
		name, label string
		want        time.Time
	}{
		{"an hourly label names the hour's end in UTC", "2024-01-01T05", utc("2024-01-01T04:00:00Z")},
		{"the first hour of a day is labelled 01", "2024-01-01T01", utc("2024-01-01T00:00:00Z")},
		{"label 00 ends the previous day's last hour", "2024-01-01T00", utc("2023-12-31T23:00:00Z")},
		{"a leap day's last hour", "2024-03-01T00", utc("2024-02-29T23:00:00Z")},
		{"local-hourly with offset -05 is shifted to UTC", "2024-01-01T05-05", utc("2024-01-01T09:00:00Z")},
		{"local-hourly midnight in UTC-6 ends 06:00 UTC", "2024-01-01T00-06", utc("2024-01-01T05:00:00Z")},
		{"local-hourly just after the spring-forward (-04)", "2024-03-10T03-04", utc("2024-03-10T06:00:00Z")},
		{"the fall-back's first 01:00 (-07)", "2024-11-03T01-07", utc("2024-11-03T07:00:00Z")},
		{"the fall-back's second 01:00 (-08) is the next hour", "2024-11-03T01-08", utc("2024-11-03T08:00:00Z")},
		{"a positive offset with minutes", "2024-01-01T10+05:30", utc("2024-01-01T03:30:00Z")},
		{"offset +00 is UTC", "2024-01-01T05+00", utc("2024-01-01T04:00:00Z")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParsePeriod(tc.label)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(tc.want) || got.Location() != time.UTC {
				t.Fatalf("ParsePeriod(%q) = %v, want %v in UTC", tc.label, got, tc.want)
			}
		})
	}
}

func TestParsePeriodRejectsWhatIsNotAnHourlyLabel(t *testing.T) {
	for _, label := range []string{"", "2024-01-01", "2024-01-01T5", "2024-01-01 05", "2024-01-01T24", "2024-02-30T01",
		"2024-01-01T05Z", "2024-01-01T05-5", "2024-01-01T05-15", "2024-01-01T05+05:60", "2024-01-01T05-05:00x", "2024-01"} {
		if got, err := ParsePeriod(label); err == nil {
			t.Errorf("ParsePeriod(%q) = %v, want an error", label, got)
		}
	}
}

func TestFormatPeriodLabelsAnHourByItsEnd(t *testing.T) {
	start := utc("2024-06-30T23:00:00Z")
	if got := FormatPeriod(start); got != "2024-07-01T00" {
		t.Fatalf("FormatPeriod(%v) = %q, want 2024-07-01T00", start, got)
	}
	back, err := ParsePeriod(FormatPeriod(start))
	if err != nil || !back.Equal(start) {
		t.Fatalf("ParsePeriod(FormatPeriod(x)) = %v, %v; want x", back, err)
	}
}

// golden compares v, as indented JSON, with testdata/name (rewritten with -update).
func golden(t *testing.T, name string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("parsed page differs from %s:\n%s", path, got)
	}
}

func TestParsePageReadsTheDocumentedFormat(t *testing.T) {
	t.Run("region-data: four types over two hours, values as strings", func(t *testing.T) {
		p, err := ParsePage(ingesttest.Fixture(t, "region_data_page.json"), RegionData)
		if err != nil {
			t.Fatal(err)
		}
		if p.Total != 8 || len(p.Rows) != 8 || len(p.Warnings) != 0 {
			t.Fatalf("total %d, %d rows, %d warnings; want 8, 8, 0", p.Total, len(p.Rows), len(p.Warnings))
		}
		first, last := p.Rows[0], p.Rows[7]
		if first != (Row{Respondent: "ERCO", Code: "D", Metric: schemas.GridDemand, Start: utc("2024-01-01T00:00:00Z"), Value: 41234}) {
			t.Errorf("first row %+v", first)
		}
		if last != (Row{Respondent: "ERCO", Code: "TI", Metric: schemas.GridInterchange, Start: utc("2024-01-01T01:00:00Z"), Value: -819.5}) {
			t.Errorf("last row %+v", last)
		}
		golden(t, "region_data_page.golden.json", p)
	})
	t.Run("fuel-type-data: a null value is missing and an unmapped code keeps an empty metric", func(t *testing.T) {
		p, err := ParsePage(ingesttest.Fixture(t, "fuel_type_data_page.json"), FuelTypeData)
		if err != nil {
			t.Fatal(err)
		}
		byCode := map[string]Row{}
		for _, r := range p.Rows {
			byCode[r.Code] = r
		}
		if r := byCode["WAT"]; !r.Missing || r.Value != 0 || r.Metric != "generation_hydro" {
			t.Errorf("WAT row %+v, want missing hydro", r)
		}
		if r := byCode["SNB"]; r.Metric != "" || r.Missing {
			t.Errorf("SNB row %+v, want an unmapped code with a value", r)
		}
		if r := byCode["NG"]; r.Metric != "generation_gas" || r.Value != 8123 || !r.Start.Equal(utc("2024-07-15T19:00:00Z")) {
			t.Errorf("NG row %+v, want generation_gas 8123 from 19:00Z", r)
		}
		golden(t, "fuel_type_data_page.golden.json", p)
	})
	t.Run("local-hourly: offsets convert to UTC, the repeated fall-back hour included", func(t *testing.T) {
		p, err := ParsePage(ingesttest.Fixture(t, "local_hourly_page.json"), RegionData)
		if err != nil {
			t.Fatal(err)
		}
		want := []time.Time{utc("2024-01-01T05:00:00Z"), utc("2024-03-10T06:00:00Z"), utc("2024-11-03T07:00:00Z"), utc("2024-11-03T08:00:00Z")}
		if len(p.Rows) != len(want) {
			t.Fatalf("%d rows, want %d", len(p.Rows), len(want))
		}
		for i, w := range want {
			if !p.Rows[i].Start.Equal(w) {
				t.Errorf("row %d starts %v, want %v", i, p.Rows[i].Start, w)
			}
		}
	})
	t.Run("an empty page has total 0 and no rows", func(t *testing.T) {
		p, err := ParsePage(ingesttest.Fixture(t, "empty_page.json"), RegionData)
		if err != nil || p.Total != 0 || len(p.Rows) != 0 {
			t.Fatalf("page %+v, %v; want total 0, no rows", p, err)
		}
	})
	t.Run("warnings are returned as text", func(t *testing.T) {
		p, err := ParsePage(ingesttest.Fixture(t, "warnings_page.json"), RegionData)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Warnings) != 1 || !strings.HasPrefix(p.Warnings[0], "incomplete return: The API can only return 5000 rows") || p.Total != 12000 {
			t.Fatalf("warnings %q total %d", p.Warnings, p.Total)
		}
	})
	t.Run("answers from before v2.1.6 with numbers are read too", func(t *testing.T) {
		p, err := ParsePage(ingesttest.Fixture(t, "numeric_values_page.json"), RegionData)
		if err != nil {
			t.Fatal(err)
		}
		if p.Total != 2 || p.Rows[0].Value != 70511 || p.Rows[1].Value != -1250.25 {
			t.Fatalf("page %+v", p)
		}
	})
}

func TestParsePageRefusesBadAnswersNamingTheFault(t *testing.T) {
	page := string(ingesttest.Fixture(t, "region_data_page.json"))
	row := `{"period":"2024-01-01T01","respondent":"ERCO","type":"D","value":"1","value-units":"megawatthours"}`
	wrap := func(rows string) []byte {
		return []byte(`{"response":{"total":"1","frequency":"hourly","data":[` + rows + `]}}`)
	}
	cases := []struct {
		name string
		body []byte
		want string
	}{
		{"a truncated body says where it ends", []byte(page[:len(page)/2]), "truncated"},
		{"an empty body is truncated", []byte(``), "truncated"},
		{"HTML is malformed JSON", []byte(`<html>Service Unavailable</html>`), "malformed JSON"},
		{"a 400 error body is quoted", ingesttest.Fixture(t, "error_bad_request.json"), "Invalid frequency 'daily'"},
		{"a key gateway error object is quoted", ingesttest.Fixture(t, "error_invalid_key.json"), "API_KEY_INVALID"},
		{"no response member", []byte(`{"request":{}}`), `"response" is missing`},
		{"no data member", []byte(`{"response":{"total":"1"}}`), `"response.data" is missing`},
		{"no total", []byte(`{"response":{"data":[]}}`), `"response.total" is missing`},
		{"a total that is not a number", []byte(`{"response":{"total":"many","data":[]}}`), `"response.total" "many" is not a number`},
		{"a negative total", []byte(`{"response":{"total":"-1","data":[]}}`), "is not a row count"},
		{"another frequency", []byte(`{"response":{"total":"0","frequency":"daily","data":[]}}`), "frequency"},
		{"data that is not a list", []byte(`{"response":{"total":"0","data":{}}}`), "JSON object"},
		{"a value that is not a number names the row", wrap(row + "," + strings.Replace(row, `"1"`, `"abc"`, 1)), `data[1] (period "2024-01-01T01", respondent "ERCO"): value "abc" is not a finite number`},
		{"NaN is refused", wrap(strings.Replace(row, `"1"`, `"NaN"`, 1)), "not a finite number"},
		{"an object value is refused", wrap(strings.Replace(row, `"1"`, `{"v":1}`, 1)), "not a finite number"},
		{"a row without value", wrap(`{"period":"2024-01-01T01","respondent":"ERCO","type":"D","value-units":"megawatthours"}`), "value is missing"},
		{"other units", wrap(strings.Replace(row, "megawatthours", "megawatts", 1)), `value-units "megawatts", want "megawatthours"`},
		{"no units", wrap(`{"period":"2024-01-01T01","respondent":"ERCO","type":"D","value":"1"}`), "value-units is missing"},
		{"a bad period", wrap(strings.Replace(row, "2024-01-01T01", "2024-01-01 01:00", 1)), "period"},
		{"no respondent", wrap(strings.Replace(row, `"respondent":"ERCO",`, "", 1)), "respondent is missing"},
		{"no type", wrap(strings.Replace(row, `"type":"D",`, "", 1)), "type is missing"},
		{"a period of the wrong JSON type", wrap(strings.Replace(row, `"2024-01-01T01"`, `2024`, 1)), "period"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParsePage(tc.body, RegionData)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// The fuzz targets check the parser's promises with rules written apart from it: no panic,
// and whatever it accepts is well-formed.

func FuzzParsePage(f *testing.F) {
	for _, name := range []string{"region_data_page.json", "fuel_type_data_page.json", "local_hourly_page.json",
		"empty_page.json", "warnings_page.json", "numeric_values_page.json", "error_bad_request.json"} {
		b := ingesttest.Fixture(f, name)
		f.Add(b, false)
		f.Add(b[:len(b)*2/3], true)
	}
	metrics := map[string]bool{"": true}
	for _, m := range schemas.GridMetrics() {
		metrics[m] = true
	}
	f.Fuzz(func(t *testing.T, data []byte, fuel bool) {
		r := RegionData
		if fuel {
			r = FuelTypeData
		}
		p, err := ParsePage(data, r)
		if err != nil {
			return
		}
		if p.Total < 0 {
			t.Fatalf("accepted total %d", p.Total)
		}
		for _, row := range p.Rows {
			if row.Start.Location() != time.UTC || row.Start.Second() != 0 || row.Start.Nanosecond() != 0 {
				t.Fatalf("accepted start %v", row.Start)
			}
			if row.Respondent == "" || row.Code == "" || !metrics[row.Metric] {
				t.Fatalf("accepted row %+v", row)
			}
			if m, ok := r.Metric(row.Code); ok != (row.Metric != "") || m != row.Metric {
				t.Fatalf("row %+v: metric does not match the route's mapping", row)
			}
			if row.Missing && row.Value != 0 || math.IsNaN(row.Value) || math.IsInf(row.Value, 0) {
				t.Fatalf("accepted value %v (missing %v)", row.Value, row.Missing)
			}
		}
		// Differential check of the row scanner against encoding/json.
		var top map[string]json.RawMessage
		var resp map[string]json.RawMessage
		var ref []map[string]json.RawMessage
		if json.Unmarshal(data, &top) != nil || json.Unmarshal(top["response"], &resp) != nil || json.Unmarshal(resp["data"], &ref) != nil {
			t.Fatalf("ParsePage accepted what encoding/json cannot read as response.data rows: %q", data)
		}
		if len(ref) != len(p.Rows) {
			t.Fatalf("%d rows, encoding/json reads %d", len(p.Rows), len(ref))
		}
		str := func(raw json.RawMessage) string {
			var s string
			_ = json.Unmarshal(raw, &s)
			return s
		}
		for i, m := range ref {
			row := p.Rows[i]
			start, err := ParsePeriod(str(m["period"]))
			if err != nil || !start.Equal(row.Start) || str(m["respondent"]) != row.Respondent || str(m[r.Facet]) != row.Code {
				t.Fatalf("row %d %+v differs from encoding/json's %v", i, row, m)
			}
			if !row.Missing {
				v := strings.Trim(string(m["value"]), `"`)
				if f, err := strconv.ParseFloat(v, 64); err != nil || f != row.Value {
					t.Fatalf("row %d value %v, encoding/json reads %s", i, row.Value, m["value"])
				}
			}
		}
	})
}

func FuzzParsePeriod(f *testing.F) {
	for _, s := range []string{"2024-01-01T05", "2024-01-01T00-06", "2024-11-03T01-08", "2024-01-01T10+05:30", "2024-01-01T24"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		start, err := ParsePeriod(s)
		if err != nil {
			return
		}
		if start.Location() != time.UTC || start.Second() != 0 || start.Nanosecond() != 0 {
			t.Fatalf("ParsePeriod(%q) = %v", s, start)
		}
		if len(s) == 13 && FormatPeriod(start) != s {
			t.Fatalf("ParsePeriod(%q) = %v, but FormatPeriod gives %q back", s, start, FormatPeriod(start))
		}
	})
}
