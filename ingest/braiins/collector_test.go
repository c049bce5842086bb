package braiins

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/ingest"
	"github.com/hashatlas/hashatlas/ingest/ingesttest"
	"github.com/sirupsen/logrus"
)

const testToken = "brn-7f3a9c1d2e8b4f60-token"

// fakeBraiins serves /stats/json/btc/ to requests carrying testToken in the Pool-Auth-Token
// header, and a 401 to others. body and status can be changed between passes; every request is
// counted with the token it carried, and whatever it carried in the older SlushPool-Auth-Token
// header.
type fakeBraiins struct {
	srv       *httptest.Server
	mu        sync.Mutex
	body      []byte
	status    []int // statuses to answer before the body, one per request
	tokens    []string
	oldTokens []string
	paths     []string
}

func newFakeBraiins(t *testing.T) *fakeBraiins {
	f := &fakeBraiins{body: ingesttest.Fixture(t, "stats_btc.json")}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		tok := r.Header.Get("Pool-Auth-Token")
		f.tokens = append(f.tokens, tok)
		f.oldTokens = append(f.oldTokens, r.Header.Get("SlushPool-Auth-Token")+r.Header.Get("X-SlushPool-Auth-Token"))
		f.paths = append(f.paths, r.URL.Path)
		if tok != testToken {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte("Unauthorized"))
			return
		}
		if len(f.status) > 0 {
			st := f.status[0]
			f.status = f.status[1:]
			if st == http.StatusTooManyRequests {
				w.Header().Set("Retry-After", "1")
			}
			w.WriteHeader(st)
			return
		}
		if r.URL.Path != "/stats/json/btc/" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(f.body)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeBraiins) set(body []byte, statuses ...int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if body != nil {
		f.body = body
	}
	f.status = statuses
}

func (f *fakeBraiins) requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.tokens)
}

// memTopic is the pool-stats topic in memory.
type memTopic = ingesttest.PoolStatsTopic

type rig struct {
	api   *fakeBraiins
	topic *memTopic
	now   time.Time
	logs  *bytes.Buffer
	col   *Collector
}

