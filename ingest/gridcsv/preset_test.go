package gridcsv

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/ingest/grid"
	"github.com/hashatlas/hashatlas/ingest/ingesttest"
	"github.com/hashatlas/hashatlas/schemas"
)

func presetFormat(preset string) Format {
	return Format{Preset: preset, Source: presetSources[preset], Regions: grid.DefaultRegions()}
}

// byKey indexes observations by key, failing on a key read twice.
func byKey(t *testing.T, rows []readRow) map[string]schemas.GridObservation {
	t.Helper()
	out := map[string]schemas.GridObservation{}
	for _, r := range rows {
		if _, dup := out[r.o.Key()]; dup {
			t.Fatalf("row %d: key %s read twice", r.row, r.o.Key())
		}
		out[r.o.Key()] = r.o
	}
	return out
}

// hourly is an hourly observation in MW in the US.
func hourly(region, metric, source string, start time.Time, value float64) schemas.GridObservation {
	return schemas.GridObservation{Schema: schemas.SchemaGridObservation, Region: region, Country: "US", Time: start,
		IntervalSeconds: 3600, Metric: metric, Value: value, Unit: schemas.UnitMW, Source: source}
}

// TestReadEIA930Balance reads the BALANCE fixture (2024 H2 columns; see testdata/README.md):
// every authority-hour becomes one observation per metric with a value, at the hour's START
// (an hour before "UTC Time at End of Hour"), values with thousands separators read whole,
// empty cells skipped, EIA's adjusted and imputed columns not read, fuel columns of one fuel
// summed, and PJM's negative demand skipped as refused.
func TestReadEIA930Balance(t *testing.T) {
	rows, st, err := readAll(t, ingesttest.Fixture(t, "eia930_balance.csv"), presetFormat(PresetEIA930Balance))
	if err != nil {
		t.Fatal(err)
	}
	// ERCO: 48 hours × 14 metrics (oil and geothermal empty), one forecast missing; PJM: 48 × 15
	// (geothermal empty), one negative demand refused; SEPA: 2 × 3 (net generation,
	// interchange, hydro).
	if len(rows) != 48*14-1+48*15-1+2*3 || st.Rows != 98 || st.Empty != 48*2+1+48+2*13 || st.Refused != 1 {
		t.Fatalf("%d observations, stats %+v; want 1396 observations of 98 rows, 171 empty, 1 refused", len(rows), st)
	}
	if st.FirstRefused == nil || !strings.Contains(st.FirstRefused.Error(), "test.csv row 60: observation PJM|demand|eia930-balance|3600|2024-11-03T09:00:00Z") ||
		!strings.Contains(st.FirstRefused.Error(), "must be >= 0") {
		t.Fatalf("first refusal %v, want PJM's demand of row 60", st.FirstRefused)
	}
	got := byKey(t, rows)
	const src = PresetEIA930Balance
	// The first row's "UTC Time at End of Hour" is 11/03/2024 12:00:00 AM: the hour from 23:00
	// the day before.
	first := utc("2024-11-02T23:00:00Z")
	pjm10 := first.Add(10 * time.Hour)
	for _, want := range []schemas.GridObservation{
		hourly("ERCO", "demand", src, first, 40000),
		hourly("ERCO", "demand_forecast", src, first, 40500),
		hourly("ERCO", "net_generation", src, first, 41234),
		hourly("ERCO", "interchange", src, first, 1234),
		hourly("ERCO", "generation_coal", src, first, 10000),
		hourly("ERCO", "generation_gas", src, first, 20000),
		hourly("ERCO", "generation_nuclear", src, first, 5100),
		hourly("ERCO", "generation_hydro", src, first, 60),
		hourly("ERCO", "generation_solar", src, first, 3000+12), // without + with integrated battery storage
		hourly("ERCO", "generation_wind", src, first, 2000),
		hourly("ERCO", "generation_battery", src, first, -25),
		hourly("ERCO", "generation_pumped_storage", src, first, 0), // "… from Pumped Storage " (EIA's trailing space)
		hourly("ERCO", "generation_other", src, first, 150),
		hourly("ERCO", "generation_unknown", src, first, 0),
		// The 48th and last ERCO hour ends 11/04/2024 11:00:00 PM.
		hourly("ERCO", "demand", src, utc("2024-11-04T22:00:00Z"), 40000+37*47),
		// PJM: interchange negative, with separators ("-2,345"); its hour 10 has no demand but
		// the rest of its row.
		hourly("PJM", "interchange", src, pjm10, -2345),
		hourly("PJM", "net_generation", src, pjm10, 87655+53*10),
		hourly("PJM", "generation_pumped_storage", src, pjm10, -150+100),
		hourly("PJM", "generation_oil", src, pjm10, 150),
		hourly("PJM", "generation_unknown", src, pjm10, 7),
		// SEPA is not in the regions table: a U.S. authority all the same.
		hourly("SEPA", "generation_hydro", src, utc("2024-11-03T00:00:00Z"), 1051),
	} {
		if o, ok := got[want.Key()]; !ok || o != want {
			t.Errorf("%s: got %+v (present %v), want %+v", want.Key(), o, ok, want)
		}
	}
	for _, absent := range []schemas.GridObservation{
		hourly("ERCO", "demand_forecast", src, first.Add(5*time.Hour), 0), // the empty forecast
		hourly("PJM", "demand", src, pjm10, 0),                            // the negative demand
		hourly("ERCO", "generation_oil", src, first, 0),                   // an empty fuel
		hourly("ERCO", "generation_geothermal", src, first, 0),
		hourly("SEPA", "demand", src, first.Add(time.Hour), 0),
		hourly("ERCO", "demand", src, utc("2024-11-04T23:00:00Z"), 0), // the last hour ENDS then
	} {
		if o, ok := got[absent.Key()]; ok {
			t.Errorf("%s read as %+v, want nothing", absent.Key(), o)
		}
	}
	if _, ok := grid.DefaultRegions().Lookup("SEPA"); ok {
		t.Fatal("SEPA is in the regions table now: pick another authority for the fallback")
	}
	// Each authority's hours are consecutive, every one with its net generation.
	for _, ba := range []string{"ERCO", "PJM"} {
		for h := 0; h < 48; h++ {
			if k := hourly(ba, "net_generation", src, first.Add(time.Duration(h)*time.Hour), 0).Key(); got[k].Region != ba {
				t.Fatalf("%s missing", k)
			}
		}
	}
}

