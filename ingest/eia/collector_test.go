package eia

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/ingest"
	"github.com/hashatlas/hashatlas/ingest/eia/eiatest"
	"github.com/hashatlas/hashatlas/ingest/grid"
	"github.com/hashatlas/hashatlas/ingest/ingesttest"
	"github.com/hashatlas/hashatlas/schemas"
	"github.com/sirupsen/logrus"
)

const testKey = "TestKey0123456789abcdefABCDEF0123456789xyz"

// memTopic is the grid topic in memory: Publish encodes and decodes every message as the
// Kafka writer and reader would, and ReadGrid hands them back in publication order.
type memTopic struct {
	mu   sync.Mutex
	msgs []schemas.GridObservation
	// failAfter, when positive, makes the Publish call after that many succeed fail.
	failAfter int
	calls     int
}

func (m *memTopic) Publish(ctx context.Context, msgs ...schemas.Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	if m.failAfter > 0 && m.calls > m.failAfter {
		return errors.New("broker unavailable")
	}
	for _, msg := range msgs {
		b, err := schemas.Encode(msg)
		if err != nil {
			return err
		}
		o, err := schemas.DecodeAs[schemas.GridObservation](b)
		if err != nil {
			return err
		}
		m.msgs = append(m.msgs, o)
	}
	return nil
}

func (m *memTopic) ReadGrid(ctx context.Context, fn func(schemas.GridObservation) error) error {
	m.mu.Lock()
	msgs := append([]schemas.GridObservation(nil), m.msgs...)
	m.mu.Unlock()
	for _, o := range msgs {
		if err := fn(o); err != nil {
			return err
		}
	}
	return nil
}

func (m *memTopic) published() []schemas.GridObservation {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]schemas.GridObservation(nil), m.msgs...)
}

// value is the synthetic value of a series at an hour: distinct per respondent, code and hour.
func value(resp, code string, start time.Time) float64 {
	return float64(len(resp)*1000+len(code)*100) + float64(start.Unix()/3600%1000)
}

type harness struct {
	srv   *eiatest.Server
	topic *memTopic
	logs  *bytes.Buffer
	log   *logrus.Logger
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	srv := eiatest.New(testKey)
	t.Cleanup(srv.Close)
	var buf bytes.Buffer
	log := logrus.New()
	log.SetOutput(&buf)
	log.SetLevel(logrus.DebugLevel)
	return &harness{srv: srv, topic: &memTopic{}, logs: &buf, log: log}
}

// config is a fast test configuration: no rate limit, millisecond backoff.
func (h *harness) config(from, to time.Time) Config {
	return Config{BaseURL: h.srv.URL, APIKey: testKey, Respondents: []string{"ERCO"}, Types: []string{"D", "NG"},
		FuelTypes: []string{}, From: from, To: to,
		HTTP: ingest.HTTPConfig{RequestsPerSecond: -1, BaseBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond, MaxAttempts: 3}}
}

