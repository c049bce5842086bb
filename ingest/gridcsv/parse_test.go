package gridcsv

import (
	"bytes"
	"compress/gzip"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/ingest/grid"
	"github.com/hashatlas/hashatlas/ingest/ingesttest"
	"github.com/hashatlas/hashatlas/schemas"
)

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func defaultFormat() Format {
	return Format{Columns: DefaultColumns(), Interval: time.Hour, TimeFormat: TimeRFC3339, Source: "csv", Regions: grid.DefaultRegions()}
}

type readRow struct {
	row int
	o   schemas.GridObservation
}

func readAll(t *testing.T, body []byte, f Format) ([]readRow, Stats, error) {
	t.Helper()
	var out []readRow
	st, err := Read(bytes.NewReader(body), "test.csv", f, func(row int, o schemas.GridObservation) error {
		out = append(out, readRow{row, o})
		return nil
	})
	return out, st, err
}

func TestReadTheDefaultColumns(t *testing.T) {
	rows, st, err := readAll(t, ingesttest.Fixture(t, "default_columns.csv"), defaultFormat())
	if err != nil {
		t.Fatal(err)
	}
	if st != (Stats{Rows: 6, Empty: 1}) || len(rows) != 5 {
		t.Fatalf("stats %+v, %d observations; want 6 rows, 1 empty, 5 observations", st, len(rows))
	}
	want := schemas.GridObservation{Schema: schemas.SchemaGridObservation, Region: "ERCO", Country: "US", Time: utc("2024-01-01T00:00:00Z"),
		IntervalSeconds: 3600, Metric: schemas.GridDemand, Value: 41234, Unit: schemas.UnitMWh, Source: "csv"}
	if rows[0].row != 2 || rows[0].o != want {
		t.Fatalf("first row %d %+v\nwant row 2 %+v", rows[0].row, rows[0].o, want)
	}
	if o := rows[3].o; o.Region != "KZ" || o.Country != "KZ" || !o.Time.Equal(utc("2023-12-31T18:00:00Z")) || o.Unit != schemas.UnitMW {
		t.Errorf("the Kazakh row %+v: want country KZ from the regions table and the +06:00 time in UTC", o)
	}
	if o := rows[4].o; o.Metric != schemas.GridEmergency || o.Value != 2 || o.Unit != schemas.UnitFlag {
		t.Errorf("the emergency row %+v", o)
	}
}

func TestReadAnOperatorExportWithMappedColumnsLocalTimesAndHourEndingLabels(t *testing.T) {
	cols, err := ParseColumns("region=BA,time=Timestamp (hour ending),value=Load MW")
	if err != nil {
		t.Fatal(err)
	}
	chicago, err := time.LoadLocation("America/Chicago")
	if err != nil {
		t.Fatal(err)
	}
	f := defaultFormat()
	f.Columns, f.Metric, f.Unit, f.TimeFormat, f.Location, f.LabelEnd = cols, schemas.GridDemand, schemas.UnitMW, "01/02/2006 15:04", chicago, true
	rows, _, err := readAll(t, ingesttest.Fixture(t, "operator_export.csv"), f)
	if err != nil {
		t.Fatal(err)
	}
	want := []time.Time{
		utc("2024-01-01T06:00:00Z"), // the hour ending 01:00 CST (UTC-6) starts at 06:00Z
		utc("2024-01-01T07:00:00Z"),
		utc("2024-03-10T07:00:00Z"), // ending 03:00 CDT (UTC-5), just after the spring-forward
	}
	if len(rows) != len(want) {
		t.Fatalf("%d rows", len(rows))
	}
	for i, w := range want {
		o := rows[i].o
		if !o.Time.Equal(w) || o.Metric != schemas.GridDemand || o.Unit != schemas.UnitMW || o.Country != "US" {
			t.Errorf("row %d: %+v, want start %v, demand in MW in US", rows[i].row, o, w)
		}
	}
}

