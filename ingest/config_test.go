package ingest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/schemas"
)

func TestRateDefault(t *testing.T) {
	for _, c := range []struct{ in, want float64 }{{0, 2}, {-1, 0}, {0.5, 0.5}, {10, 10}} {
		if got := RateDefault(c.in, 2); got != c.want {
			t.Errorf("RateDefault(%v, 2) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestCheckBaseURL(t *testing.T) {
	for raw, want := range map[string]string{
		"https://example.com/api":      "",
		"ftp://example.com":            "scheme must be http or https",
		"http:///x":                    "no host",
		"https://example.com/?a=1":     "paths are appended to it, so it can have no query",
		"https://example.com/#frag":    "paths are appended to it, so it can have no query",
		"https://example.com/?key=sec": "REDACTED",
		"http://[::1":                  "src base url:",
	} {
		err := CheckBaseURL("src", raw, "paths are appended to it")
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", raw, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%s: err = %v, want one containing %q", raw, err, want)
		case err != nil && strings.Contains(err.Error(), "sec\""):
			t.Errorf("%s: the error shows the secret: %v", raw, err)
		}
	}
}

func TestReadSecret(t *testing.T) {
	dir := t.TempDir()
	file, empty := filepath.Join(dir, "key"), filepath.Join(dir, "empty")
	if err := os.WriteFile(file, []byte("  s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(empty, []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ value, file, want, wantErr string }{
		{"v", "", "v", ""},
		{"", "", "", ""},
		{"", file, "s3cret", ""},
		{"v", file, "", "give the API key or the API key file, not both"},
		{"", empty, "", "the API key file " + empty + " is empty"},
		{"", file + ".missing", "", "read the API key file"},
	}
	for _, c := range cases {
		got, err := ReadSecret(c.value, c.file, "API key")
		if got != c.want || (c.wantErr == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), c.wantErr) {
			t.Errorf("ReadSecret(%q, %q) = %q, %v; want %q, %q", c.value, c.file, got, err, c.want, c.wantErr)
		}
	}
}

func TestPublishedPoolStats(t *testing.T) {
	h, b := 1e18, int64(3)
	at := time.Date(2025, 9, 1, 0, 0, 0, 0, time.UTC)
	day := schemas.PoolStats{Schema: schemas.SchemaPoolStats, Pool: "x", Source: "s", Time: at, IntervalSeconds: 86400, HashrateHS: &h}
	later := day
	later.Time = at.Add(48 * time.Hour)
	week := schemas.PoolStats{Schema: schemas.SchemaPoolStats, Pool: "y", Source: "s", Time: at, IntervalSeconds: 604800, Blocks: &b}
	idx := NewPublishedPoolStats([]schemas.PoolStats{day, week})
	if end, ok := idx.LastEnd(86400); !ok || !end.Equal(at.Add(24*time.Hour)) {
		t.Fatalf("LastEnd = %v, %v", end, ok)
	}
	if _, ok := idx.LastEnd(3600); ok {
		t.Fatal("LastEnd of an interval with no message found one")
	}
	if idx.Has(later.Key()) {
		t.Fatal("Has: a message not on the topic")
	}
	idx.Put(later)
	if got, ok := idx.Get(later.Key()); !ok || !SamePoolStats(got, later) {
		t.Fatalf("Get after Put = %v, %v", got, ok)
	}
	if end, _ := idx.LastEnd(86400); !end.Equal(at.Add(72 * time.Hour)) {
		t.Fatalf("LastEnd after Put = %v", end)
	}
	h2 := 2e18
	revised := day
	revised.HashrateHS = &h2
	if SamePoolStats(day, revised) || SamePoolStats(day, later) || !SamePoolStats(day, day) {
		t.Fatal("SamePoolStats")
	}
	if got := PoolStatsFigures(day); got != "hashrate_hs=1e+18" {
		t.Fatalf("figures %q", got)
	}
	both := week
	both.HashrateHS = &h
	if got := PoolStatsFigures(both); got != "hashrate_hs=1e+18 blocks=3" {
		t.Fatalf("figures %q", got)
	}
}