// TestReadEIA930BalanceOlderFiles: files to 2024 H1 have hydropower with pumped storage and
// solar and wind whole; files before 2018 H2 have no fuel columns at all.
func TestReadEIA930BalanceOlderFiles(t *testing.T) {
	const core = `"Balancing Authority","Data Date","Hour Number","Local Time at End of Hour","UTC Time at End of Hour","Demand Forecast (MW)","Demand (MW)","Net Generation (MW)","Total Interchange (MW)"`
	cases := []struct {
		name, body string
		want       map[string]float64
	}{
		{"2020 H1",
			core + `,"Net Generation (MW) from Coal","Net Generation (MW) from Hydropower and Pumped Storage","Net Generation (MW) from Solar","Net Generation (MW) from Wind","Net Generation (MW) from Unknown Fuel Sources"` + "\n" +
				`"CISO","01/01/2020","1","01/01/2020 1:00:00 AM","01/01/2020 9:00:00 AM","21,500","21,234.5","18,000","-3,234.5","5","1,800","0","4,321",""` + "\n",
			map[string]float64{"demand": 21234.5, "demand_forecast": 21500, "net_generation": 18000, "interchange": -3234.5,
				"generation_coal": 5, "generation_hydro": 1800, "generation_solar": 0, "generation_wind": 4321}},
		{"2016 H1, no fuel columns",
			core + "\n" + `"CISO","01/01/2016","1","01/01/2016 1:00:00 AM","01/01/2016 9:00:00 AM","21,500","999","18,000",""` + "\n",
			map[string]float64{"demand": 999, "demand_forecast": 21500, "net_generation": 18000}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rows, _, err := readAll(t, []byte(tc.body), presetFormat(PresetEIA930Balance))
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]float64{}
			for _, r := range rows {
				if r.o.Region != "CISO" || r.o.Time.Hour() != 8 || r.o.Unit != schemas.UnitMW {
					t.Fatalf("%+v: want CISO at 08:00 UTC (the hour ending 09:00) in MW", r.o)
				}
				got[r.o.Metric] = r.o.Value
			}
			if len(got) != len(tc.want) {
				t.Fatalf("metrics %v, want %v", got, tc.want)
			}
			for m, v := range tc.want {
				if g, ok := got[m]; !ok || g != v {
					t.Errorf("%s = %v (present %v), want %v", m, g, ok, v)
				}
			}
		})
	}
}