func TestReadTimeFormatsIntervalsAndOverrides(t *testing.T) {
	cases := []struct {
		name   string
		body   string
		edit   func(f *Format)
		check  func(o schemas.GridObservation) bool
		expect string
	}{
		{"unix seconds", "region,time,metric,value,unit\nPJM,1704067200,demand,1,MWh\n",
			func(f *Format) { f.TimeFormat = TimeUnix },
			func(o schemas.GridObservation) bool { return o.Time.Equal(utc("2024-01-01T00:00:00Z")) }, "2024-01-01T00:00Z"},
		{"unix milliseconds", "region,time,metric,value,unit\nPJM,1704067200000,demand,1,MWh\n",
			func(f *Format) { f.TimeFormat = TimeUnixMs },
			func(o schemas.GridObservation) bool { return o.Time.Equal(utc("2024-01-01T00:00:00Z")) }, "2024-01-01T00:00Z"},
		{"a layout without zone in UTC by default", "region,time,metric,value,unit\nPJM,2024-01-01 05:00,demand,1,MWh\n",
			func(f *Format) { f.TimeFormat = "2006-01-02 15:04" },
			func(o schemas.GridObservation) bool { return o.Time.Equal(utc("2024-01-01T05:00:00Z")) }, "05:00Z"},
		{"an interval column", "region,time,metric,value,unit,interval_seconds\nPJM,2024-01-01T00:00:00Z,demand,1,MWh,86400\n",
			func(f *Format) {},
			func(o schemas.GridObservation) bool { return o.IntervalSeconds == 86400 }, "interval 86400"},
		{"a 15-minute interval labelled by its end", "region,time,metric,value,unit\nPJM,2024-01-01T00:15:00Z,demand,1,MWh\n",
			func(f *Format) { f.Interval, f.LabelEnd = 15*time.Minute, true },
			func(o schemas.GridObservation) bool {
				return o.IntervalSeconds == 900 && o.Time.Equal(utc("2024-01-01T00:00:00Z"))
			}, "start 00:00Z"},
		{"a country column wins over the regions table", "region,time,metric,value,unit,country\nSE3,2024-01-01T00:00:00Z,demand,1,MWh,SE\n",
			func(f *Format) {},
			func(o schemas.GridObservation) bool { return o.Country == "SE" }, "country SE"},
		{"a fixed region and country", "time,metric,value,unit\n2024-01-01T00:00:00Z,price,-3.5,USD/MWh\n",
			func(f *Format) { f.Region, f.Country = "NO1", "NO" },
			func(o schemas.GridObservation) bool {
				return o.Region == "NO1" && o.Country == "NO" && o.Value == -3.5 && o.Metric == schemas.GridPrice
			}, "NO1 in NO"},
		{"a fixed value replaces the column", "region,time,metric,value,unit\nPJM,2024-01-01T00:00:00Z,demand,1,MWh\n",
			func(f *Format) { f.Unit = schemas.UnitMW },
			func(o schemas.GridObservation) bool { return o.Unit == schemas.UnitMW }, "unit MW"},
		{"a byte-order mark and spaces in the header", "\ufeffregion, time ,metric,value,unit\nPJM,2024-01-01T00:00:00Z,demand, 7 ,MWh\n",
			func(f *Format) {},
			func(o schemas.GridObservation) bool { return o.Value == 7 }, "value 7"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := defaultFormat()
			tc.edit(&f)
			rows, _, err := readAll(t, []byte(tc.body), f)
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != 1 || !tc.check(rows[0].o) {
				t.Fatalf("read %+v, want %s", rows, tc.expect)
			}
		})
	}
}

func TestReadGzip(t *testing.T) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write(ingesttest.Fixture(t, "default_columns.csv"))
	_ = zw.Close()
	rows, _, err := readAll(t, buf.Bytes(), defaultFormat())
	if err != nil || len(rows) != 5 {
		t.Fatalf("%d rows, %v", len(rows), err)
	}
}

