package mempool

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/ingest"
	"github.com/hashatlas/hashatlas/ingest/ingesttest"
	"github.com/hashatlas/hashatlas/ingest/pools"
	"github.com/hashatlas/hashatlas/schemas"
	"github.com/sirupsen/logrus"
)

// fakeMempool is a mempool instance under /api that answers from testdata/; answer can override
// any request. It records every request path.
type fakeMempool struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	paths  []string
	answer func(path string, w http.ResponseWriter) bool
}

var fixtureFor = map[string]string{
	"/api/v1/mining/pools/24h":                    "pools_24h.json",
	"/api/v1/mining/pools/1y":                     "pools_1y.json",
	"/api/v1/mining/hashrate/pools/1m":            "hashrate_pools_1m.json",
	"/api/v1/mining/hashrate/pools/1y":            "hashrate_pools_1m.json", // the same weeks, for the resume test
	"/api/v1/mining/pool/foundryusa/hashrate":     "pool_foundryusa_hashrate.json",
	"/api/v1/mining/pool/antpool/hashrate":        "pool_antpool_hashrate.json",
	"/api/v1/mining/pool/carbonnegative/hashrate": "pool_carbonnegative_hashrate.json",
}

func newFakeMempool(t *testing.T) *fakeMempool {
	f := &fakeMempool{t: t}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.paths = append(f.paths, r.URL.Path)
		answer := f.answer
		f.mu.Unlock()
		if answer != nil && answer(r.URL.Path, w) {
			return
		}
		name, ok := fixtureFor[r.URL.Path]
		if !ok || name == "" {
			// mempool's answer for a pool slug it does not know.
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte("This mining pool does not exist"))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(ingesttest.Fixture(t, name))
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeMempool) setAnswer(a func(path string, w http.ResponseWriter) bool) {
	f.mu.Lock()
	f.answer = a
	f.mu.Unlock()
}

func (f *fakeMempool) recorded() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.paths...)
}

func (f *fakeMempool) reset() {
	f.mu.Lock()
	f.paths = nil
	f.mu.Unlock()
}

// memTopic is the pool-stats topic in memory.
type memTopic = ingesttest.PoolStatsTopic

// clock is a settable Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type rig struct {
	api   *fakeMempool
	topic *memTopic
	clock *clock
	logs  *bytes.Buffer
	col   *Collector
}