// TestReadEIA930BalanceRefusesWhatIsNotABalanceFile: a header without the BALANCE columns is
// one error naming the preset and every column missing; a bad cell names its row and column.
func TestReadEIA930BalanceRefusesWhatIsNotABalanceFile(t *testing.T) {
	const header = `Balancing Authority,UTC Time at End of Hour,Demand Forecast (MW),Demand (MW),Net Generation (MW),Total Interchange (MW)` + "\n"
	row := func(ba, end, demand string) string {
		return ba + `,` + end + `,1,"` + demand + `",2,3` + "\n"
	}
	good := row("PJM", "07/01/2024 5:00:00 AM", "1,234")
	cases := []struct{ name, body, want string }{
		{"a SUBREGION file", `"Balancing Authority","Data Date","Hour Number","Sub-Region","Local Time at End of Hour","UTC Time at End of Hour","Demand (MW)"` + "\n",
			`test.csv row 1: the header does not match preset eia930-balance: it lacks "Demand Forecast (MW)", "Net Generation (MW)", "Total Interchange (MW)"; it has Balancing Authority, Data Date,`},
		{"the default columns", string(ingesttest.Fixture(t, "default_columns.csv")),
			`lacks "Balancing Authority", "UTC Time at End of Hour", "Demand (MW)", "Demand Forecast (MW)", "Net Generation (MW)", "Total Interchange (MW)"`},
		{"a column twice", strings.TrimSuffix(header, "\n") + ",Demand (MW)\n", `column "Demand (MW)" appears twice`},
		{"a comma that separates no thousands", header + good + row("PJM", "07/01/2024 6:00:00 AM", "1,23"),
			`test.csv row 3: column "Demand (MW)": "1,23" is not a number (a comma that does not separate thousands)`},
		{"a word", header + row("PJM", "07/01/2024 6:00:00 AM", "n/a"), `row 2: column "Demand (MW)": "n/a" is not a finite number`},
		{"a date alone", header + row("PJM", "07/01/2024", "1"), `row 2: column "UTC Time at End of Hour": "07/01/2024" is not a time such as "07/01/2024 5:00:00 AM"`},
		{"a half hour", header + row("PJM", "07/01/2024 5:30:00 AM", "1"), `"07/01/2024 5:30:00 AM" is not on the hour`},
		{"no authority", header + row("", "07/01/2024 5:00:00 AM", "1"), `row 2: column "Balancing Authority": is empty`},
		{"an authority with a space", header + row("P JM", "07/01/2024 5:00:00 AM", "1"), `row 2: observation P JM|demand|eia930-balance|3600|2024-07-01T04:00:00Z: field region`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := readAll(t, []byte(tc.body), presetFormat(PresetEIA930Balance))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v\nwant one containing %s", err, tc.want)
			}
		})
	}
	_, _, err := readAll(t, []byte(cases[0].body), presetFormat(PresetEIA930Balance))
	var he *HeaderError
	if !errors.As(err, &he) || he.Preset != PresetEIA930Balance || len(he.Missing) != 3 {
		t.Fatalf("err = %#v, want a *HeaderError of the preset with the 3 columns missing", err)
	}
	// Times as a spreadsheet saves them again are read too.
	for _, end := range []string{"7/1/2024 5:00:00 AM", "07/01/2024 05:00:00", "07/01/2024 05:00", "2024-07-01 05:00:00", "2024-07-01T05:00:00Z"} {
		rows, _, err := readAll(t, []byte(header+row("PJM", end, "1,234")), presetFormat(PresetEIA930Balance))
		if err != nil || len(rows) != 4 || !rows[0].o.Time.Equal(utc("2024-07-01T04:00:00Z")) || rows[0].o.Value != 1234 {
			t.Errorf("end %q: %v, %+v", end, err, rows)
		}
	}
}