func (h *harness) collector(t *testing.T, cfg Config) *Collector {
	t.Helper()
	client, err := NewClient(cfg, nil, h.log)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewCollector(cfg, client, grid.DefaultRegions(), h.topic, h.topic, h.log)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var (
	day0 = utc("2024-01-01T00:00:00Z")
	day3 = day0.Add(72 * time.Hour)
)

func TestCollectorPublishesEachHourOnceAtItsStartInMWh(t *testing.T) {
	h := newHarness(t)
	h.srv.Add(eiatest.RegionDataPath, eiatest.Hourly([]string{"ERCO", "PJM"}, []string{"D", "DF", "NG", "TI"}, day0, day3, value)...)
	c := h.collector(t, h.config(day0, day3))
	if err := c.Collect(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := h.topic.published()
	if len(got) != 72*2 {
		t.Fatalf("published %d observations, want 144 (72 hours × D, NG of ERCO)", len(got))
	}
	want := schemas.GridObservation{Schema: schemas.SchemaGridObservation, Region: "ERCO", Country: "US", Time: day0,
		IntervalSeconds: 3600, Metric: schemas.GridDemand, Value: value("ERCO", "D", day0), Unit: schemas.UnitMWh, Source: "eia"}
	if got[0] != want {
		t.Fatalf("first observation %+v\nwant %+v (the row labelled 2024-01-01T01 starts at 00:00Z)", got[0], want)
	}
	seen := map[string]bool{}
	for _, o := range got {
		if seen[o.Key()] {
			t.Fatalf("key %s published twice", o.Key())
		}
		seen[o.Key()] = true
		if o.Region != "ERCO" || (o.Metric != schemas.GridDemand && o.Metric != schemas.GridNetGeneration) {
			t.Fatalf("published %s, which was not asked for", o.Key())
		}
		if o.Time.Before(day0) || !o.Time.Before(day3) {
			t.Fatalf("published %s outside [from, to)", o.Key())
		}
	}
	// The request asks for exactly the labels of the hours in [from, to), sorted totally.
	reqs := h.srv.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1 (72 hours × 2 types fit a page)", len(reqs))
	}
	q := reqs[0].Query()
	for k, v := range map[string]string{"start": "2024-01-01T01", "end": "2024-01-04T00", "frequency": "hourly", "data[0]": "value",
		"facets[respondent][]": "ERCO", "sort[0][column]": "period", "sort[0][direction]": "asc", "sort[1][column]": "respondent",
		"sort[2][column]": "type", "offset": "0", "length": "5000"} {
		if q.Get(k) != v {
			t.Errorf("request parameter %s = %q, want %q", k, q.Get(k), v)
		}
	}
	if types := q["facets[type][]"]; strings.Join(types, ",") != "D,NG" {
		t.Errorf("facets[type][] = %v, want D, NG", types)
	}
	if reqs[0].Path != "/electricity/rto/region-data/data/" {
		t.Errorf("path %s", reqs[0].Path)
	}
}

func TestCollectorPagesByOffsetUntilTheTotal(t *testing.T) {
	h := newHarness(t)
	h.srv.Add(eiatest.RegionDataPath, eiatest.Hourly([]string{"ERCO"}, []string{"D", "NG"}, day0, day3, value)...)
	cfg := h.config(day0, day3)
	cfg.PageLength, cfg.Window = 50, 30*24*time.Hour
	if err := h.collector(t, cfg).Collect(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(h.topic.published()); n != 144 {
		t.Fatalf("published %d, want 144", n)
	}
	var offsets []string
	for _, r := range h.srv.Requests() {
		offsets = append(offsets, r.Query().Get("offset"))
	}
	if strings.Join(offsets, ",") != "0,50,100" {
		t.Fatalf("offsets %v, want 0,50,100 (144 rows in pages of 50)", offsets)
	}
}

func TestCollectorSplitsABackfillIntoWindows(t *testing.T) {
	h := newHarness(t)
	h.srv.Add(eiatest.RegionDataPath, eiatest.Hourly([]string{"ERCO"}, []string{"D", "NG"}, day0, day3, value)...)
	cfg := h.config(day0, day3)
	cfg.Window = 24 * time.Hour
	if err := h.collector(t, cfg).Collect(context.Background()); err != nil {
		t.Fatal(err)
	}
	var ranges []string
	for _, r := range h.srv.Requests() {
		ranges = append(ranges, r.Query().Get("start")+".."+r.Query().Get("end"))
	}
	want := "2024-01-01T01..2024-01-02T00,2024-01-02T01..2024-01-03T00,2024-01-03T01..2024-01-04T00"
	if strings.Join(ranges, ",") != want {
		t.Fatalf("requested %v, want %s", ranges, want)
	}
	if n := len(h.topic.published()); n != 144 {
		t.Fatalf("published %d, want 144", n)
	}
}

func TestCollectorAcceptsAnEmptyPage(t *testing.T) {
	h := newHarness(t)
	if err := h.collector(t, h.config(day0, day3)).Collect(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n, r := len(h.topic.published()), len(h.srv.Requests()); n != 0 || r != 1 {
		t.Fatalf("published %d after %d requests, want 0 after 1", n, r)
	}
}

func TestASecondPassResumesAndPublishesOnlyRevisions(t *testing.T) {
	h := newHarness(t)
	h.srv.Add(eiatest.RegionDataPath, eiatest.Hourly([]string{"ERCO"}, []string{"D", "NG"}, day0, day3, value)...)
	now := day3.Add(30 * time.Minute)
	cfg := h.config(time.Time{}, time.Time{})
	cfg.Now = func() time.Time { return now }
	cfg.FirstRun = 72 * time.Hour
	if err := h.collector(t, cfg).Collect(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(h.topic.published()); n != 144 {
		t.Fatalf("first pass published %d, want 144", n)
	}
	if q := h.srv.Requests()[0].Query(); q.Get("start") != "2024-01-01T01" || q.Get("end") != "2024-01-04T00" {
		t.Fatalf("first pass asked for %s..%s, want FirstRun (72 h) before the current hour", q.Get("start"), q.Get("end"))
	}

	// EIA revises one value inside the revision window and one before it.
	revisedHour := day3.Add(-5 * time.Hour)
	if !h.srv.Set(eiatest.RegionDataPath, "ERCO", "D", revisedHour.Add(time.Hour), "99999") ||
		!h.srv.Set(eiatest.RegionDataPath, "ERCO", "D", day0.Add(time.Hour), "11111") {
		t.Fatal("rows to revise not found")
	}
	before := len(h.srv.Requests())
	h.logs.Reset()
	if err := h.collector(t, cfg).Collect(context.Background()); err != nil {
		t.Fatal(err)
	}
	reqs := h.srv.Requests()[before:]
	if len(reqs) != 1 {
		t.Fatalf("second pass made %d requests, want 1", len(reqs))
	}
	// The last published hour starts at 2024-01-03T23:00; 48 h before the hour after it.
	if q := reqs[0].Query(); q.Get("start") != "2024-01-02T01" {
		t.Fatalf("second pass started at label %s, want 2024-01-02T01 (the revision window before the last hour)", q.Get("start"))
	}
	got := h.topic.published()[144:]
	if len(got) != 1 || got[0].Value != 99999 || !got[0].Time.Equal(revisedHour) || got[0].Metric != schemas.GridDemand {
		t.Fatalf("second pass published %+v, want only the revised demand at %v", got, revisedHour)
	}
	if !strings.Contains(h.logs.String(), "source revised a published observation") || !strings.Contains(h.logs.String(), "new=\"99999 MWh in US\"") {
		t.Fatalf("the revision is not logged:\n%s", h.logs.String())
	}

	// A backfill over the whole range picks up the older revision too, and nothing else.
	cfg.From, cfg.To = day0, day3
	if err := h.collector(t, cfg).Collect(context.Background()); err != nil {
		t.Fatal(err)
	}
	got = h.topic.published()[145:]
	if len(got) != 1 || got[0].Value != 11111 || !got[0].Time.Equal(day0) {
		t.Fatalf("the backfill published %+v, want only the revised first hour", got)
	}
}

func TestCollectorRetriesA429AfterRetryAfter(t *testing.T) {
	h := newHarness(t)
	h.srv.Add(eiatest.RegionDataPath, eiatest.Hourly([]string{"ERCO"}, []string{"D", "NG"}, day0, day3, value)...)
	h.srv.Fault = func(n int, w http.ResponseWriter, r *http.Request) bool {
		if n == 0 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte(`{"error":"Too many requests","code":429}`))
			return true
		}
		return false
	}
	cfg := h.config(day0, day3)
	cfg.HTTP.MaxBackoff = 5 * time.Second
	start := time.Now()
	if err := h.collector(t, cfg).Collect(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(h.srv.Requests()); n != 2 {
		t.Fatalf("%d requests, want 2 (the 429, then the retry)", n)
	}
	if waited := time.Since(start); waited < time.Second {
		t.Fatalf("retried after %v, want at least the 1 s of Retry-After", waited)
	}
	if !regexp.MustCompile(`wait_seconds=1(\s|$)`).MatchString(h.logs.String()) {
		t.Fatalf("the retry log does not show the 1 s wait:\n%s", h.logs.String())
	}
	if n := len(h.topic.published()); n != 144 {
		t.Fatalf("published %d, want 144", n)
	}
}

func TestABadKeyFailsAtOnceWithAClearError(t *testing.T) {
	for _, status := range []int{http.StatusUnauthorized, http.StatusForbidden} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			h := newHarness(t)
			h.srv.Add(eiatest.RegionDataPath, eiatest.Hourly([]string{"ERCO"}, []string{"D", "NG"}, day0, day3, value)...)
			h.srv.Fault = func(n int, w http.ResponseWriter, r *http.Request) bool {
				if status == http.StatusUnauthorized {
					w.WriteHeader(status)
					_, _ = w.Write([]byte(`{"error":{"code":"API_KEY_INVALID","message":"An invalid api_key was supplied."}}`))
					return true
				}
				return false // the server's own answer to a wrong key: 403
			}
			cfg := h.config(day0, day3)
			cfg.APIKey = "WrongKey0123456789"
			err := h.collector(t, cfg).Collect(context.Background())
			if err == nil {
				t.Fatal("no error for a bad key")
			}
			for _, want := range []string{"eia: GET", "HTTP " + strconv.Itoa(status), "check the API key", "API_KEY_INVALID", "api_key=REDACTED"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			if n := len(h.srv.Requests()); n != 1 {
				t.Fatalf("%d requests, want exactly 1: a bad key is not retried", n)
			}
			if strings.Contains(err.Error(), "WrongKey0123456789") || strings.Contains(h.logs.String(), "WrongKey0123456789") {
				t.Fatal("the key appears in the error or the logs")
			}
		})
	}
}

func TestATruncatedPageStopsThePassKeepingEarlierPages(t *testing.T) {
	h := newHarness(t)
	h.srv.Add(eiatest.RegionDataPath, eiatest.Hourly([]string{"ERCO"}, []string{"D", "NG"}, day0, day3, value)...)
	h.srv.Fault = func(n int, w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Query().Get("offset") != "100" {
			return false
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"response":{"total":"144","frequency":"hourly","data":[{"period":"2024-01-03T03","respondent":"ERCO","ty`))
		return true
	}
	cfg := h.config(day0, day3)
	cfg.PageLength, cfg.Window = 100, 30*24*time.Hour
	err := h.collector(t, cfg).Collect(context.Background())
	if err == nil || !strings.Contains(err.Error(), "truncated") || !strings.Contains(err.Error(), "offset=100") {
		t.Fatalf("err = %v, want a truncated-JSON error naming the request at offset 100", err)
	}
	if n := len(h.topic.published()); n != 100 {
		t.Fatalf("published %d, want the 100 rows of the first page", n)
	}
	if !strings.Contains(h.logs.String(), "eia pass stopped early") {
		t.Fatalf("the stop is not logged:\n%s", h.logs.String())
	}
}

func TestTheKeyNeverAppearsInLogsOrErrors(t *testing.T) {
	scenarios := map[string]func(n int, w http.ResponseWriter, r *http.Request) bool{
		"a 500 whose body echoes the request URL, retried": func(n int, w http.ResponseWriter, r *http.Request) bool {
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = fmt.Fprintf(w, "internal error serving %s", r.URL.String())
			return true
		},
		"a 400 whose body echoes the key": func(n int, w http.ResponseWriter, r *http.Request) bool {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = fmt.Fprintf(w, `{"error":"bad request with api_key %s","code":400}`, r.URL.Query().Get("api_key"))
			return true
		},
		"a 200 whose bad row echoes the key": func(n int, w http.ResponseWriter, r *http.Request) bool {
			_, _ = fmt.Fprintf(w, `{"response":{"total":"1","data":[{"period":"%s","respondent":"ERCO","type":"D","value":"1","value-units":"megawatthours"}]}}`, r.URL.Query().Get("api_key"))
			return true
		},
		"a connection cut mid-answer": func(n int, w http.ResponseWriter, r *http.Request) bool {
			hj, ok := w.(http.Hijacker)
			if !ok {
				return false
			}
			conn, _, _ := hj.Hijack()
			_ = conn.Close()
			return true
		},
	}
	for name, fault := range scenarios {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			h.srv.Fault = fault
			err := h.collector(t, h.config(day0, day3)).Collect(context.Background())
			if err == nil {
				t.Fatal("no error")
			}
			if strings.Contains(err.Error(), testKey) {
				t.Fatalf("the key is in the error: %v", err)
			}
			if strings.Contains(h.logs.String(), testKey) {
				t.Fatalf("the key is in the logs:\n%s", h.logs.String())
			}
			if !strings.Contains(err.Error(), "eia") {
				t.Fatalf("the error %q does not name the source", err)
			}
		})
	}
}

func TestValuesTheSchemaRefusesAreSkippedAndLogged(t *testing.T) {
	h := newHarness(t)
	rows := eiatest.Hourly([]string{"ERCO"}, []string{"D", "NG"}, day0, day0.Add(3*time.Hour), value)
	rows[2].Value = "-12" // D at the second hour: negative demand
	rows[3].Null = true   // NG at the second hour: missing
	h.srv.Add(eiatest.RegionDataPath, rows...)
	if err := h.collector(t, h.config(day0, day0.Add(3*time.Hour))).Collect(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(h.topic.published()); n != 4 {
		t.Fatalf("published %d, want 4 of 6 (one negative demand refused, one missing)", n)
	}
	if l := h.logs.String(); !strings.Contains(l, "eia value refused by the grid schema") || !strings.Contains(l, "missing=1") || !strings.Contains(l, "rejected=1") {
		t.Fatalf("logs lack the refusal or the counts:\n%s", l)
	}
}

func TestAnAnswerOffTheQuestionIsABadResponse(t *testing.T) {
	cases := map[string]string{
		"another respondent": `{"period":"2024-01-01T01","respondent":"PJM","type":"D","value":"1","value-units":"megawatthours"}`,
		"another type":       `{"period":"2024-01-01T01","respondent":"ERCO","type":"TI","value":"1","value-units":"megawatthours"}`,
		"an hour after to":   `{"period":"2024-01-04T01","respondent":"ERCO","type":"D","value":"1","value-units":"megawatthours"}`,
	}
	for name, row := range cases {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			h.srv.Fault = func(n int, w http.ResponseWriter, r *http.Request) bool {
				_, _ = w.Write([]byte(`{"response":{"total":"1","frequency":"hourly","data":[` + row + `]}}`))
				return true
			}
			err := h.collector(t, h.config(day0, day3)).Collect(context.Background())
			if err == nil || !strings.Contains(err.Error(), "data[0]") {
				t.Fatalf("err = %v, want a bad-response error naming data[0]", err)
			}
			if n := len(h.topic.published()); n != 0 {
				t.Fatalf("published %d", n)
			}
		})
	}
}

func TestAKeyGivenTwiceWithDifferentValuesIsABadResponse(t *testing.T) {
	h := newHarness(t)
	row := func(v string) string {
		return `{"period":"2024-01-01T01","respondent":"ERCO","type":"D","value":"` + v + `","value-units":"megawatthours"}`
	}
	h.srv.Fault = func(n int, w http.ResponseWriter, r *http.Request) bool {
		_, _ = w.Write([]byte(`{"response":{"total":"3","frequency":"hourly","data":[` + row("5") + "," + row("5") + "," + row("6") + `]}}`))
		return true
	}
	err := h.collector(t, h.config(day0, day3)).Collect(context.Background())
	if err == nil || !strings.Contains(err.Error(), "given twice in one pass with different content") {
		t.Fatalf("err = %v", err)
	}
	if n := len(h.topic.published()); n != 0 {
		t.Fatalf("published %d, want 0: the page is refused before it is published", n)
	}
}

func TestAnEmptyPageWhileRowsRemainIsABadResponse(t *testing.T) {
	h := newHarness(t)
	h.srv.Fault = func(n int, w http.ResponseWriter, r *http.Request) bool {
		_, _ = w.Write([]byte(`{"response":{"total":"10","frequency":"hourly","data":[]}}`))
		return true
	}
	err := h.collector(t, h.config(day0, day3)).Collect(context.Background())
	if err == nil || !strings.Contains(err.Error(), "the page at offset 0 is empty but response.total is 10") {
		t.Fatalf("err = %v", err)
	}
}

func TestFuelTypeDataIsCollectedAsGenerationByFuel(t *testing.T) {
	h := newHarness(t)
	h.srv.Add(eiatest.FuelTypeDataPath, eiatest.Hourly([]string{"CISO"}, []string{"NG", "SUN", "WAT"}, day0, day0.Add(2*time.Hour), value)...)
	cfg := h.config(day0, day0.Add(2*time.Hour))
	cfg.Respondents, cfg.Types, cfg.FuelTypes = []string{"CISO"}, []string{}, []string{"NG", "SUN", "WAT"}
	if err := h.collector(t, cfg).Collect(context.Background()); err != nil {
		t.Fatal(err)
	}
	metrics := map[string]int{}
	for _, o := range h.topic.published() {
		metrics[o.Metric]++
	}
	if metrics["generation_gas"] != 2 || metrics["generation_solar"] != 2 || metrics["generation_hydro"] != 2 || len(metrics) != 3 {
		t.Fatalf("metrics %v", metrics)
	}
	q := h.srv.Requests()[0].Query()
	if q.Get("sort[2][column]") != "fueltype" || strings.Join(q["facets[fueltype][]"], ",") != "NG,SUN,WAT" {
		t.Fatalf("request %v", q)
	}
}

func TestConfigValidation(t *testing.T) {
	ok := Config{APIKey: testKey}
	cases := []struct {
		name string
		edit func(c *Config)
		want string
	}{
		{"no key", func(c *Config) { c.APIKey = "" }, "no API key"},
		{"key and key file", func(c *Config) { c.APIKeyFile = "/x" }, "not both"},
		{"a missing key file", func(c *Config) { c.APIKey, c.APIKeyFile = "", "/nonexistent/key" }, "read the API key file"},
		{"a short key", func(c *Config) { c.APIKey = "abc" }, "characters long"},
		{"a key with a space", func(c *Config) { c.APIKey = "abcdefgh ijkl" }, "position 9"},
		{"an unknown type", func(c *Config) { c.Types = []string{"X"} }, `type "X"`},
		{"an unknown fuel type", func(c *Config) { c.FuelTypes = []string{"SNB"} }, `fuel type "SNB"`},
		{"nothing to collect", func(c *Config) { c.Types, c.FuelTypes = []string{}, []string{} }, "nothing to collect"},
		{"a page over the maximum", func(c *Config) { c.PageLength = 5001 }, "1 to 5000"},
		{"from not on the hour", func(c *Config) { c.From = day0.Add(time.Minute) }, "whole hour"},
		{"from after to", func(c *Config) { c.From, c.To = day3, day0 }, "is not before"},
		{"a base url with a query", func(c *Config) { c.BaseURL = "https://x.example/v2?api_key=" + testKey }, "no query"},
		{"a lower-case respondent", func(c *Config) { c.Respondents = []string{"erco"} }, "upper case"},
	}
	if err := ok.Validate(); err != nil {
		t.Fatalf("the minimal config is refused: %v", err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.edit(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), testKey) {
				t.Fatalf("the key is in the error %q", err)
			}
		})
	}
}

