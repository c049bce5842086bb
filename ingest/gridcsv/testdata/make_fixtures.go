//go:build ignore

// make_fixtures writes eia930_balance.csv and ercot_load.csv, the preset fixtures (values made
// up, layout as published: see README.md). Run from ingest/gridcsv:
//
//	go run testdata/make_fixtures.go
package main

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"
)

func main() {
	write("testdata/eia930_balance.csv", eia930())
	write("testdata/ercot_load.csv", ercot())
}

func write(path, body string) {
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		panic(err)
	}
}

// thousands writes n as EIA-930 files do: integers with thousands separators ("41,234",
// "-2,345"); "" stays empty.
func thousands(n int) string {
	s := strconv.Itoa(abs(n))
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if n < 0 {
		return "-" + b.String()
	}
	return b.String()
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// eiaClock writes a time as the files do: "11/03/2024 1:00:00 AM".
func eiaClock(t time.Time) string { return t.Format("01/02/2006 3:04:05 PM") }

// The columns of a BALANCE file of 2024 H2 (the reported values, EIA's imputed and adjusted
// series, a few per-fuel adjusted columns with the spellings EIA gives them, and Region).
var eiaHeader = []string{
	"Balancing Authority", "Data Date", "Hour Number", "Local Time at End of Hour", "UTC Time at End of Hour",
	"Demand Forecast (MW)", "Demand (MW)", "Net Generation (MW)", "Total Interchange (MW)", "Sum(Valid DIBAs) (MW)",
	"Demand (MW) (Imputed)", "Net Generation (MW) (Imputed)", "Total Interchange (MW) (Imputed)",
	"Demand (MW) (Adjusted)", "Net Generation (MW) (Adjusted)", "Total Interchange (MW) (Adjusted)",
	"Net Generation (MW) from Coal", "Net Generation (MW) from Natural Gas", "Net Generation (MW) from Nuclear",
	"Net Generation (MW) from All Petroleum Products", "Net Generation (MW) from Hydropower Excluding Pumped Storage",
	"Net Generation (MW) from Solar without Integrated Battery Storage", "Net Generation (MW) from Solar with Integrated Battery Storage",
	"Net Generation (MW) from Wind without Integrated Battery Storage", "Net Generation (MW) from Wind with Integrated Battery Storage",
	"Net Generation (MW) from Battery Storage", "Net Generation (MW) from Pumped Storage ", "Net Generation (MW) from Other Energy Storage",
	"Net Generation (MW) from Unknown Energy Storage", "Net Generation (MW) from Geothermal", "Net Generation (MW) from Other Fuel Sources",
	"Net Generation (MW) from Unknown Fuel Sources",
	"Net Generation (MW) from Coal (Adjusted)", "Net Generation (MW) from Solar witho Integrated Battery Storage (Adjusted)",
	"Net Generation (MW) from Pumped Storage  (Adjusted)", "Region",
}

func eia930() string {
	var b strings.Builder
	row := func(fields []string) {
		for i, f := range fields {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Quote(f))
		}
		b.WriteString("\r\n")
	}
	row(eiaHeader)
	first := time.Date(2024, 11, 3, 0, 0, 0, 0, time.UTC) // the end of the first hour
	type ba struct {
		code, zone, region string
		hours              int
	}
	for _, a := range []ba{{"ERCO", "America/Chicago", "TEX", 48}, {"PJM", "America/New_York", "MIDA", 48}, {"SEPA", "America/New_York", "SE", 2}} {
		loc, err := time.LoadLocation(a.zone)
		if err != nil {
			panic(err)
		}
		for i := 0; i < a.hours; i++ {
			end := first.Add(time.Duration(i) * time.Hour)
			local := end.In(loc)
			// The local day the hour belongs to, and its number in that day (1 to 25).
			dayStart := local.Add(-time.Hour)
			day := time.Date(dayStart.Year(), dayStart.Month(), dayStart.Day(), 0, 0, 0, 0, loc)
			hourNumber := int(end.Sub(day) / time.Hour)
			v := map[string]string{
				"Balancing Authority": a.code, "Data Date": day.Format("01/02/2006"), "Hour Number": strconv.Itoa(hourNumber),
				"Local Time at End of Hour": eiaClock(local), "UTC Time at End of Hour": eiaClock(end), "Region": a.region,
			}
			var demand, forecast, ng int
			var fuels map[string]string
			switch a.code {
			case "ERCO":
				demand, forecast, ng = 40000+37*i, 40500+37*i, 41234+37*i
				fuels = map[string]string{"Coal": thousands(10000 + i), "Natural Gas": thousands(20000 + 30*i), "Nuclear": "5,100",
					"All Petroleum Products": "", "Hydropower Excluding Pumped Storage": "60",
					"Solar without Integrated Battery Storage": thousands(3000 + i), "Solar with Integrated Battery Storage": "12",
					"Wind without Integrated Battery Storage": thousands(2000 + 6*i), "Wind with Integrated Battery Storage": "0",
					"Battery Storage": strconv.Itoa(-25 + i), "Pumped Storage ": "0", "Other Energy Storage": "",
					"Unknown Energy Storage": "0", "Geothermal": "", "Other Fuel Sources": "150", "Unknown Fuel Sources": ""}
			case "PJM":
				demand, forecast, ng = 90000+53*i, 91000+53*i, 87655+53*i
				fuels = map[string]string{"Coal": thousands(15000 + 2*i), "Natural Gas": thousands(35000 + 40*i), "Nuclear": "32,000",
					"All Petroleum Products": "150", "Hydropower Excluding Pumped Storage": "1,100",
					"Solar without Integrated Battery Storage": strconv.Itoa(400 + i), "Solar with Integrated Battery Storage": "",
					"Wind without Integrated Battery Storage": thousands(2500 + 3*i), "Wind with Integrated Battery Storage": "",
					"Battery Storage": "-5", "Pumped Storage ": strconv.Itoa(-150 + 10*i), "Other Energy Storage": "",
					"Unknown Energy Storage": "", "Geothermal": "", "Other Fuel Sources": "300", "Unknown Fuel Sources": "7"}
			case "SEPA": // a generation-only authority, not in the regions table
				ng = 1050 + i
				fuels = map[string]string{"Hydropower Excluding Pumped Storage": thousands(ng)}
			}
			if a.code != "SEPA" {
				v["Demand (MW)"], v["Demand Forecast (MW)"] = thousands(demand), thousands(forecast)
				v["Demand (MW) (Imputed)"], v["Demand (MW) (Adjusted)"] = thousands(demand), thousands(demand+7)
			}
			v["Net Generation (MW)"], v["Net Generation (MW) (Imputed)"], v["Net Generation (MW) (Adjusted)"] = thousands(ng), thousands(ng), thousands(ng+7)
			ti := ng - demand
			v["Total Interchange (MW)"], v["Total Interchange (MW) (Imputed)"], v["Total Interchange (MW) (Adjusted)"] = thousands(ti), thousands(ti), thousands(ti)
			v["Sum(Valid DIBAs) (MW)"] = thousands(ti)
			// EIA-930 has empty and implausible hours: ERCO's forecast is missing at one, PJM
			// reports a negative demand at another.
			if a.code == "ERCO" && i == 5 {
				v["Demand Forecast (MW)"] = ""
			}
			if a.code == "PJM" && i == 10 {
				v["Demand (MW)"] = "-5"
			}
			for src, x := range fuels {
				v["Net Generation (MW) from "+src] = x
			}
			v["Net Generation (MW) from Coal (Adjusted)"] = v["Net Generation (MW) from Coal"]
			v["Net Generation (MW) from Solar witho Integrated Battery Storage (Adjusted)"] = v["Net Generation (MW) from Solar with Integrated Battery Storage"]
			v["Net Generation (MW) from Pumped Storage  (Adjusted)"] = v["Net Generation (MW) from Pumped Storage "]
			fields := make([]string, len(eiaHeader))
			for k, h := range eiaHeader {
				fields[k] = v[h]
			}
			row(fields)
		}
	}
	return b.String()
}

