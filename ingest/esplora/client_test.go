package esplora

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/ingest"
	"github.com/hashatlas/hashatlas/ingest/ingesttest"
)

// fakeAPI is an Esplora stand-in under /api that answers from testdata/ by default; answer
// can override any request. It records every request path.
type fakeAPI struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	paths  []string
	answer func(n int, path string, w http.ResponseWriter, r *http.Request) bool // n: 0-based request index
}

func newFakeAPI(t *testing.T) *fakeAPI {
	f := &fakeAPI{t: t}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	n := len(f.paths)
	f.paths = append(f.paths, r.URL.Path)
	f.mu.Unlock()
	if f.answer != nil && f.answer(n, r.URL.Path, w, r) {
		return
	}
	switch r.URL.Path {
	case "/api/blocks/tip/height":
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write(ingesttest.Fixture(f.t, "tip_height.txt"))
	case "/api/blocks/900123":
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(ingesttest.Fixture(f.t, "blocks_900123.json"))
	case "/api/block/" + hash900123 + "/txs/0":
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(ingesttest.Fixture(f.t, "block_txs_900123.json"))
	default:
		// electrs' answer for a height it does not have.
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte("Block not found"))
	}
}

func (f *fakeAPI) recorded() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.paths...)
}

// client returns a client of f without a rate limit and with fast retries.
func (f *fakeAPI) client(t *testing.T, edit ...func(*Config)) *Client {
	t.Helper()
	cfg := Config{BaseURL: f.srv.URL + "/api/", HTTP: ingest.HTTPConfig{
		Timeout: 5 * time.Second, BaseBackoff: time.Millisecond, MaxBackoff: 50 * time.Millisecond, RequestsPerSecond: -1}}
	for _, e := range edit {
		e(&cfg)
	}
	c, err := New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestBlockAtTakesTwoRequests(t *testing.T) {
	api := newFakeAPI(t)
	b, err := api.client(t).BlockAt(context.Background(), 900123)
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "block_900123.golden.json", golden(b))
	want := "/api/blocks/900123 /api/block/" + hash900123 + "/txs/0"
	if got := strings.Join(api.recorded(), " "); got != want {
		t.Errorf("requests %s, want %s", got, want)
	}
}

func TestTipHeightIsThePlainTextHeight(t *testing.T) {
	api := newFakeAPI(t)
	h, err := api.client(t).TipHeight(context.Background())
	if err != nil || h != 900130 {
		t.Fatalf("TipHeight = %d, %v, want 900130", h, err)
	}
}

