package eia

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/ingest"
	"github.com/hashatlas/hashatlas/ingest/eia/eiatest"
	"github.com/hashatlas/hashatlas/ingest/grid"
	"github.com/hashatlas/hashatlas/schemas"
)

// fullPage returns the body of a full page (5,000 rows: ten respondents × four types × 125
// hours) as the stand-in server writes it.
func fullPage(b *testing.B) []byte {
	b.Helper()
	srv := eiatest.New(testKey)
	defer srv.Close()
	resps := []string{"ERCO", "PJM", "MISO", "CISO", "SWPP", "NYIS", "ISNE", "SOCO", "TVA", "BPAT"}
	srv.Add(eiatest.RegionDataPath, eiatest.Hourly(resps, DefaultTypes(), day0, day0.Add(125*time.Hour), value)...)
	resp, err := http.Get(srv.URL + eiatest.RegionDataPath + "?api_key=" + testKey + "&frequency=hourly&data[0]=value&length=5000")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.Fatal(err)
	}
	return body
}

// BenchmarkParsePage measures ParsePage on a full 5,000-row page: observations per second
// and allocations per page.
func BenchmarkParsePage(b *testing.B) {
	body := fullPage(b)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	rows := 0
	for b.Loop() {
		p, err := ParsePage(body, RegionData)
		if err != nil {
			b.Fatal(err)
		}
		rows += len(p.Rows)
	}
	if rows != 5000*b.N {
		b.Fatalf("parsed %d rows in %d pages", rows, b.N)
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "obs/s")
}

// encodeOnly is a publisher that encodes every message, as the Kafka writer does, and keeps
// nothing: it isolates the collector's own cost from the broker's.
type encodeOnly struct{ n int }

func (e *encodeOnly) Publish(ctx context.Context, msgs ...schemas.Message) error {
	for _, m := range msgs {
		if _, err := schemas.Encode(m); err != nil {
			return err
		}
	}
	e.n += len(msgs)
	return nil
}

func (e *encodeOnly) ReadGrid(ctx context.Context, fn func(schemas.GridObservation) error) error {
	return nil
}

// BenchmarkCollectorBackfill measures a backfill pass through a local stand-in of the API:
// HTTP, parsing, validation, the published-keys record and JSON encoding, for 30 days of ten
// respondents × three types (21,600 observations, 15 pages), without Kafka.
func BenchmarkCollectorBackfill(b *testing.B) {
	srv := eiatest.New(testKey)
	defer srv.Close()
	resps := []string{"ERCO", "PJM", "MISO", "CISO", "SWPP", "NYIS", "ISNE", "SOCO", "TVA", "BPAT"}
	to := day0.Add(30 * 24 * time.Hour)
	srv.Add(eiatest.RegionDataPath, eiatest.Hourly(resps, []string{"D", "NG", "TI"}, day0, to, value)...)
	cfg := Config{BaseURL: srv.URL, APIKey: testKey, Respondents: resps, Types: []string{"D", "NG", "TI"}, FuelTypes: []string{},
		From: day0, To: to, HTTP: ingest.HTTPConfig{RequestsPerSecond: -1}}
	client, err := NewClient(cfg, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	total := 0
	for b.Loop() {
		pub := &encodeOnly{}
		c, err := NewCollector(cfg, client, grid.DefaultRegions(), pub, pub, nil)
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Collect(context.Background()); err != nil {
			b.Fatal(err)
		}
		if pub.n != 21600 {
			b.Fatalf("published %d, want 21600", pub.n)
		}
		total += pub.n
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "obs/s")
}