func TestParseNumber(t *testing.T) {
	for in, want := range map[string]float64{"1,234": 1234, "-2,345": -2345, "12,345,678.25": 12345678.25, "+1,000": 1000, "999": 999, "-0.5": -0.5, "1e3": 1000} {
		if v, err := parseNumber(in); err != nil || v != want {
			t.Errorf("parseNumber(%q) = %v, %v; want %v", in, v, err, want)
		}
	}
	for _, in := range []string{"1,23", "1,2345", ",123", "1,,234", "1234,567", "1.5,000", "NaN", "Inf", "1,234e3", ""} {
		if v, err := parseNumber(in); err == nil {
			t.Errorf("parseNumber(%q) = %v, want an error", in, v)
		}
	}
}

// ercotCase is one row of an ERCOT file and the start it means (or the error).
type ercotCase struct {
	day, hourEnding, dst string
	start                string // RFC 3339 UTC; "" for an error
	err                  string
}

// TestERCOTHourEnding reads one row per case through Read: hour endings are the hour's end on
// the operating day's clock (US Central), "24:00" the hour before midnight, the repeated hour
// of the fall-back day told apart by DSTFlag, the skipped hour of the spring-forward day
// refused.
func TestERCOTHourEnding(t *testing.T) {
	cases := []ercotCase{
		// Winter (CST, UTC-6): the hour ending 01:00 starts at midnight, 06:00Z.
		{"01/01/2024", "01:00", "N", "2024-01-01T06:00:00Z", ""},
		{"01/01/2024", "1:00", "N", "2024-01-01T06:00:00Z", ""},
		{"01/01/2024", "1", "N", "2024-01-01T06:00:00Z", ""},
		{"01/01/2024", "12:00", "N", "2024-01-01T17:00:00Z", ""},
		// "24:00" is the hour from 23:00 to the midnight ending the day: the next day's 05:00Z,
		// just before the next day's hour ending 01:00.
		{"01/01/2024", "24:00", "N", "2024-01-02T05:00:00Z", ""},
		{"12/31/2024", "24:00", "N", "2025-01-01T05:00:00Z", ""},
		{"02/28/2024", "24:00", "N", "2024-02-29T05:00:00Z", ""},
		// Summer (CDT, UTC-5).
		{"07/04/2024", "01:00", "N", "2024-07-04T05:00:00Z", ""},
		{"07/04/2024", "24:00", "N", "2024-07-05T04:00:00Z", ""},
		// Daylight saving time ends 11/03/2024 at 02:00 CDT: the clock reads 01:00 twice, and the
		// hour ending 02:00 comes twice, the second with DSTFlag Y.
		{"11/03/2024", "01:00", "N", "2024-11-03T05:00:00Z", ""},
		{"11/03/2024", "02:00", "N", "2024-11-03T06:00:00Z", ""},
		{"11/03/2024", "02:00", "Y", "2024-11-03T07:00:00Z", ""},
		{"11/03/2024", "03:00", "N", "2024-11-03T08:00:00Z", ""},
		{"11/03/2024", "24:00", "N", "2024-11-04T05:00:00Z", ""},
		{"11/05/2023", "02:00", "N", "2023-11-05T06:00:00Z", ""},
		{"11/05/2023", "02:00", "Y", "2023-11-05T07:00:00Z", ""},
		// It starts 03/10/2024 at 02:00 CST: the day has 23 hours and no hour ending 03:00.
		{"03/10/2024", "01:00", "N", "2024-03-10T06:00:00Z", ""},
		{"03/10/2024", "02:00", "N", "2024-03-10T07:00:00Z", ""},
		{"03/10/2024", "04:00", "N", "2024-03-10T08:00:00Z", ""},
		{"03/10/2024", "24:00", "N", "2024-03-11T04:00:00Z", ""},
		{"03/10/2024", "03:00", "N", "", "the hour ending 03:00 on 03/10/2024 would start at 02:00, which the clock skips that day"},
		{"03/10/2024", "03:00", "Y", "", "which the clock skips"},
		// DSTFlag Y on an hour that is not repeated.
		{"11/03/2024", "03:00", "Y", "", "DSTFlag Y marks the repeated hour, but the hour ending 03:00 on 11/03/2024 is not repeated"},
		{"07/04/2024", "02:00", "Y", "", "is not repeated"},
		{"11/03/2024", "02:00", "y", "2024-11-03T07:00:00Z", ""},
		// Not hours ending.
		{"01/01/2024", "00:00", "N", "", `column "HourEnding": "00:00" is not an hour ending from "01:00" to "24:00"`},
		{"01/01/2024", "25:00", "N", "", "is not an hour ending"},
		{"01/01/2024", "01:30", "N", "", "is not an hour ending"},
		{"01/01/2024", "001:00", "N", "", "is not an hour ending"},
		{"01/01/2024", "", "N", "", "is not an hour ending"},
		{"2024-01-01", "01:00", "N", "", `column "OperDay": "2024-01-01" is not a date MM/DD/YYYY`},
		{"02/30/2024", "01:00", "N", "", "is not a date"},
		{"01/01/2024", "01:00", "", "", `column "DSTFlag": "" is not Y or N`},
		{"01/01/2024", "01:00", "maybe", "", "is not Y or N"},
	}
	for _, tc := range cases {
		t.Run(tc.day+" "+tc.hourEnding+" "+tc.dst, func(t *testing.T) {
			body := "OperDay,HourEnding,COAST,ERCOT,DSTFlag\n" + tc.day + "," + tc.hourEnding + ",1,42000.5," + tc.dst + "\n"
			rows, _, err := readAll(t, []byte(body), presetFormat(PresetERCOTLoad))
			if tc.start == "" {
				if err == nil || !strings.Contains(err.Error(), "test.csv row 2: ") || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one naming row 2 and containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := hourly("ERCO", schemas.GridDemand, PresetERCOTLoad, utc(tc.start), 42000.5)
			if len(rows) != 1 || rows[0].o != want {
				t.Fatalf("read %+v, want %+v", rows, want)
			}
		})
	}
}

// TestReadERCOTLoad reads the fixture: six operating days around both clock changes of 2024
// (see testdata/README.md). The ERCOT total of every row is its demand, in hours that follow
// one another without gap or repeat across the 23-hour and the 25-hour day; the weather zones
// are not read.
func TestReadERCOTLoad(t *testing.T) {
	rows, st, err := readAll(t, ingesttest.Fixture(t, "ercot_load.csv"), presetFormat(PresetERCOTLoad))
	if err != nil {
		t.Fatal(err)
	}
	if st != (Stats{Rows: 144}) || len(rows) != 144 {
		t.Fatalf("stats %+v, %d observations; want 144 rows, 144 observations", st, len(rows))
	}
	got := byKey(t, rows)
	// The totals say their row: 40000 + 1000 × day (0 = 03/09, 3 = 11/02) + 10 × hour ending, + 5 on the
	// repeated hour.
	for _, w := range []struct {
		start string
		value float64
	}{
		{"2024-03-09T06:00:00Z", 40010}, // 03/09 01:00
		{"2024-03-10T05:00:00Z", 40240}, // 03/09 24:00
		{"2024-03-10T06:00:00Z", 41010}, // 03/10 01:00
		{"2024-03-10T07:00:00Z", 41020}, // 03/10 02:00, ends at 03:00 CDT
		{"2024-03-10T08:00:00Z", 41040}, // 03/10 04:00, the hour after
		{"2024-03-11T04:00:00Z", 41240}, // 03/10 24:00, now CDT
		{"2024-03-11T05:00:00Z", 42010}, // 03/11 01:00
		{"2024-11-03T04:00:00Z", 43240}, // 11/02 24:00 (CDT)
		{"2024-11-03T05:00:00Z", 44010}, // 11/03 01:00
		{"2024-11-03T06:00:00Z", 44020}, // 11/03 02:00, DSTFlag N: from 01:00 CDT
		{"2024-11-03T07:00:00Z", 44025}, // 11/03 02:00, DSTFlag Y: from 01:00 CST
		{"2024-11-03T08:00:00Z", 44030}, // 11/03 03:00
		{"2024-11-04T05:00:00Z", 44240}, // 11/03 24:00 (CST)
		{"2024-11-04T12:00:00Z", 45070}, // 11/04 07:00, its SCENT cell empty
		{"2024-11-05T05:00:00Z", 45240}, // 11/04 24:00, the last row
	} {
		want := hourly("ERCO", schemas.GridDemand, PresetERCOTLoad, utc(w.start), w.value)
		if o, ok := got[want.Key()]; !ok || o != want {
			t.Errorf("%s: got %+v (present %v), want %+v", want.Key(), o, ok, want)
		}
	}
	// Two runs of consecutive hours: 03/09–03/11 (24 + 23 + 24) and 11/02–11/04 (24 + 25 + 24).
	for _, run := range []struct {
		from  string
		hours int
	}{{"2024-03-09T06:00:00Z", 71}, {"2024-11-02T05:00:00Z", 73}} {
		for h := 0; h < run.hours; h++ {
			k := hourly("ERCO", schemas.GridDemand, PresetERCOTLoad, utc(run.from).Add(time.Duration(h)*time.Hour), 0).Key()
			if _, ok := got[k]; !ok {
				t.Fatalf("%s missing", k)
			}
		}
	}
}

// TestReadERCOTLoadColumns: the weather-zone report names the zones and the total otherwise
// (FAR_WEST, …, TOTAL); an empty total is no value; a negative one is refused and skipped; a
// header without OperDay, HourEnding, DSTFlag or the total is one error naming what it lacks.
func TestReadERCOTLoadColumns(t *testing.T) {
	report := "OperDay,HourEnding,COAST,EAST,FAR_WEST,NORTH,NORTH_C,SOUTHERN,SOUTH_C,WEST,TOTAL,DSTFlag\n" +
		"08/01/2024,17:00,21000.1,2800,7000,1500,24000,7200,13000,3300,\"79,800.1\",N\n" +
		"08/01/2024,18:00,21000.1,2800,7000,1500,24000,7200,13000,3300,,N\n" +
		"08/01/2024,19:00,21000.1,2800,7000,1500,24000,7200,13000,3300,-1,N\n"
	rows, st, err := readAll(t, []byte(report), presetFormat(PresetERCOTLoad))
	if err != nil {
		t.Fatal(err)
	}
	want := hourly("ERCO", schemas.GridDemand, PresetERCOTLoad, utc("2024-08-01T21:00:00Z"), 79800.1)
	if len(rows) != 1 || rows[0].o != want || st.Empty != 1 || st.Refused != 1 || st.Rows != 3 {
		t.Fatalf("read %+v, stats %+v; want %+v, one empty, one refused", rows, st, want)
	}
	for _, tc := range []struct{ header, want string }{
		{"OperDay,HourEnding,COAST,NORTH,SOUTH,WEST", `the header does not match preset ercot-load: it lacks "DSTFlag", the total ("ERCOT" or "TOTAL"); it has COAST, HourEnding, NORTH, OperDay, SOUTH, WEST`},
		{"Hour Ending,COAST,EAST,FWEST,NORTH,NCENT,SOUTH,SCENT,WEST,ERCOT", `it lacks "OperDay", "HourEnding", "DSTFlag";`},
		{"OperDay,HourEnding,ERCOT,DSTFlag,ERCOT", `column "ERCOT" appears twice`},
	} {
		_, _, err := readAll(t, []byte(tc.header+"\n"), presetFormat(PresetERCOTLoad))
		if err == nil || !strings.Contains(err.Error(), "test.csv row 1: ") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("header %s: err = %v, want %q", tc.header, err, tc.want)
		}
	}
	// Headers match whatever the case and spacing.
	rows, _, err = readAll(t, []byte("\ufeff operday ,HOURENDING,Ercot,dstflag\n08/01/2024,17:00,5,N\n"), presetFormat(PresetERCOTLoad))
	if err != nil || len(rows) != 1 || rows[0].o.Value != 5 {
		t.Fatalf("%v %+v", err, rows)
	}
}