func TestBlockAtAboveTheTipIsHeightOutOfRangeWithoutRetry(t *testing.T) {
	api := newFakeAPI(t)
	_, err := api.client(t).BlockAt(context.Background(), 900200)
	if !errors.Is(err, ErrHeightOutOfRange) {
		t.Fatalf("err = %v, want ErrHeightOutOfRange", err)
	}
	for _, want := range []string{"esplora", "/api/blocks/900200", "HTTP 404", "Block not found", "height 900200"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	if n := len(api.recorded()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestBlockAtAboveMempoolSpacesTipIsHeightOutOfRange(t *testing.T) {
	// mempool.space answers a height above its tip with the blocks from its tip down.
	api := newFakeAPI(t)
	api.answer = func(n int, path string, w http.ResponseWriter, r *http.Request) bool {
		if path == "/api/blocks/900200" {
			_, _ = w.Write(ingesttest.Fixture(t, "blocks_900123.json"))
			return true
		}
		return false
	}
	_, err := api.client(t).BlockAt(context.Background(), 900200)
	if !errors.Is(err, ErrHeightOutOfRange) || !strings.Contains(err.Error(), "height 900200") {
		t.Fatalf("err = %v, want ErrHeightOutOfRange naming height 900200", err)
	}
}

func TestRetries429AfterRetryAfterCappedByMaxBackoff(t *testing.T) {
	api := newFakeAPI(t)
	api.answer = func(n int, path string, w http.ResponseWriter, r *http.Request) bool {
		if n == 0 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte("Too Many Requests"))
			return true
		}
		return false
	}
	c := api.client(t, func(cfg *Config) { cfg.HTTP.MaxBackoff = 100 * time.Millisecond })
	start := time.Now()
	if _, err := c.BlockAt(context.Background(), 900123); err != nil {
		t.Fatal(err)
	}
	paths := api.recorded()
	if len(paths) != 3 || paths[0] != paths[1] {
		t.Errorf("requests %v, want the block list twice (429, retry), then the transactions", paths)
	}
	if d := time.Since(start); d < 100*time.Millisecond || d > 900*time.Millisecond {
		t.Errorf("took %v: want the 1 s Retry-After capped at MaxBackoff 100 ms", d)
	}
}

func TestUnauthorizedFailsAtOnce(t *testing.T) {
	api := newFakeAPI(t)
	api.answer = func(n int, path string, w http.ResponseWriter, r *http.Request) bool {
		w.WriteHeader(http.StatusUnauthorized)
		return true
	}
	_, err := api.client(t).BlockAt(context.Background(), 900123)
	if err == nil || !strings.Contains(err.Error(), "HTTP 401") || !strings.Contains(err.Error(), "height 900123") {
		t.Fatalf("err = %v, want a 401 naming the height", err)
	}
	if n := len(api.recorded()); n != 1 {
		t.Errorf("%d requests, want exactly 1", n)
	}
}

func TestTruncatedTransactionsNameSourceHeightAndFault(t *testing.T) {
	api := newFakeAPI(t)
	api.answer = func(n int, path string, w http.ResponseWriter, r *http.Request) bool {
		if strings.HasSuffix(path, "/txs/0") {
			body := ingesttest.Fixture(t, "block_txs_900123.json")
			_, _ = w.Write(body[:len(body)/2])
			return true
		}
		return false
	}
	_, err := api.client(t).BlockAt(context.Background(), 900123)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"esplora", "/txs/0", "height 900123", "truncated"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	if n := len(api.recorded()); n != 2 {
		t.Errorf("%d requests, want 2: a truncated answer ends the run instead of being retried", n)
	}
}

func TestBlockAtRefusesABlockAtAnotherHeight(t *testing.T) {
	api := newFakeAPI(t)
	api.answer = func(n int, path string, w http.ResponseWriter, r *http.Request) bool {
		if path == "/api/blocks/900122" { // an API that answers with the wrong list
			_, _ = w.Write(ingesttest.Fixture(t, "blocks_900123.json"))
			return true
		}
		return false
	}
	_, err := api.client(t).BlockAt(context.Background(), 900122)
	if err == nil || !strings.Contains(err.Error(), "height 900123 in the response, want 900122") {
		t.Fatalf("err = %v, want a height mismatch", err)
	}
}

func TestHangingAPITimesOut(t *testing.T) {
	api := newFakeAPI(t)
	api.answer = func(n int, path string, w http.ResponseWriter, r *http.Request) bool {
		<-r.Context().Done()
		return true
	}
	c := api.client(t, func(cfg *Config) {
		cfg.HTTP.Timeout = 100 * time.Millisecond
		cfg.HTTP.MaxAttempts = 2
	})
	start := time.Now()
	_, err := c.TipHeight(context.Background())
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("err = %v, want a timeout", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v, want about 2 × 100 ms", d)
	}
	if n := len(api.recorded()); n != 2 {
		t.Errorf("%d requests, want 2 (MaxAttempts)", n)
	}
}

func TestRequestsPerSecondLimitsTheRate(t *testing.T) {
	api := newFakeAPI(t)
	c := api.client(t, func(cfg *Config) { cfg.HTTP.RequestsPerSecond = 20 })
	start := time.Now()
	for range 4 {
		if _, err := c.TipHeight(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	// The first request goes at once, the next three 50 ms apart.
	if d := time.Since(start); d < 140*time.Millisecond {
		t.Errorf("4 requests at 20/s took %v, want at least 150 ms", d)
	}
}

func TestConfigDefaultsAndValidate(t *testing.T) {
	d := Config{}.withDefaults()
	if d.BaseURL != DefaultBaseURL || d.HTTP.RequestsPerSecond != DefaultRequestsPerSecond {
		t.Errorf("defaults %+v", d)
	}
	if u := (Config{HTTP: ingest.HTTPConfig{RequestsPerSecond: -1}}).withDefaults().HTTP.RequestsPerSecond; u != 0 {
		t.Errorf("a negative rate gives %v, want 0 (unlimited for ingest.HTTPClient)", u)
	}
	for _, tc := range []struct {
		name string
		cfg  Config
		want string // "" = valid
	}{
		{"the defaults are valid", Config{}, ""},
		{"a self-hosted instance", Config{BaseURL: "http://127.0.0.1:3000"}, ""},
		{"a non-http URL is refused", Config{BaseURL: "ftp://example.org/api"}, "scheme"},
		{"a URL with a query is refused", Config{BaseURL: "https://example.org/api?x=1"}, "no query"},
		{"a negative timeout is refused", Config{HTTP: ingest.HTTPConfig{Timeout: -time.Second}}, "negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Validate = %v, want %q", err, tc.want)
			}
		})
	}
}