// ercotZones are the weather zones of the native load archives and their share of the load.
var ercotZones = []struct {
	name  string
	share float64
}{{"COAST", 0.27}, {"EAST", 0.04}, {"FWEST", 0.09}, {"NORTH", 0.02}, {"NCENT", 0.30}, {"SOUTH", 0.08}, {"SCENT", 0.14}, {"WEST", 0}}

func ercot() string {
	var b strings.Builder
	b.WriteString("OperDay,HourEnding,COAST,EAST,FWEST,NORTH,NCENT,SOUTH,SCENT,WEST,ERCOT,DSTFlag\r\n")
	days := []string{"03/09/2024", "03/10/2024", "03/11/2024", "11/02/2024", "11/03/2024", "11/04/2024"}
	for d, day := range days {
		for he := 1; he <= 24; he++ {
			flags := []string{"N"}
			switch {
			case day == "03/10/2024" && he == 3: // the clock skips 02:00: no hour ending 03:00
				continue
			case day == "11/03/2024" && he == 2: // the clock reads 01:00 twice
				flags = []string{"N", "Y"}
			}
			for _, flag := range flags {
				// The total says where the row is: 40000 + 1000 × day + 10 × hour ending,
				// + 5 on the repeated hour.
				total := 40000 + 1000*d + 10*he
				if flag == "Y" {
					total += 5
				}
				fmt.Fprintf(&b, "%s,%02d:00", day, he)
				rest := float64(total)
				for _, z := range ercotZones {
					x := rest
					if z.share > 0 {
						x = math.Round(float64(total)*z.share*100) / 100
					}
					rest -= x
					cell := strconv.FormatFloat(x, 'f', 2, 64)
					if day == "11/04/2024" && he == 7 && z.name == "SCENT" {
						cell = "" // a zone without a value: not read
					}
					b.WriteString("," + cell)
				}
				fmt.Fprintf(&b, ",%d.00,%s\r\n", total, flag)
			}
		}
	}
	return b.String()
}