func TestReadNamesTheRowAndTheRule(t *testing.T) {
	const header = "region,time,metric,value,unit\n"
	const good = "PJM,2024-01-01T00:00:00Z,demand,1,MWh\n"
	cases := []struct {
		name, body, want string
	}{
		{"an empty file", "", "test.csv: empty, want a header row"},
		{"a missing column", "region,time,value,unit\n" + good, `test.csv row 1: the header lacks metric (column "metric")`},
		{"a duplicate column", "region,time,metric,value,unit,value\n", `column "value" appears twice`},
		{"a value that is not a number", header + good + "PJM,2024-01-01T01:00:00Z,demand,lots,MWh\n", `test.csv row 3: column "value" (value): "lots" is not a finite number`},
		{"NaN", header + "PJM,2024-01-01T01:00:00Z,demand,NaN,MWh\n", "row 2: column \"value\" (value): \"NaN\" is not a finite number"},
		{"a time without offset in rfc3339", header + "PJM,2024-01-01T01:00:00,demand,1,MWh\n", `row 2: column "time" (time): "2024-01-01T01:00:00" is not an RFC 3339 time`},
		{"an empty time", header + "PJM,,demand,1,MWh\n", `row 2: column "time" (time): "" is empty`},
		{"an unknown metric", header + "PJM,2024-01-01T00:00:00Z,load,1,MWh\n", "row 2: observation PJM|load|csv|3600|2024-01-01T00:00:00Z: field metric"},
		{"a unit the metric does not allow", header + "PJM,2024-01-01T00:00:00Z,price,1,MWh\n", "row 2: observation PJM|price|csv|3600|2024-01-01T00:00:00Z: field unit"},
		{"a negative demand", header + "PJM,2024-01-01T00:00:00Z,demand,-1,MWh\n", "field value: must be >= 0 for metric demand"},
		{"a region without a country", header + "ZZTOP,2024-01-01T00:00:00Z,demand,1,MWh\n", `row 2: region "ZZTOP" is not in the regions table`},
		{"a year out of range", header + "PJM,1999-12-31T23:00:00Z,demand,1,MWh\n", "field time"},
		{"a bad interval column", "region,time,metric,value,unit,interval_seconds\nPJM,2024-01-01T00:00:00Z,demand,1,MWh,1h\n", `column "interval_seconds" (interval): "1h" is not a whole number of seconds`},
		{"a row with too few fields", header + "PJM,2024-01-01T00:00:00Z,demand\n", "test.csv row 2: wrong number of fields"},
		{"an unclosed quote", header + good + "PJM,\"2024-01-01T01:00:00Z,demand,1,MWh\n", "test.csv row 3:"},
		{"a region with a space", header + "P JM,2024-01-01T00:00:00Z,demand,1,MWh\n", `region "P JM" is not in the regions table`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := readAll(t, []byte(tc.body), defaultFormat())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestReadRowNumbersCountLinesOfQuotedFields(t *testing.T) {
	body := "region,time,metric,value,unit\n\"PJM\",\"2024-01-01T00:00:00Z\",\"demand\",\"1\",\"MWh\"\n" +
		"PJM,2024-01-01T01:00:00Z,\"dem\nand\",1,MWh\nPJM,2024-01-01T02:00:00Z,demand,x,MWh\n"
	_, _, err := readAll(t, []byte(body), defaultFormat())
	if err == nil || !strings.Contains(err.Error(), "test.csv row 3:") {
		t.Fatalf("err = %v, want the row starting on line 3 (its metric spans two lines)", err)
	}
}

func TestReadStopsAtTheCallbacksError(t *testing.T) {
	stop := errors.New("stop")
	n := 0
	_, err := Read(bytes.NewReader(ingesttest.Fixture(t, "default_columns.csv")), "x", defaultFormat(), func(int, schemas.GridObservation) error {
		n++
		return stop
	})
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("err = %v after %d rows", err, n)
	}
}

func TestParseColumns(t *testing.T) {
	m, err := ParseColumns(" region = BA , value=Load MW")
	if err != nil {
		t.Fatal(err)
	}
	if m[FieldRegion] != "BA" || m[FieldValue] != "Load MW" || m[FieldTime] != "time" || m[FieldInterval] != "interval_seconds" {
		t.Fatalf("mapping %v", m)
	}
	for in, want := range map[string]string{"zone=BA": `unknown field "zone"`, "region": "want field=column", "region=": "want field=column",
		"region=A,region=B": "mapped twice"} {
		if _, err := ParseColumns(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseColumns(%q) err = %v, want %q", in, err, want)
		}
	}
}

// FuzzRead checks Read's promise: no panic, and every observation it hands out is valid,
// its time in UTC.
func FuzzRead(f *testing.F) {
	f.Add(ingesttest.Fixture(f, "default_columns.csv"), false)
	f.Add(ingesttest.Fixture(f, "operator_export.csv"), true)
	f.Add([]byte("region,time,metric,value,unit,interval_seconds,country\nX,2024-01-01T00:00:00Z,demand,1,MW,60,FR\n"), false)
	regions := grid.DefaultRegions()
	f.Fuzz(func(t *testing.T, data []byte, operator bool) {
		fm := Format{Columns: DefaultColumns(), Interval: time.Hour, TimeFormat: TimeRFC3339, Source: "csv", Regions: regions}
		if operator {
			fm.Columns, _ = ParseColumns("region=BA,time=Timestamp (hour ending),value=Load MW")
			fm.Metric, fm.Unit, fm.TimeFormat, fm.LabelEnd = schemas.GridDemand, schemas.UnitMW, "01/02/2006 15:04", true
		}
		_, _ = Read(bytes.NewReader(data), "fuzz.csv", fm, func(row int, o schemas.GridObservation) error {
			if err := o.Validate(); err != nil {
				t.Fatalf("row %d: invalid observation handed out: %v", row, err)
			}
			if o.Time.Location() != time.UTC || row < 2 || math.IsNaN(o.Value) {
				t.Fatalf("row %d: %+v", row, o)
			}
			return nil
		})
	})
}