func TestNewCollectorRefusesARespondentWithoutACountry(t *testing.T) {
	cfg := Config{APIKey: testKey, Respondents: []string{"ERCO", "NOPE"}}
	client, err := NewClient(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = NewCollector(cfg, client, grid.DefaultRegions(), &memTopic{}, &memTopic{}, nil)
	if err == nil || !strings.Contains(err.Error(), `respondent "NOPE" is not in the grid regions table`) {
		t.Fatalf("err = %v", err)
	}
}

func TestRequestURLCarriesTheKeyOnlyInTheQuery(t *testing.T) {
	c, err := NewClient(Config{APIKey: testKey, BaseURL: "https://api.example/v2/"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	raw := c.requestURL(Query{Route: RegionData, Respondents: []string{"PJM"}, Codes: []string{"D"}, From: day0, To: day3}, 5000)
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if u.Path != "/v2/electricity/rto/region-data/data/" || u.Query().Get("api_key") != testKey || u.Query().Get("offset") != "5000" {
		t.Fatalf("url %s", ingest.RedactURL(raw))
	}
	if shown := ingest.RedactURL(raw); strings.Contains(shown, testKey) || !strings.Contains(shown, "api_key=REDACTED") {
		t.Fatalf("RedactURL leaves the key: %s", shown)
	}
}

func TestRequestsAreRateLimitedAndTimedOut(t *testing.T) {
	t.Run("pages are spaced by the rate limit", func(t *testing.T) {
		h := newHarness(t)
		h.srv.Add(eiatest.RegionDataPath, eiatest.Hourly([]string{"ERCO"}, []string{"D", "NG"}, day0, day3, value)...)
		cfg := h.config(day0, day3)
		cfg.PageLength, cfg.Window, cfg.HTTP.RequestsPerSecond = 40, 30*24*time.Hour, 10
		start := time.Now()
		if err := h.collector(t, cfg).Collect(context.Background()); err != nil {
			t.Fatal(err)
		}
		// 144 rows in pages of 40: 4 requests, 100 ms apart at 10 per second.
		if n, took := len(h.srv.Requests()), time.Since(start); n != 4 || took < 300*time.Millisecond {
			t.Fatalf("%d requests in %v, want 4 taking at least 300 ms", n, took)
		}
	})
	t.Run("a request over the timeout fails after its attempts, naming the request", func(t *testing.T) {
		h := newHarness(t)
		h.srv.Fault = func(n int, w http.ResponseWriter, r *http.Request) bool {
			time.Sleep(300 * time.Millisecond)
			return false
		}
		cfg := h.config(day0, day3)
		cfg.HTTP.Timeout, cfg.HTTP.MaxAttempts = 100*time.Millisecond, 2
		err := h.collector(t, cfg).Collect(context.Background())
		timedOut := err != nil && (strings.Contains(err.Error(), "Client.Timeout") || strings.Contains(err.Error(), "deadline exceeded"))
		if !timedOut || !strings.Contains(err.Error(), "eia: GET http://") {
			t.Fatalf("err = %v, want a timeout naming the request", err)
		}
		if n := len(h.srv.Requests()); n != 2 {
			t.Fatalf("%d requests, want 2 (a timeout is retried up to MaxAttempts)", n)
		}
	})
}

func TestWarningsInAnAnswerAreLogged(t *testing.T) {
	h := newHarness(t)
	// The first answer carries the "incomplete return" warning with 1 row of 12000; the next
	// page comes back empty, which ends the pass with an error.
	h.srv.Fault = func(n int, w http.ResponseWriter, r *http.Request) bool {
		if n == 0 {
			_, _ = w.Write(ingesttest.Fixture(t, "warnings_page.json"))
		} else {
			_, _ = w.Write([]byte(`{"response":{"total":"12000","frequency":"hourly","data":[]}}`))
		}
		return true
	}
	cfg := h.config(utc("2024-01-01T00:00:00Z"), utc("2024-01-01T01:00:00Z"))
	cfg.Respondents = []string{"PJM"}
	err := h.collector(t, cfg).Collect(context.Background())
	if err == nil || !strings.Contains(err.Error(), "the page at offset 1 is empty but response.total is 12000") {
		t.Fatalf("err = %v", err)
	}
	if l := h.logs.String(); !strings.Contains(l, "eia answered with a warning") || !strings.Contains(l, "incomplete return") {
		t.Fatalf("the warning is not logged:\n%s", l)
	}
	if n := len(h.topic.published()); n != 1 {
		t.Fatalf("published %d, want the first page's row", n)
	}
}