// newRig builds a collector of a fake instance, at 2025-09-24T10:20:30Z, without a rate limit and
// with fast retries; edit adjusts the config.
func newRig(t *testing.T, edit ...func(*Config)) *rig {
	t.Helper()
	r := &rig{api: newFakeMempool(t), topic: &memTopic{}, clock: &clock{t: time.Date(2025, 9, 24, 10, 20, 30, 0, time.UTC)}, logs: &bytes.Buffer{}}
	cfg := DefaultConfig()
	cfg.BaseURL = r.api.srv.URL + "/api"
	cfg.HTTP = ingest.HTTPConfig{Timeout: 5 * time.Second, BaseBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond, RequestsPerSecond: -1}
	cfg.Now = r.clock.now
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
	r.col, err = New(cfg, client, pools.Default(), r.topic, r.topic, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *rig) find(t *testing.T, key string) schemas.PoolStats {
	t.Helper()
	for _, s := range r.topic.All() {
		if s.Key() == key {
			return s
		}
	}
	t.Fatalf("no message %s on the topic; have %v", key, r.topic.Keys())
	return schemas.PoolStats{}
}

func TestFirstPassPublishesTheRankingAndAMonthOfHistory(t *testing.T) {
	r := newRig(t)
	if err := r.col.Collect(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(r.api.recorded(), " "), "/api/v1/mining/pools/24h /api/v1/mining/hashrate/pools/1m"; got != want {
		t.Fatalf("requests %q, want %q", got, want)
	}
	msgs := r.topic.All()
	if len(msgs) != 8+12 {
		t.Fatalf("%d messages, want 8 ranking + 12 history", len(msgs))
	}
	f := r.find(t, "foundryusa|mempool|86400|2025-09-23T10:20:30Z")
	if f.Blocks == nil || *f.Blocks != 44 || f.HashrateHS != nil {
		t.Fatalf("foundry ranking %+v", f)
	}
	c := r.find(t, "carbonnegative|mempool|86400|2025-09-23T10:20:30Z")
	if *c.Blocks != 1 {
		t.Fatalf("carbon negative ranking %+v", c)
	}
	h := r.find(t, "antpool|mempool|604800|2025-09-15T00:00:00Z")
	if h.HashrateHS == nil || *h.HashrateHS != 156130110875412430000 || h.Blocks != nil {
		t.Fatalf("antpool week of 2025-09-15: %+v", h)
	}
	zero := r.find(t, "carbonnegative|mempool|604800|2025-09-01T00:00:00Z")
	if zero.HashrateHS == nil || *zero.HashrateHS != 0 {
		t.Fatalf("a reported zero hashrate is published as 0: %+v", zero)
	}
	if !strings.Contains(r.logs.String(), "pools not in the registry") || !strings.Contains(r.logs.String(), "carbonnegative") {
		t.Fatalf("the pool missing from the registry is not reported:\n%s", r.logs)
	}
}

func TestLaterPassesPublishOnlyWhatIsNew(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	if err := r.col.Collect(ctx); err != nil {
		t.Fatal(err)
	}
	// An hour later the 24h window overlaps the published one, and the history is unchanged.
	r.clock.add(time.Hour)
	r.api.reset()
	if err := r.col.Collect(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(r.topic.All()); n != 20 {
		t.Fatalf("after a second pass an hour later: %d messages, want the first pass's 20", n)
	}
	if got := r.api.recorded(); len(got) != 2 || got[1] != "/api/v1/mining/hashrate/pools/1m" {
		t.Fatalf("second pass requests %v: want the ranking and the month of history reaching back to the last week", got)
	}
	// 23 h 55 min after the first window ended, the next window starts 5 minutes before its end:
	// within the 10-minute slack, so the snapshot is published; the history still adds nothing.
	r.clock.add(22*time.Hour + 55*time.Minute)
	if err := r.col.Collect(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(r.topic.All()); n != 28 {
		t.Fatalf("after a pass a day later: %d messages, want 20 + 8 ranking", n)
	}
	r.find(t, "foundryusa|mempool|86400|2025-09-24T10:15:30Z")
	if r.topic.Batches() != 3 {
		t.Fatalf("%d publish calls, want 3 (ranking, history, ranking)", r.topic.Batches())
	}
}

func TestRevisedFigureIsRepublishedAndLogged(t *testing.T) {
	r := newRig(t, func(c *Config) { c.RankingPeriods = nil })
	ctx := context.Background()
	if err := r.col.Collect(ctx); err != nil {
		t.Fatal(err)
	}
	revised := bytes.Replace(ingesttest.Fixture(t, "hashrate_pools_1m.json"), []byte("156130110875412430000"), []byte("156230110875412430000"), 1)
	if bytes.Equal(revised, ingesttest.Fixture(t, "hashrate_pools_1m.json")) {
		t.Fatal("the fixture does not hold the figure to revise")
	}
	r.api.setAnswer(func(path string, w http.ResponseWriter) bool {
		if path != "/api/v1/mining/hashrate/pools/1m" {
			return false
		}
		_, _ = w.Write(revised)
		return true
	})
	if err := r.col.Collect(ctx); err != nil {
		t.Fatal(err)
	}
	all := r.topic.All()
	if len(all) != 13 {
		t.Fatalf("%d messages, want 12 + 1 revision", len(all))
	}
	last := all[12]
	if last.Key() != "antpool|mempool|604800|2025-09-15T00:00:00Z" || *last.HashrateHS != 156230110875412430000 {
		t.Fatalf("the revision published is %s %v", last.Key(), *last.HashrateHS)
	}
	if !strings.Contains(r.logs.String(), "revised a published figure") || !strings.Contains(r.logs.String(), "antpool|mempool|604800|2025-09-15T00:00:00Z") {
		t.Fatalf("the revision is not logged with its key:\n%s", r.logs)
	}
}

func TestResumeAfterAGapAsksForAPeriodReachingBackToTheLastWeek(t *testing.T) {
	r := newRig(t, func(c *Config) { c.RankingPeriods = nil })
	h := 1e20
	old := schemas.PoolStats{Schema: schemas.SchemaPoolStats, Pool: "foundryusa", Time: time.Date(2025, 2, 24, 0, 0, 0, 0, time.UTC),
		IntervalSeconds: 604800, HashrateHS: &h, Source: SourceName}
	if err := r.topic.Publish(context.Background(), old); err != nil {
		t.Fatal(err)
	}
	if err := r.col.Collect(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The last published week ends 2025-03-03, 205 days before the pass: six months (at least
	// 181 days) may not reach it, a year does.
	if got := r.api.recorded(); len(got) != 1 || got[0] != "/api/v1/mining/hashrate/pools/1y" {
		t.Fatalf("requests %v, want the 1y history", got)
	}
}

func TestBackfillPublishesOnePagePerPoolWithinTheRange(t *testing.T) {
	from := time.Date(2025, 1, 6, 0, 0, 0, 0, time.UTC)
	to := time.Date(2025, 2, 3, 0, 0, 0, 0, time.UTC)
	r := newRig(t, func(c *Config) { c.RankingPeriods = nil; c.From, c.To = from, to })
	if err := r.col.Collect(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := []string{"/api/v1/mining/pools/1y", "/api/v1/mining/pool/foundryusa/hashrate",
		"/api/v1/mining/pool/antpool/hashrate", "/api/v1/mining/pool/carbonnegative/hashrate"}
	if got := r.api.recorded(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("requests %v, want %v", got, want)
	}
	if r.topic.Batches() != 3 {
		t.Fatalf("%d publish calls, want one per page (3)", r.topic.Batches())
	}
	// Weeks starting 2025-01-06, -13, -20 and -27 of each of the three pools.
	msgs := r.topic.All()
	if len(msgs) != 12 {
		t.Fatalf("%d messages, want 4 weeks × 3 pools: %v", len(msgs), r.topic.Keys())
	}
	for _, m := range msgs {
		if m.Time.Before(from) || !m.Time.Before(to) || m.IntervalSeconds != 604800 {
			t.Fatalf("%s lies outside [%v, %v)", m.Key(), from, to)
		}
	}
	f := r.find(t, "foundryusa|mempool|604800|2025-01-06T00:00:00Z")
	if *f.HashrateHS != 242300051173987160000 {
		t.Fatalf("foundry week of 2025-01-06: %v H/s", *f.HashrateHS)
	}
	r.find(t, "carbonnegative|mempool|604800|2025-01-13T00:00:00Z")
}

func TestBackfillStopsAtABadPageAndKeepsTheEarlierPages(t *testing.T) {
	from := time.Date(2025, 1, 6, 0, 0, 0, 0, time.UTC)
	r := newRig(t, func(c *Config) { c.RankingPeriods = nil; c.From = from; c.HTTP.MaxAttempts = 2 })
	r.api.setAnswer(func(path string, w http.ResponseWriter) bool {
		if path != "/api/v1/mining/pool/antpool/hashrate" {
			return false
		}
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte("Failed to get pool historical hashrate"))
		return true
	})
	err := r.col.Collect(context.Background())
	if err == nil {
		t.Fatal("a pass with a failing page succeeded")
	}
	for _, want := range []string{"backfill page 2 of 3 (pool antpool)", "mempool: GET ", "/api/v1/mining/pool/antpool/hashrate", "HTTP 500"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	// Page 1 (foundryusa, 5 weeks from 2025-01-06 with no end) stays published; page 3 is not asked for.
	if n := len(r.topic.All()); n != 5 {
		t.Fatalf("%d messages published, want foundry's 5: %v", n, r.topic.Keys())
	}
	for _, p := range r.api.recorded() {
		if strings.Contains(p, "carbonnegative") {
			t.Fatalf("the page after the failed one was requested: %v", r.api.recorded())
		}
	}
}

func TestEmptyResponsesPublishNothing(t *testing.T) {
	r := newRig(t)
	r.api.setAnswer(func(path string, w http.ResponseWriter) bool {
		switch path {
		case "/api/v1/mining/pools/24h":
			_, _ = w.Write([]byte(`{"pools":[],"blockCount":0,"lastEstimatedHashrate":0}`))
		case "/api/v1/mining/hashrate/pools/1m":
			_, _ = w.Write([]byte(`[]`))
		default:
			return false
		}
		return true
	})
	if err := r.col.Collect(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r.topic.Batches() != 0 || len(r.topic.All()) != 0 {
		t.Fatalf("%d publish calls, %d messages; want none", r.topic.Batches(), len(r.topic.All()))
	}
}

func TestTooManyRequestsIsRetriedAfterTheServersRetryAfter(t *testing.T) {
	r := newRig(t, func(c *Config) { c.RankingPeriods = nil; c.HTTP.MaxBackoff = 5 * time.Second })
	var mu sync.Mutex
	calls := 0
	r.api.setAnswer(func(path string, w http.ResponseWriter) bool {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls > 1 {
			return false
		}
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusTooManyRequests)
		return true
	})
	start := time.Now()
	if err := r.col.Collect(context.Background()); err != nil {
		t.Fatal(err)
	}
	waited := time.Since(start)
	if got := r.api.recorded(); len(got) != 2 || got[0] != got[1] {
		t.Fatalf("requests %v, want the history asked for twice", got)
	}
	// With a 1 ms base backoff only the server's Retry-After: 1 explains a wait of a second.
	if waited < 900*time.Millisecond {
		t.Fatalf("the retry came after %v, before the server's Retry-After of 1 s", waited)
	}
	if n := len(r.topic.All()); n != 12 {
		t.Fatalf("%d messages after the retry, want 12", n)
	}
}

func TestUnauthorizedFailsAtOnceWithoutRetries(t *testing.T) {
	// Some self-hosted instances sit behind an authenticating proxy.
	r := newRig(t)
	r.api.setAnswer(func(path string, w http.ResponseWriter) bool {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte("unauthorized"))
		return true
	})
	err := r.col.Collect(context.Background())
	if err == nil || !strings.Contains(err.Error(), "HTTP 401") || !strings.Contains(err.Error(), "check the API key") {
		t.Fatalf("err = %v, want a 401 that says to check the credentials", err)
	}
	// One request per step (ranking, history) although MaxAttempts is 5: no retry storm.
	if got := r.api.recorded(); len(got) != 2 {
		t.Fatalf("%d requests %v, want 2", len(got), got)
	}
}

func TestTruncatedResponseFailsThePassNamingTheRequestButOtherStepsPublish(t *testing.T) {
	r := newRig(t)
	body := ingesttest.Fixture(t, "hashrate_pools_1m.json")
	r.api.setAnswer(func(path string, w http.ResponseWriter) bool {
		if path != "/api/v1/mining/hashrate/pools/1m" {
			return false
		}
		_, _ = w.Write(body[:len(body)*2/3])
		return true
	})
	err := r.col.Collect(context.Background())
	if err == nil {
		t.Fatal("a truncated response passed")
	}
	for _, want := range []string{"mempool: GET ", "/api/v1/mining/hashrate/pools/1m", "truncated"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if n := len(r.topic.All()); n != 8 {
		t.Fatalf("%d messages, want the ranking's 8 published despite the failed history", n)
	}
}

func TestPublishFailureFailsThePass(t *testing.T) {
	r := newRig(t, func(c *Config) { c.History = false })
	r.topic.FailNext(errors.New("broker gone"))
	err := r.col.Collect(context.Background())
	if err == nil || !strings.Contains(err.Error(), "broker gone") || !strings.Contains(err.Error(), "publish 8 mempool messages") {
		t.Fatalf("err = %v", err)
	}
	// The next pass publishes the snapshot: nothing was recorded as published.
	if err := r.col.Collect(context.Background()); err != nil || len(r.topic.All()) != 8 {
		t.Fatalf("retry pass: err %v, %d messages", err, len(r.topic.All()))
	}
}

// TestARenamedPoolIsPublishedUnderItsCurrentSlug: an instance whose pool list predates Braiins
// Pool's rename answers "slushpool" in its ranking and "SlushPool" in its history; both become
// braiinspool, the registry's slug, and the pass says so once.
func TestARenamedPoolIsPublishedUnderItsCurrentSlug(t *testing.T) {
	r := newRig(t)
	r.api.setAnswer(func(path string, w http.ResponseWriter) bool {
		switch path {
		case "/api/v1/mining/pools/24h":
			_, _ = w.Write([]byte(`{"pools":[{"poolId":111,"name":"Foundry USA","blockCount":40,"rank":1,"slug":"foundryusa"},
			 {"poolId":43,"name":"SlushPool","link":"https://slushpool.com/","blockCount":5,"rank":2,"slug":"slushpool"}],"blockCount":45}`))
		case "/api/v1/mining/hashrate/pools/1m":
			_, _ = w.Write([]byte(`[{"timestamp":1758499200,"avgHashrate":44613301227490790000,"share":0.0499,"poolName":"SlushPool"}]`))
		default:
			return false
		}
		return true
	})
	if err := r.col.Collect(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := "braiinspool|mempool|604800|2025-09-15T00:00:00Z braiinspool|mempool|86400|2025-09-23T10:20:30Z foundryusa|mempool|86400|2025-09-23T10:20:30Z"
	if got := strings.Join(r.topic.Keys(), " "); got != want {
		t.Fatalf("published %s, want %s", got, want)
	}
	if b := r.find(t, "braiinspool|mempool|86400|2025-09-23T10:20:30Z"); *b.Blocks != 5 {
		t.Fatalf("braiinspool ranking %+v, want slushpool's 5 blocks", b)
	}
	if h := r.find(t, "braiinspool|mempool|604800|2025-09-15T00:00:00Z"); *h.HashrateHS != 44613301227490790000 {
		t.Fatalf("braiinspool week %+v", h)
	}
	logs := r.logs.String()
	if !strings.Contains(logs, "under their current one") || !strings.Contains(logs, "slushpool→braiinspool") {
		t.Fatalf("the rename is not logged:\n%s", logs)
	}
	if strings.Contains(logs, "pools not in the registry") {
		t.Fatalf("a renamed pool of the registry is reported as unknown:\n%s", logs)
	}
}

// TestOffWeekRowsAreLeftOutWithALoggedReason: a history of Monday and Tuesday rows side by side
// (as mempool's documentation shows them) publishes the Monday weeks only, in the resumed
// history and in a backfill alike, and each step says in one line how many rows it left out
// and why. The backfill asks for the page under the instance's own slug.
func TestOffWeekRowsAreLeftOutWithALoggedReason(t *testing.T) {
	slush := ingesttest.Fixture(t, "pool_slushpool_hashrate.json")
	mondays := "braiinspool|mempool|604800|2022-09-26T00:00:00Z braiinspool|mempool|604800|2022-10-03T00:00:00Z braiinspool|mempool|604800|2022-10-10T00:00:00Z"
	serve := func(r *rig) {
		r.api.setAnswer(func(path string, w http.ResponseWriter) bool {
			switch path {
			case "/api/v1/mining/hashrate/pools/1m", "/api/v1/mining/pool/slushpool/hashrate":
				_, _ = w.Write(slush)
			case "/api/v1/mining/pools/all", "/api/v1/mining/pools/3y", "/api/v1/mining/pools/4y", "/api/v1/mining/pools":
				_, _ = w.Write([]byte(`{"pools":[{"poolId":43,"name":"SlushPool","blockCount":500,"rank":1,"slug":"slushpool"}],"blockCount":500}`))
			default:
				return false
			}
			return true
		})
	}
	check := func(t *testing.T, r *rig, step string) {
		t.Helper()
		if got := strings.Join(r.topic.Keys(), " "); got != mondays {
			t.Fatalf("published %s, want the Monday weeks %s", got, mondays)
		}
		logs := r.logs.String()
		for _, want := range []string{"not ending on a Monday 00:00 UTC are left out", "rows=3", "first_weekday=Tuesday", "first_end=\"2022-10-04T00:00:00Z\"", step} {
			if !strings.Contains(logs, want) {
				t.Fatalf("the log does not say %q:\n%s", want, logs)
			}
		}
	}
	t.Run("history", func(t *testing.T) {
		r := newRig(t, func(c *Config) { c.RankingPeriods = nil })
		serve(r)
		if err := r.col.Collect(context.Background()); err != nil {
			t.Fatal(err)
		}
		check(t, r, "step=\"hashrate history 1m\"")
	})
	t.Run("backfill", func(t *testing.T) {
		r := newRig(t, func(c *Config) { c.RankingPeriods = nil; c.From = time.Date(2022, 9, 1, 0, 0, 0, 0, time.UTC) })
		serve(r)
		if err := r.col.Collect(context.Background()); err != nil {
			t.Fatal(err)
		}
		check(t, r, "step=\"backfill page slushpool\"")
		if got := r.api.recorded(); len(got) != 2 || got[1] != "/api/v1/mining/pool/slushpool/hashrate" {
			t.Fatalf("requests %v, want the ranking and slushpool's page", got)
		}
	})
}
