package gridcsv

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/ingest"
	"github.com/hashatlas/hashatlas/ingest/grid"
	"github.com/hashatlas/hashatlas/ingest/ingesttest"
	"github.com/hashatlas/hashatlas/schemas"
	"github.com/sirupsen/logrus"
)

// memTopic is the grid topic in memory (Publisher and grid.Log), through the JSON codec.
type memTopic struct{ msgs []schemas.GridObservation }

func (m *memTopic) Publish(ctx context.Context, msgs ...schemas.Message) error {
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
	for _, o := range m.msgs {
		if err := fn(o); err != nil {
			return err
		}
	}
	return nil
}

func newCollector(t *testing.T, cfg Config, tp *memTopic) (*Collector, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	log := logrus.New()
	log.SetOutput(&logs)
	cfg.HTTP = ingest.HTTPConfig{RequestsPerSecond: -1, BaseBackoff: time.Millisecond, MaxBackoff: 5 * time.Second, MaxAttempts: 3}
	c, err := NewCollector(cfg, grid.DefaultRegions(), tp, tp, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	return c, &logs
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "series.csv")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestAFilePassPublishesEachRowOnceAndThenOnlyChanges(t *testing.T) {
	path := writeFile(t, string(ingesttest.Fixture(t, "default_columns.csv")))
	tp := &memTopic{}
	c, _ := newCollector(t, Config{Location: path}, tp)
	if err := c.Collect(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(tp.msgs) != 5 {
		t.Fatalf("published %d, want the 5 rows with values", len(tp.msgs))
	}
	if err := c.Collect(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(tp.msgs) != 5 {
		t.Fatalf("a second pass over the same file published %d more", len(tp.msgs)-5)
	}
	// The operator corrects a value and appends an hour.
	body := strings.Replace(string(ingesttest.Fixture(t, "default_columns.csv")), "41234", "41000", 1) +
		"ERCO,2024-01-01T02:00:00Z,demand,39000,MWh\n"
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	c, logs := newCollector(t, Config{Location: path}, tp)
	if err := c.Collect(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := tp.msgs[5:]
	if len(got) != 2 || got[0].Value != 41000 || got[1].Value != 39000 {
		t.Fatalf("third pass published %+v, want the correction and the new hour", got)
	}
	if !strings.Contains(logs.String(), "source revised a published observation") || !strings.Contains(logs.String(), "revised=1") {
		t.Fatalf("the correction is not logged as a revision:\n%s", logs.String())
	}
}

func TestABadRowStopsThePassAfterPublishingTheRowsBeforeIt(t *testing.T) {
	path := writeFile(t, "region,time,metric,value,unit\nPJM,2024-01-01T00:00:00Z,demand,1,MWh\nPJM,2024-01-01T01:00:00Z,demand,2,MWh\nPJM,2024-01-01T02:00:00Z,demand,oops,MWh\nPJM,2024-01-01T03:00:00Z,demand,4,MWh\n")
	tp := &memTopic{}
	c, logs := newCollector(t, Config{Location: path}, tp)
	err := c.Collect(context.Background())
	if err == nil || !strings.Contains(err.Error(), path+" row 4") || !strings.Contains(err.Error(), "grid-csv") {
		t.Fatalf("err = %v, want one naming the collector, the file and row 4", err)
	}
	if len(tp.msgs) != 2 {
		t.Fatalf("published %d, want the 2 rows before the bad one", len(tp.msgs))
	}
	if !strings.Contains(logs.String(), "grid csv pass stopped early") {
		t.Fatalf("logs:\n%s", logs.String())
	}
}

func TestFromAndToKeepOnlyTheirRange(t *testing.T) {
	path := writeFile(t, string(ingesttest.Fixture(t, "default_columns.csv")))
	tp := &memTopic{}
	c, _ := newCollector(t, Config{Location: path, From: utc("2024-01-01T01:00:00Z"), To: utc("2024-01-01T02:00:00Z")}, tp)
	if err := c.Collect(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(tp.msgs) != 1 || !tp.msgs[0].Time.Equal(utc("2024-01-01T01:00:00Z")) {
		t.Fatalf("published %+v, want only the 01:00 row", tp.msgs)
	}
}

func TestAURLIsFetchedWithRetriesAndNamedInErrors(t *testing.T) {
	var n atomic.Int32
	body := ingesttest.Fixture(t, "default_columns.csv")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch n.Add(1) {
		case 1:
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
		default:
			w.Header().Set("Content-Type", "text/csv")
			_, _ = w.Write(body)
		}
	}))
	defer srv.Close()
	tp := &memTopic{}
	c, logs := newCollector(t, Config{Location: srv.URL + "/grid.csv?token=s3cret"}, tp)
	if err := c.Collect(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n.Load() != 2 || len(tp.msgs) != 5 {
		t.Fatalf("%d requests, %d published; want 2 (429 then the file) and 5", n.Load(), len(tp.msgs))
	}
	if !regexp.MustCompile(`wait_seconds=1(\s|$)`).MatchString(logs.String()) || strings.Contains(logs.String(), "s3cret") {
		t.Fatalf("logs do not show the 1 s Retry-After wait, or show the token:\n%s", logs.String())
	}

	// A bad row in a fetched file names the request (the token redacted) and the row.
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("region,time,metric,value,unit\nPJM,2024-01-01T00:00:00Z,demand,x,MWh\n"))
	}))
	defer bad.Close()
	c, _ = newCollector(t, Config{Location: bad.URL + "/grid.csv?token=s3cret"}, &memTopic{})
	err := c.Collect(context.Background())
	if err == nil || !strings.Contains(err.Error(), "GET "+bad.URL+"/grid.csv?token=REDACTED row 2") || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("err = %v", err)
	}

	// A 404 fails at once, naming the URL.
	var m atomic.Int32
	missing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.Add(1)
		http.NotFound(w, r)
	}))
	defer missing.Close()
	c, _ = newCollector(t, Config{Location: missing.URL + "/gone.csv"}, &memTopic{})
	if err := c.Collect(context.Background()); err == nil || !strings.Contains(err.Error(), "HTTP 404") || m.Load() != 1 {
		t.Fatalf("err = %v after %d requests", err, m.Load())
	}
}

func TestConfigValidation(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no location", Config{}, "no file or URL"},
		{"an unknown fixed metric", Config{Location: "x.csv", Metric: "load"}, `fixed metric "load"`},
		{"a fixed unit no metric has", Config{Location: "x.csv", Unit: "GW"}, `fixed unit "GW"`},
		{"a lower-case fixed country", Config{Location: "x.csv", Country: "us"}, `fixed country "us"`},
		{"a source name with a bar", Config{Location: "x.csv", SourceName: "a|b"}, `source name "a|b"`},
		{"an unknown zone", Config{Location: "x.csv", TimeZone: "Mars/Olympus"}, "time zone"},
		{"a bad label", Config{Location: "x.csv", TimeLabel: "middle"}, "want start or end"},
		{"a sub-second interval", Config{Location: "x.csv", Interval: time.Millisecond}, "whole seconds"},
		{"from after to", Config{Location: "x.csv", From: utc("2024-01-02T00:00:00Z"), To: utc("2024-01-01T00:00:00Z")}, "is not before"},
	}
	if err := (Config{Location: "x.csv", Metric: schemas.GridPrice, Unit: schemas.UnitUSDPerMWh}).Validate(); err != nil {
		t.Fatalf("a good config is refused: %v", err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}