func TestReadAnUnknownPreset(t *testing.T) {
	_, _, err := readAll(t, ingesttest.Fixture(t, "default_columns.csv"), Format{Preset: "caiso"})
	if err == nil || !strings.Contains(err.Error(), `test.csv: preset "caiso": want one of hashatlas, eia930-balance, ercot-load`) {
		t.Fatalf("err = %v", err)
	}
}

// TestWallInstants checks the clock arithmetic under the ERCOT preset against other zones.
func TestWallInstants(t *testing.T) {
	london, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Fatal(err)
	}
	day := time.Date(2024, 10, 27, 0, 0, 0, 0, time.UTC) // BST ends at 02:00 BST
	if got := wallInstants(london, day, 1); len(got) != 2 || !got[0].Equal(utc("2024-10-27T00:00:00Z")) || !got[1].Equal(utc("2024-10-27T01:00:00Z")) {
		t.Fatalf("01:00 on London's fall-back day: %v", got)
	}
	day = time.Date(2024, 3, 31, 0, 0, 0, 0, time.UTC) // BST starts at 01:00 GMT
	if got := wallInstants(london, day, 1); len(got) != 0 {
		t.Fatalf("01:00 on London's spring-forward day: %v, want none", got)
	}
	if got := wallInstants(time.UTC, day, 13); len(got) != 1 || !got[0].Equal(utc("2024-03-31T13:00:00Z")) {
		t.Fatalf("UTC: %v", got)
	}
}