// newRig builds a collector of a fake API at 2025-09-24T10:20:30Z, without a rate limit and with
// fast retries, logging at debug level into logs.
func newRig(t *testing.T, edit ...func(*Config)) *rig {
	t.Helper()
	r := &rig{api: newFakeBraiins(t), topic: &memTopic{}, now: time.Date(2025, 9, 24, 10, 20, 30, 0, time.UTC), logs: &bytes.Buffer{}}
	cfg := Config{
		BaseURL: r.api.srv.URL, Token: testToken, Now: func() time.Time { return r.now },
		HTTP: ingest.HTTPConfig{Timeout: 5 * time.Second, BaseBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond, RequestsPerSecond: -1},
	}
	for _, e := range edit {
		e(&cfg)
	}
	log := logrus.New()
	log.SetOutput(r.logs)
	log.SetLevel(logrus.DebugLevel)
	client, err := NewClient(cfg, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	if r.col, err = New(cfg, client, r.topic, r.topic, log, nil); err != nil {
		t.Fatal(err)
	}
	return r
}

// firstPass runs the rig's first pass, which must publish the three rounds of the fixtures and
// the 60-minute sample of the hour that starts at sampleHour (as a key writes it).
func (r *rig) firstPass(t *testing.T, sampleHour string) {
	t.Helper()
	if err := r.col.Collect(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"braiinspool|braiins|14120|2025-09-23T13:26:07Z",
		"braiinspool|braiins|25301|2025-09-24T02:11:49Z",
		"braiinspool|braiins|31822|2025-09-23T17:21:27Z",
		"braiinspool|braiins|3600|" + sampleHour,
	}
	if got := r.topic.Keys(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("published %v, want %v", got, want)
	}
}

func TestFirstPassPublishesTheSampleAndEveryRound(t *testing.T) {
	r := newRig(t)
	r.firstPass(t, "2025-09-24T10:00:00Z")
	for _, s := range r.topic.All() {
		if s.IntervalSeconds == 3600 && (*s.HashrateHS != 14862291830451200000 || s.Blocks != nil) {
			t.Fatalf("sample %+v, want 14862291830451200000 H/s and no block count", s)
		}
	}
	if r.topic.Batches() != 1 {
		t.Fatalf("%d publish calls, want 1", r.topic.Batches())
	}
}

func TestLaterPassesPublishOnlyNewSamplesAndRounds(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	if err := r.col.Collect(ctx); err != nil {
		t.Fatal(err)
	}
	// Later in the same hour, with a different reading: the hour keeps its first sample.
	r.now = r.now.Add(30 * time.Minute)
	r.api.set(bytes.Replace(ingesttest.Fixture(t, "stats_btc.json"), []byte("14862291830.4512"), []byte("15062291830.4512"), 1))
	if err := r.col.Collect(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(r.topic.All()); n != 4 {
		t.Fatalf("a second reading in the same hour was published: %v", r.topic.Keys())
	}
	// The next hour gets its sample, and a newly found block its round.
	r.now = r.now.Add(time.Hour)
	withNewBlock := strings.Replace(string(ingesttest.Fixture(t, "stats_btc.json")), `"blocks": {`,
		`"blocks": {"915130": {"date_found": 1758709800, "mining_duration": 4590, "state": "confirmed", "pool_scoring_hash_rate": 14902291830.1},`, 1)
	r.api.set([]byte(withNewBlock))
	if err := r.col.Collect(ctx); err != nil {
		t.Fatal(err)
	}
	all := r.topic.All()
	if len(all) != 6 {
		t.Fatalf("%d messages, want 4 + a new round + the 11:00 sample: %v", len(all), r.topic.Keys())
	}
	got := map[string]bool{all[4].Key(): true, all[5].Key(): true}
	if !got["braiinspool|braiins|4590|2025-09-24T09:13:30Z"] || !got["braiinspool|braiins|3600|2025-09-24T11:00:00Z"] {
		t.Fatalf("third pass published %v", got)
	}
}

func TestOrphanedBlockRevisesItsRoundAndIsLogged(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	if err := r.col.Collect(ctx); err != nil {
		t.Fatal(err)
	}
	orphaned := strings.Replace(string(ingesttest.Fixture(t, "stats_btc.json")),
		`"mining_duration": 31822,
        "total_shares": 3040519832114,
        "state": "confirmed"`, `"mining_duration": 31822,
        "total_shares": 3040519832114,
        "state": "orphaned"`, 1)
	if orphaned == string(ingesttest.Fixture(t, "stats_btc.json")) {
		t.Fatal("the fixture does not hold the block to orphan")
	}
	r.api.set([]byte(orphaned))
	if err := r.col.Collect(ctx); err != nil {
		t.Fatal(err)
	}
	all := r.topic.All()
	if len(all) != 5 || all[4].Key() != "braiinspool|braiins|31822|2025-09-23T17:21:27Z" || *all[4].Blocks != 0 {
		t.Fatalf("after the orphaning: %v", r.topic.Keys())
	}
	if !strings.Contains(r.logs.String(), "revised a published figure") || !strings.Contains(r.logs.String(), "blocks=0") {
		t.Fatalf("the revision is not logged:\n%s", r.logs)
	}
}

func TestAnswerWithoutBlocksPublishesTheSampleOnly(t *testing.T) {
	r := newRig(t)
	r.api.set([]byte(`{"btc":{"hash_rate_unit":"Ph/s","pool_scoring_hash_rate":14862.2918304512,"pool_active_workers":0,"blocks":{}}}`))
	if err := r.col.Collect(context.Background()); err != nil {
		t.Fatal(err)
	}
	all := r.topic.All()
	if len(all) != 1 || *all[0].HashrateHS != 14862291830451200000 {
		t.Fatalf("published %v", r.topic.Keys())
	}
}

func TestTooManyRequestsIsRetriedAfterTheServersRetryAfter(t *testing.T) {
	r := newRig(t, func(c *Config) { c.HTTP.MaxBackoff = 5 * time.Second })
	r.api.set(nil, http.StatusTooManyRequests)
	start := time.Now()
	if err := r.col.Collect(context.Background()); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < 900*time.Millisecond {
		t.Fatalf("retried after %v, before the server's Retry-After of 1 s", waited)
	}
	if n := r.api.requests(); n != 2 {
		t.Fatalf("%d requests, want 2", n)
	}
	if len(r.topic.All()) != 4 {
		t.Fatalf("published %v after the retry", r.topic.Keys())
	}
}

func TestBadTokenFailsAtOnceWithAClearError(t *testing.T) {
	r := newRig(t, func(c *Config) { c.Token = "wrong-token"; c.HTTP.MaxAttempts = 5 })
	err := r.col.Collect(context.Background())
	if err == nil {
		t.Fatal("a refused token passed")
	}
	for _, want := range []string{"access token was refused", "braiins: GET", "/stats/json/btc/", "HTTP 401"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if n := r.api.requests(); n != 1 {
		t.Fatalf("%d requests for a refused token, want 1 (no retries)", n)
	}
	if len(r.topic.All()) != 0 {
		t.Fatal("something was published")
	}
}

// TestTokenIsSentButNeverLoggedOrInErrors runs a retried pass, a normal one and a failing one at
// debug level and looks for the token in every log line and error.
func TestTokenIsSentButNeverLoggedOrInErrors(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	r.api.set(nil, http.StatusServiceUnavailable)
	if err := r.col.Collect(ctx); err != nil {
		t.Fatal(err)
	}
	r.api.set([]byte(`{"btc":{"hash_rate_unit":"Gh/s"`))
	err := r.col.Collect(ctx)
	if err == nil {
		t.Fatal("a truncated answer passed")
	}
	if !strings.Contains(err.Error(), "truncated") || !strings.Contains(err.Error(), "/stats/json/btc/") {
		t.Fatalf("error %q does not name the request and the fault", err)
	}
	if strings.Contains(err.Error(), testToken) {
		t.Fatalf("the error shows the token: %v", err)
	}
	if !strings.Contains(r.logs.String(), "retrying") {
		t.Fatalf("the retry was not logged, so the check below proves little:\n%s", r.logs)
	}
	if strings.Contains(r.logs.String(), testToken) {
		t.Fatalf("the token is in the logs:\n%s", r.logs)
	}
	r.api.mu.Lock()
	defer r.api.mu.Unlock()
	for i, tok := range r.api.tokens {
		if tok != testToken || r.api.oldTokens[i] != "" {
			t.Fatalf("request %d carried token %q in Pool-Auth-Token and %q in the older header; want the token in Pool-Auth-Token only", i, tok, r.api.oldTokens[i])
		}
	}
}

func TestTokenFileIsReadAndTrimmed(t *testing.T) {
	file := filepath.Join(t.TempDir(), "braiins-token")
	if err := os.WriteFile(file, []byte("  "+testToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := newRig(t, func(c *Config) { c.Token = ""; c.TokenFile = file })
	if err := r.col.Collect(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(r.topic.All()) != 4 {
		t.Fatalf("published %v", r.topic.Keys())
	}
}

// currentAnswer is the current-form fixture with update_ts moved to at.
func currentAnswer(t *testing.T, at time.Time) []byte {
	t.Helper()
	b := ingesttest.Fixture(t, "stats_btc_current.json")
	out := bytes.Replace(b, []byte(`"update_ts": 1758709200`), []byte(fmt.Sprintf(`"update_ts": %d`, at.Unix())), 1)
	if bytes.Equal(out, b) && at.Unix() != 1758709200 {
		t.Fatal("the fixture does not hold the update_ts to move")
	}
	return out
}

// TestCurrentFormPublishesTheHourBeforeUpdateTSAndEveryRound: the answer without a top-level
// pool_scoring_hash_rate (the API's current form) publishes its 60-minute average over the hour
// that ends at update_ts (10:20:00), not filed under the hour of the fetch (10:20:30), and the
// rounds as the older form does.
func TestCurrentFormPublishesTheHourBeforeUpdateTSAndEveryRound(t *testing.T) {
	r := newRig(t)
	r.api.set(ingesttest.Fixture(t, "stats_btc_current.json"))
	r.firstPass(t, "2025-09-24T09:20:00Z")
	for _, s := range r.topic.All() {
		if s.IntervalSeconds == 3600 && (*s.HashrateHS != 14987320114009300000 || s.Blocks != nil) {
			t.Fatalf("sample %+v, want pool_60m_hash_rate, 14987320114009300000 H/s, and no block count", s)
		}
		if s.IntervalSeconds == 25301 && (*s.HashrateHS != 14711022190710100000 || *s.Blocks != 1) {
			t.Fatalf("round of 915102 %+v", s)
		}
	}
	if !strings.Contains(r.logs.String(), "form=windowed") {
		t.Fatalf("the form of the answer is not logged:\n%s", r.logs)
	}
}

// TestCurrentFormHoursTileTime: passes every few minutes publish one hour per hour — the next
// hour once it starts where the last ended, or up to WindowSlack before — and, with a 2-hour
// sample interval, one hour in two.
func TestCurrentFormHoursTileTime(t *testing.T) {
	at := func(hhmm string) time.Time {
		tm, err := time.Parse("2006-01-02 15:04", "2025-09-24 "+hhmm)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	for _, tc := range []struct {
		name   string
		every  time.Duration
		passes []string // update_ts of each pass's answer
		want   []string // the hours published, by start
	}{
		{"hourly", time.Hour, []string{"10:20", "10:30", "11:15", "11:20", "11:55", "12:15"},
			[]string{"09:20", "10:15", "11:15"}},
		{"exactly an hour later", time.Hour, []string{"10:20", "11:20", "12:20"},
			[]string{"09:20", "10:20", "11:20"}},
		{"every two hours", 2 * time.Hour, []string{"10:20", "11:20", "12:10", "12:15", "13:00"},
			[]string{"09:20", "11:15"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, func(c *Config) { c.SampleInterval = tc.every })
			for _, p := range tc.passes {
				r.now = at(p).Add(30 * time.Second)
				r.api.set(currentAnswer(t, at(p)))
				if err := r.col.Collect(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			var got []string
			for _, s := range r.topic.All() {
				if s.Blocks == nil {
					got = append(got, s.Time.Format("15:04"))
				}
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Fatalf("hours published from %v, want %v", got, tc.want)
			}
		})
	}
}
