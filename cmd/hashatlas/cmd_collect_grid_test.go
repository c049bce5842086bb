package main

import (
	"context"
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