// TestPresetConfig: a preset fixes the columns, times and units, so the settings of the
// configurable format are refused with it (their defaults are not settings); its source name
// defaults to its own.
func TestPresetConfig(t *testing.T) {
	defaults := Config{Location: "x.csv", Preset: PresetERCOTLoad, Columns: DefaultColumns(), Interval: time.Hour,
		TimeFormat: TimeRFC3339, TimeZone: "UTC", TimeLabel: "start"}
	if err := defaults.Validate(); err != nil {
		t.Fatalf("the defaults are refused: %v", err)
	}
	for preset, source := range map[string]string{"": "csv", PresetHashatlas: "csv", PresetEIA930Balance: "eia930-balance", PresetERCOTLoad: "ercot-load"} {
		if got := (Config{Preset: preset}).withDefaults().SourceName; got != source {
			t.Errorf("preset %q: source %q, want %q", preset, got, source)
		}
	}
	cols, _ := ParseColumns("value=Load")
	cases := []struct {
		name string
		cfg  Config
		want string
	}{
		{"an unknown preset", Config{Location: "x.csv", Preset: "eia"}, `preset "eia": want one of hashatlas, eia930-balance, ercot-load`},
		{"a column mapping", Config{Location: "x.csv", Preset: PresetEIA930Balance, Columns: cols},
			"preset eia930-balance reads its own columns, times and units: the column mapping do not apply to it"},
		{"fixed fields and times", Config{Location: "x.csv", Preset: PresetERCOTLoad, Region: "ERCO", Metric: "demand", TimeZone: "America/Chicago", TimeLabel: "end", Interval: 15 * time.Minute, TimeFormat: "01/02/2006"},
			"a fixed region, a fixed metric, the interval, the time format, the time zone, the time label do not apply"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestAPresetPassPublishesUnderThePresetsSourceAndSkipsRefusedValues runs the collector on the
// EIA fixture twice: the first pass publishes every observation under source eia930-balance
// and logs the refused demand, the second publishes nothing.
func TestAPresetPassPublishesUnderThePresetsSourceAndSkipsRefusedValues(t *testing.T) {
	path := writeFile(t, string(ingesttest.Fixture(t, "eia930_balance.csv")))
	tp := &memTopic{}
	c, logs := newCollector(t, Config{Location: path, Preset: PresetEIA930Balance}, tp)
	if err := c.Collect(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(tp.msgs) != 1396 || tp.msgs[0].Source != "eia930-balance" {
		t.Fatalf("published %d (first %+v), want 1396 under source eia930-balance", len(tp.msgs), tp.msgs[0])
	}
	for _, want := range []string{"grid csv values the grid schema refuses were skipped", "refused=1", "PJM|demand|eia930-balance|3600|2024-11-03T09:00:00Z", "preset=eia930-balance", "new=1396"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("logs lack %q:\n%s", want, logs.String())
		}
	}
	c, _ = newCollector(t, Config{Location: path, Preset: PresetEIA930Balance}, tp)
	if err := c.Collect(context.Background()); err != nil || len(tp.msgs) != 1396 {
		t.Fatalf("second pass: %v, %d published in all", err, len(tp.msgs))
	}

	// A file of the other preset fails the pass at its header, as a *HeaderError.
	c, _ = newCollector(t, Config{Location: writeFile(t, string(ingesttest.Fixture(t, "ercot_load.csv"))), Preset: PresetEIA930Balance}, &memTopic{})
	err := c.Collect(context.Background())
	var he *HeaderError
	if !errors.As(err, &he) || !strings.Contains(err.Error(), "row 1: the header does not match preset eia930-balance") {
		t.Fatalf("err = %v, want a header error", err)
	}
}

// FuzzReadPresets checks Read's promise under the presets: no panic, and every observation
// handed out valid and in UTC.
func FuzzReadPresets(f *testing.F) {
	// The fixtures' first rows: the fuzzer crawls on inputs of tens of kilobytes.
	head := func(name string, lines int) []byte {
		b := ingesttest.Fixture(f, name)
		for i, n := 0, 0; i < len(b); i++ {
			if b[i] == '\n' {
				if n++; n == lines {
					return b[:i+1]
				}
			}
		}
		return b
	}
	f.Add(head("eia930_balance.csv", 3), true)
	f.Add(head("ercot_load.csv", 4), false)
	f.Add([]byte("OperDay,HourEnding,ERCOT,DSTFlag\n11/03/2024,02:00,1,Y\n"), false)
	regions := grid.DefaultRegions()
	f.Fuzz(func(t *testing.T, data []byte, eia bool) {
		fm := Format{Preset: PresetERCOTLoad, Source: "ercot-load", Regions: regions}
		if eia {
			fm.Preset, fm.Source = PresetEIA930Balance, "eia930-balance"
		}
		_, _ = Read(bytes.NewReader(data), "fuzz.csv", fm, func(row int, o schemas.GridObservation) error {
			if err := o.Validate(); err != nil {
				t.Fatalf("row %d: invalid observation handed out: %v", row, err)
			}
			if o.Time.Location() != time.UTC || row < 2 || o.IntervalSeconds != 3600 {
				t.Fatalf("row %d: %+v", row, o)
			}
			return nil
		})
	})
}
