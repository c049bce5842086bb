package simulate

import (
	"reflect"
	"strings"
	"testing"

	"github.com/hashatlas/hashatlas/estimate/modeldata"
)

// TestModelDataParsesWithTheEstimatorsLoader proves that the world's allocation and HQ tables
// are valid model data (modeldata.Parse with the embedded hardware table), and that they say
// what the world's config says: every pool with a row has exactly its published mix and κ over
// the span, pools without a row have none, and every pool but "unknown" has its HQ.
func TestModelDataParsesWithTheEstimatorsLoader(t *testing.T) {
	w := mustDefault(t)
	_, _, hardware := modeldata.EmbeddedFiles()
	d, err := modeldata.Parse(w.AllocationCSV(), w.PoolHQCSV(), hardware)
	if err != nil {
		t.Fatalf("modeldata.Parse: %v\n%s", err, w.AllocationCSV())
	}
	cfg := w.Config()
	for _, p := range cfg.Pools {
		for _, at := range []string{"2024-01-01T00:00:00Z", "2025-06-30T12:00:00Z", "2025-12-31T23:59:59Z"} {
			tm := mustTime(t, at)
			shares, kappa, ok := d.AllocationAt(p.Slug, tm)
			if p.Kappa == 0 {
				if ok {
					t.Errorf("%s has no row in the config but an allocation %v at %s", p.Slug, shares, at)
				}
				continue
			}
			if !ok || kappa != p.Kappa || !reflect.DeepEqual(shares, p.Mix) {
				t.Errorf("%s at %s: allocation %v κ %v (found %v), config %v κ %v", p.Slug, at, shares, kappa, ok, p.Mix, p.Kappa)
			}
		}
		country, region, ok := d.HQ(p.Slug)
		if p.HQCountry == "" {
			if ok {
				t.Errorf("%s has an HQ row", p.Slug)
			}
			continue
		}
		if !ok || country != p.HQCountry || region != p.HQRegion {
			t.Errorf("%s HQ %s/%s (found %v), config %s/%s", p.Slug, country, region, ok, p.HQCountry, p.HQRegion)
		}
	}
	for _, a := range d.Allocations() {
		for _, s := range a.Sources {
			if s != "hashatlas simulator seed 1" {
				t.Errorf("%s cites %q", a.Pool, s)
			}
		}
	}
	regions := map[string]int{}
	for _, h := range d.HQs() {
		regions[h.Region]++
		if h.Source != "hashatlas simulator seed 1" {
			t.Errorf("HQ of %s cites %q", h.Pool, h.Source)
		}
	}
	if regions["North America"] != 3 || regions["Asia"] != 2 || regions["Europe"] != 1 || regions["Unknown"] != 1 {
		t.Errorf("HQ regions %v", regions)
	}
	if !strings.Contains(string(w.AllocationCSV()), "\nalphapool,US,0.8,60,2024-01-01,,hashatlas simulator seed 1\n") {
		t.Errorf("allocation.csv:\n%s", w.AllocationCSV())
	}
}
