package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/ingest/eia/eiatest"
	"github.com/hashatlas/hashatlas/schemas"
	"github.com/hashatlas/hashatlas/sinks/kafka"
)

const gridTestKey = "CmdTestKey0123456789abcdefABCDEF01234567"

// gridMessages reads the grid topic and returns its observations by key, failing on a key
// that does not match its message.
func gridMessages(t *testing.T, brokers string) (map[string]schemas.GridObservation, int) {
	t.Helper()
	cfg := kafka.DefaultConfig()
	cfg.Brokers = []string{brokers}
	tr, err := kafka.NewTopicReader(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out := map[string]schemas.GridObservation{}
	n, err := tr.ReadAll(ctx, []string{schemas.TopicGrid}, func(r kafka.Record) error {
		o := *r.Message.(*schemas.GridObservation)
		if string(r.Key) != o.Key() {
			t.Errorf("record key %q, message key %q", r.Key, o.Key())
		}
		out[o.Key()] = o
		return nil
	}, func(r kafka.Record, err error) { t.Errorf("undecodable record at offset %d: %v", r.Offset, err) })
	if err != nil {
		t.Fatal(err)
	}
	return out, n
}

func gridValue(resp, code string, start time.Time) float64 {
	return float64(len(resp)*1000+len(code)*10) + float64(start.Unix()/3600%500)/4
}

// TestCollectEIAEndToEnd runs `collect eia --once` against a local stand-in of the API and a
// Kafka broker, and reads the grid topic back: every hour of the range once, keyed, at the
// hour's start, with the values served; a second run publishes nothing; a run without --from
// resumes and publishes only the value EIA revised.
func TestCollectEIAEndToEnd(t *testing.T) {
	broker, err := kafka.StartEmbedded(0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	api := eiatest.New(gridTestKey)
	defer api.Close()
	from := time.Date(2024, 3, 9, 0, 0, 0, 0, time.UTC)
	to := from.Add(48 * time.Hour)
	api.Add(eiatest.RegionDataPath, eiatest.Hourly([]string{"ERCO", "PJM", "MISO"}, []string{"D", "NG", "TI"}, from, to.Add(24*time.Hour), gridValue)...)
	api.Add(eiatest.FuelTypeDataPath, eiatest.Hourly([]string{"ERCO", "PJM"}, []string{"SUN", "WND"}, from, to, gridValue)...)

	env := map[string]string{"HASHATLAS_EIA_API_KEY": gridTestKey}
	args := []string{"collect", "eia", "--once", "--log.level=warn", "--kafka.brokers=" + broker.Addr(),
		"--eia.url=" + api.URL, "--eia.requests-per-second=-1", "--eia.respondents=ERCO,PJM", "--eia.types=D,NG",
		"--eia.fuel-types=SUN", "--from=2024-03-09", "--to=" + to.Format(time.RFC3339)}
	code, _, stderr := runCmd(t, env, args...)
	if code != exitOK {
		t.Fatalf("collect eia: exit %d: %s", code, stderr)
	}
	if strings.Contains(stderr, gridTestKey) {
		t.Fatal("the API key is in the output")
	}
	got, n := gridMessages(t, broker.Addr())
	// 48 hours × (ERCO, PJM) × (D, NG, SUN).
	if n != 48*2*3 || len(got) != n {
		t.Fatalf("%d records, %d keys on the grid topic; want 288 each", n, len(got))
	}
	for _, resp := range []string{"ERCO", "PJM"} {
		for _, c := range []struct{ code, metric string }{{"D", "demand"}, {"NG", "net_generation"}, {"SUN", "generation_solar"}} {
			for h := 0; h < 48; h++ {
				start := from.Add(time.Duration(h) * time.Hour)
				want := schemas.GridObservation{Schema: schemas.SchemaGridObservation, Region: resp, Country: "US", Time: start,
					IntervalSeconds: 3600, Metric: c.metric, Value: gridValue(resp, c.code, start), Unit: "MWh", Source: "eia"}
				if o, ok := got[want.Key()]; !ok || o != want {
					t.Fatalf("%s: got %+v, want %+v", want.Key(), o, want)
				}
			}
		}
	}

	// The same backfill again publishes nothing.
	if code, _, stderr := runCmd(t, env, args...); code != exitOK {
		t.Fatalf("second run: exit %d: %s", code, stderr)
	}
	if _, n2 := gridMessages(t, broker.Addr()); n2 != n {
		t.Fatalf("a second identical run added %d records", n2-n)
	}

	// EIA revises PJM's demand of the last hour; a pass without --from resumes at the topic's
	// last hour (minus a 5 h revision window) and publishes just that.
	last := to.Add(-time.Hour)
	if !api.Set(eiatest.RegionDataPath, "PJM", "D", to, "12345.5") {
		t.Fatal("row to revise not found")
	}
	before := len(api.Requests())
	resume := append([]string(nil), args[:len(args)-2]...)
	resume = append(resume, "--to="+to.Format(time.RFC3339), "--eia.revision-window=5h")
	if code, _, stderr := runCmd(t, env, resume...); code != exitOK {
		t.Fatalf("resume run: exit %d: %s", code, stderr)
	}
	if len(api.Requests()) == before {
		t.Fatal("the resume pass made no request")
	}
	for _, r := range api.Requests()[before:] {
		if s := r.Query().Get("start"); s != "2024-03-10T20" {
			t.Fatalf("the resume pass started at label %s, want 2024-03-10T20 (the 5 h revision window before the hour after %v)", s, last)
		}
	}
	got, n3 := gridMessages(t, broker.Addr())
	if n3 != n+1 {
		t.Fatalf("the resume run added %d records, want 1 (the revision)", n3-n)
	}
	key := schemas.GridObservation{Region: "PJM", Metric: "demand", Source: "eia", IntervalSeconds: 3600, Time: last}.Key()
	if got[key].Value != 12345.5 {
		t.Fatalf("%s = %v after the revision, want 12345.5", key, got[key].Value)
	}
}

func TestCollectEIAWithABadKeyFailsInOneLineWithoutRetrying(t *testing.T) {
	api := eiatest.New(gridTestKey)
	defer api.Close()
	keyFile := filepath.Join(t.TempDir(), "eia.key")
	if err := os.WriteFile(keyFile, []byte("WrongKey0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCmd(t, nil, "collect", "eia", "--once", "--log.level=error", "--kafka.embedded", "--kafka.embedded-port=0",
		"--eia.url="+api.URL, "--eia.api-key-file="+keyFile, "--eia.respondents=ERCO", "--eia.fuel-types=",
		"--from=2024-01-01", "--to=2024-01-02")
	if code != exitFailed {
		t.Fatalf("exit %d, want %d: %s", code, exitFailed, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	last := lines[len(lines)-1]
	for _, want := range []string{"hashatlas collect: collector eia: eia: GET", "HTTP 403", "check the API key", "api_key=REDACTED"} {
		if !strings.Contains(last, want) {
			t.Errorf("last stderr line %q lacks %q", last, want)
		}
	}
	if strings.Contains(stderr, "WrongKey0123456789abcdef") {
		t.Fatal("the key is printed")
	}
	if n := len(api.Requests()); n != 1 {
		t.Fatalf("%d requests, want 1: a refused key is not retried", n)
	}
}

func TestCollectEIAConfigErrorsNameTheFlagsAndMaskTheKey(t *testing.T) {
	code, stdout, _ := runCmd(t, map[string]string{"HASHATLAS_EIA_API_KEY": gridTestKey}, "collect", "eia", "--check-config")
	if code != exitOK || strings.Contains(stdout, gridTestKey) || !strings.Contains(stdout, "eia.api-key=***\t# env HASHATLAS_EIA_API_KEY") {
		t.Fatalf("exit %d; check-config must mask the key:\n%s", code, stdout)
	}
	// (The variable set above lasts the whole test: empty it.)
	code, _, stderr := runCmd(t, map[string]string{"HASHATLAS_EIA_API_KEY": ""}, "collect", "eia", "--check-config")
	if code != exitUsage || !strings.Contains(stderr, "--eia.*") || !strings.Contains(stderr, "no API key") {
		t.Fatalf("exit %d, stderr %q: want a usage error naming the eia flags", code, stderr)
	}
	code, _, stderr = runCmd(t, map[string]string{"HASHATLAS_EIA_API_KEY": gridTestKey}, "collect", "eia", "--eia.types=X", "--check-config")
	if code != exitUsage || !strings.Contains(stderr, `type "X"`) {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	code, _, stderr = runCmd(t, map[string]string{"HASHATLAS_EIA_API_KEY": gridTestKey}, "collect", "eia", "--from=yesterday", "--check-config")
	if code != exitUsage || !strings.Contains(stderr, "--from") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}

func TestCollectGridCSVEndToEnd(t *testing.T) {
	broker, err := kafka.StartEmbedded(0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	path := filepath.Join(t.TempDir(), "kegoc.csv")
	body := "Zone,Hour ending (Almaty),Load MW\nKZ,2024-01-01 01:00,12000\nKZ,2024-01-01 02:00,11800.5\nKZ,2024-01-01 03:00,\n"
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"collect", "grid-csv", "--once", "--log.level=warn", "--kafka.brokers=" + broker.Addr(),
		"--gridcsv.file=" + path, "--gridcsv.columns=region=Zone,time=Hour ending (Almaty),value=Load MW",
		"--gridcsv.metric=demand", "--gridcsv.unit=MW", "--gridcsv.time-format=2006-01-02 15:04",
		"--gridcsv.time-zone=Asia/Almaty", "--gridcsv.time-label=end", "--gridcsv.source-name=kegoc"}
	for run := 0; run < 2; run++ {
		if code, _, stderr := runCmd(t, nil, args...); code != exitOK {
			t.Fatalf("run %d: exit %d: %s", run, code, stderr)
		}
	}
	got, n := gridMessages(t, broker.Addr())
	if n != 2 {
		t.Fatalf("%d records after two runs, want 2 (two rows with values, each once)", n)
	}
	almaty, err := time.LoadLocation("Asia/Almaty")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range got {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	first := got[keys[0]]
	// The hour ending 01:00 in Almaty starts at midnight there.
	wantStart := time.Date(2024, 1, 1, 0, 0, 0, 0, almaty).UTC()
	if !first.Time.Equal(wantStart) || first.Region != "KZ" || first.Country != "KZ" || first.Value != 12000 || first.Unit != "MW" || first.Source != "kegoc" {
		t.Fatalf("first observation %+v, want KZ demand 12000 MW from %v", first, wantStart)
	}
}

// presetFixture is a fixture of the grid-csv presets (ingest/gridcsv/testdata).
func presetFixture(name string) string {
	return filepath.Join("..", "..", "ingest", "gridcsv", "testdata", name)
}

// gridRow is one grid_observations_latest row.
type gridRow struct {
	region, metric string
	start          time.Time
	value          float64
	unit, country  string
	interval       uint32
}

// TestCollectGridCSVPresetsThroughKafkaIntoClickHouse runs `collect grid-csv --once` on the
// two preset fixtures as operators publish them (an EIA-930 BALANCE file, ERCOT's hourly load
// by weather zone), twice each, into a Kafka broker, then `estimate --until-idle` into
// ClickHouse, and reads grid_observations back: every value of the files once, under the
// preset's source, in MW, at the UTC START of its hour (EIA's "UTC Time at End of Hour" minus
// one hour; ERCOT's hour ending in US Central time, "24:00" the hour before midnight, the
// repeated hour of the fall-back day by DSTFlag, no hour ending 03:00 the day the clock springs
// forward).
func TestCollectGridCSVPresetsThroughKafkaIntoClickHouse(t *testing.T) {
	broker, err := kafka.StartEmbedded(0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	db := fmt.Sprintf("hashatlas_gridcsv_%d", rand.Uint64()%1_000_000_000)
	dropDatabaseAtEnd(t, db)
	kafkaArg := "--kafka.brokers=" + broker.Addr()
	for _, c := range []struct{ preset, file string }{{"eia930-balance", "eia930_balance.csv"}, {"ercot-load", "ercot_load.csv"}} {
		args := []string{"collect", "grid-csv", "--once", "--log.level=error", kafkaArg,
			"--gridcsv.preset=" + c.preset, "--gridcsv.file=" + presetFixture(c.file)}
		for run := 0; run < 2; run++ {
			if code, _, stderr := runCmd(t, nil, args...); code != exitOK {
				t.Fatalf("collect grid-csv --gridcsv.preset=%s, run %d: exit %d: %s", c.preset, run, code, stderr)
			}
		}
	}
	// 1396 EIA-930 values (gridcsv's TestReadEIA930Balance counts them) and 144 ERCOT hours,
	// each once after two runs.
	if _, n := gridMessages(t, broker.Addr()); n != 1396+144 {
		t.Fatalf("%d records on the grid topic after two runs of each file, want 1540", n)
	}
	chArgs := []string{"--clickhouse.addr=" + testClickHouseAddr(), "--clickhouse.database=" + db}
	estimateUntilIdle(t, kafkaArg, chArgs)
	conn := openTestDB(t, db)
	rows := map[string][]gridRow{}
	for _, r := range queryRows(t, conn, "SELECT source, region, metric, toUnixTimestamp(time), value, unit, country, interval_seconds FROM grid_observations_latest ORDER BY source, region, metric, time") {
		rows[r[0].(string)] = append(rows[r[0].(string)], gridRow{region: r[1].(string), metric: r[2].(string),
			start: time.Unix(int64(r[3].(uint32)), 0).UTC(), value: r[4].(float64), unit: r[5].(string), country: r[6].(string), interval: r[7].(uint32)})
	}
	if len(rows) != 2 || len(rows["eia930-balance"]) != 1396 || len(rows["ercot-load"]) != 144 {
		t.Fatalf("rows by source: eia930-balance %d, ercot-load %d, %d sources; want 1396, 144 and no other", len(rows["eia930-balance"]), len(rows["ercot-load"]), len(rows))
	}
	index := func(source string) map[string]gridRow {
		out := map[string]gridRow{}
		for _, r := range rows[source] {
			if r.unit != "MW" || r.country != "US" || r.interval != 3600 {
				t.Fatalf("%s row %+v: want MW, US, 3600 s", source, r)
			}
			out[r.region+"|"+r.metric+"|"+r.start.Format(time.RFC3339)] = r
		}
		return out
	}

	// EIA-930: the hour ENDING 2024-11-03 00:00 UTC is the first, from 2024-11-02 23:00.
	eia := index("eia930-balance")
	first := time.Date(2024, 11, 2, 23, 0, 0, 0, time.UTC)
	for h := 0; h < 48; h++ {
		start := first.Add(time.Duration(h) * time.Hour)
		at := "|" + start.Format(time.RFC3339)
		// Demand "40,000" + 37 an hour (ERCO), "90,000" + 53 (PJM, whose hour 10 says "-5":
		// skipped); interchange "1,234" (ERCO) and "-2,345" (PJM).
		if r, ok := eia["ERCO|demand"+at]; !ok || r.value != float64(40000+37*h) {
			t.Fatalf("ERCO demand from %s: %+v (present %v), want %d", start, r, ok, 40000+37*h)
		}
		if r, ok := eia["PJM|demand"+at]; h != 10 && (!ok || r.value != float64(90000+53*h)) || h == 10 && ok {
			t.Fatalf("PJM demand from %s: %+v (present %v), want %d (none at hour 10)", start, r, ok, 90000+53*h)
		}
		if eia["ERCO|interchange"+at].value != 1234 || eia["PJM|interchange"+at].value != -2345 {
			t.Fatalf("interchange from %s: ERCO %+v, PJM %+v", start, eia["ERCO|interchange"+at], eia["PJM|interchange"+at])
		}
		// Solar: the columns without and with integrated battery storage, summed.
		if r := eia["ERCO|generation_solar"+at]; r.value != float64(3000+h+12) {
			t.Fatalf("ERCO solar from %s: %+v, want %d", start, r, 3000+h+12)
		}
	}
	for key, want := range map[string]float64{
		"ERCO|demand_forecast|2024-11-02T23:00:00Z":          40500,
		"ERCO|net_generation|2024-11-02T23:00:00Z":           41234,
		"ERCO|generation_coal|2024-11-03T00:00:00Z":          10001,
		"ERCO|generation_battery|2024-11-02T23:00:00Z":       -25,
		"PJM|generation_pumped_storage|2024-11-03T09:00:00Z": -50,
		"SEPA|generation_hydro|2024-11-03T00:00:00Z":         1051,
	} {
		if r, ok := eia[key]; !ok || r.value != want {
			t.Errorf("%s: %+v (present %v), want %v", key, r, ok, want)
		}
	}
	for _, key := range []string{"ERCO|demand_forecast|2024-11-03T04:00:00Z", "ERCO|generation_oil|2024-11-02T23:00:00Z", "ERCO|demand|2024-11-04T23:00:00Z"} {
		if r, ok := eia[key]; ok {
			t.Errorf("%s: %+v, want no row (an empty cell, or past the file)", key, r)
		}
	}

	// ERCOT: region ERCO's demand, the row's total (40000 + 1000 × day + 10 × hour ending, + 5
	// on the repeated hour), every hour of the six days once.
	ercot := index("ercot-load")
	for start, want := range map[string]float64{
		"2024-03-09T06:00:00Z": 40010, // 03/09 01:00 CST
		"2024-03-10T05:00:00Z": 40240, // 03/09 24:00: the hour before midnight
		"2024-03-10T07:00:00Z": 41020, // 03/10 02:00, the last hour of CST
		"2024-03-10T08:00:00Z": 41040, // 03/10 04:00, the first of CDT (no 03:00)
		"2024-03-11T04:00:00Z": 41240, // 03/10 24:00 CDT
		"2024-11-03T05:00:00Z": 44010, // 11/03 01:00 CDT
		"2024-11-03T06:00:00Z": 44020, // 11/03 02:00 DSTFlag N
		"2024-11-03T07:00:00Z": 44025, // 11/03 02:00 DSTFlag Y
		"2024-11-03T08:00:00Z": 44030, // 11/03 03:00 CST
		"2024-11-04T05:00:00Z": 44240, // 11/03 24:00 CST
		"2024-11-05T05:00:00Z": 45240, // 11/04 24:00, the last row
	} {
		if r, ok := ercot["ERCO|demand|"+start]; !ok || r.value != want {
			t.Errorf("ERCO demand from %s: %+v (present %v), want %v", start, r, ok, want)
		}
	}
	var hours []time.Time
	for _, r := range rows["ercot-load"] {
		if r.region != "ERCO" || r.metric != "demand" {
			t.Fatalf("ercot-load row %+v: want ERCO's demand alone (the weather zones are not read)", r)
		}
		hours = append(hours, r.start)
	}
	for i, h := range hours {
		// Hours follow one another from 03/09 06:00Z for 24 + 23 + 24 and from 11/02 05:00Z for
		// 24 + 25 + 24.
		want := time.Date(2024, 3, 9, 6, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Hour)
		if i >= 71 {
			want = time.Date(2024, 11, 2, 5, 0, 0, 0, time.UTC).Add(time.Duration(i-71) * time.Hour)
		}
		if !h.Equal(want) {
			t.Fatalf("ERCOT hour %d starts %s, want %s", i, h, want)
		}
	}
}

// TestCollectGridCSVPresetErrorsNameTheFlag: an unknown preset, a setting a preset fixes, and
// a file whose header is not the preset's are each one line naming the flag.
func TestCollectGridCSVPresetErrorsNameTheFlag(t *testing.T) {
	file := "--gridcsv.file=" + presetFixture("ercot_load.csv")
	code, _, stderr := runCmd(t, nil, "collect", "grid-csv", file, "--gridcsv.preset=caiso", "--check-config")
	if code != exitUsage || strings.Count(strings.TrimSpace(stderr), "\n") != 0 ||
		!strings.Contains(stderr, `invalid --gridcsv.preset "caiso" (env HASHATLAS_GRIDCSV_PRESET): want one of hashatlas, eia930-balance, ercot-load`) {
		t.Fatalf("unknown preset: exit %d, stderr %q", code, stderr)
	}
	code, stdout, stderr := runCmd(t, map[string]string{"HASHATLAS_GRIDCSV_PRESET": "ercot-load"}, "collect", "grid-csv", file, "--check-config")
	if code != exitOK || !strings.Contains(stdout, "gridcsv.preset=ercot-load\t# env HASHATLAS_GRIDCSV_PRESET") || !strings.Contains(stdout, "gridcsv.source-name=\t# default") {
		t.Fatalf("preset from the environment: exit %d, %s\n%s", code, stderr, stdout)
	}
	code, _, stderr = runCmd(t, map[string]string{"HASHATLAS_GRIDCSV_PRESET": ""}, "collect", "grid-csv", file, "--gridcsv.preset=ercot-load",
		"--gridcsv.time-zone=America/Chicago", "--check-config")
	if code != exitUsage || strings.Count(strings.TrimSpace(stderr), "\n") != 0 ||
		!strings.Contains(stderr, `invalid --gridcsv.time-zone "America/Chicago" (env HASHATLAS_GRIDCSV_TIME_ZONE): does not apply to --gridcsv.preset=ercot-load`) {
		t.Fatalf("a time zone with a preset: exit %d, stderr %q", code, stderr)
	}

	// The ERCOT file read as EIA-930: the pass fails at the header, in one line that names the
	// preset, its flag and the columns the file lacks.
	code, _, stderr = runCmd(t, nil, "collect", "grid-csv", "--once", "--log.level=error", "--kafka.embedded", "--kafka.embedded-port=0",
		file, "--gridcsv.preset=eia930-balance")
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	last := lines[len(lines)-1]
	if code != exitFailed {
		t.Fatalf("exit %d, want %d: %s", code, exitFailed, stderr)
	}
	for _, want := range []string{"collector grid-csv", "ercot_load.csv row 1: the header does not match preset eia930-balance",
		`it lacks "Balancing Authority", "UTC Time at End of Hour", "Demand (MW)", "Demand Forecast (MW)", "Net Generation (MW)", "Total Interchange (MW)"`,
		"it has COAST, DSTFlag, EAST, ERCOT,", "(read as --gridcsv.preset=eia930-balance, env HASHATLAS_GRIDCSV_PRESET; presets: hashatlas, eia930-balance, ercot-load)"} {
		if !strings.Contains(last, want) {
			t.Errorf("last stderr line %q lacks %q", last, want)
		}
	}
}
