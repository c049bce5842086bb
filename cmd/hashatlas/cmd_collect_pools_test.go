package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/schemas"
	"github.com/hashatlas/hashatlas/sinks/kafka"
)

// mempool answers of the documented shapes (https://mempool.space/docs/api/rest, Mining).
const (
	poolsRanking24h = `{"pools":[
 {"poolId":111,"name":"Foundry USA","link":"https://foundrydigital.com/","blockCount":40,"rank":1,"emptyBlocks":0,"slug":"foundryusa"},
 {"poolId":44,"name":"AntPool","link":"https://www.antpool.com/","blockCount":30,"rank":2,"emptyBlocks":0,"slug":"antpool"},
 {"poolId":143,"name":"Carbon Negative","link":"","blockCount":2,"rank":3,"emptyBlocks":0,"slug":"carbonnegative"}],
 "blockCount":72,"lastEstimatedHashrate":873451220693704600000}`
	poolsHashrates1m = `[
 {"timestamp":1757289600,"avgHashrate":284480022017414230000,"share":0.3198,"poolName":"Foundry USA"},
 {"timestamp":1757289600,"avgHashrate":160321718439925780000,"share":0.1802,"poolName":"AntPool"},
 {"timestamp":1757894400,"avgHashrate":270052111187304200000,"share":0.2996,"poolName":"Foundry USA"},
 {"timestamp":1757894400,"avgHashrate":171509218361120060000,"share":0.1903,"poolName":"AntPool"}]`
)

// readPoolStats returns every message on the pool-stats topic, sorted by key.
func readPoolStats(t *testing.T, ctx context.Context, cfg kafka.Config) []schemas.PoolStats {
	t.Helper()
	tr, err := kafka.NewTopicReader(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []schemas.PoolStats
	if _, err := tr.ReadAll(ctx, []string{schemas.TopicPoolStats}, func(r kafka.Record) error {
		out = append(out, *r.Message.(*schemas.PoolStats))
		return nil
	}, func(r kafka.Record, err error) { t.Errorf("undecodable message at offset %d: %v", r.Offset, err) }); err != nil {
		t.Fatal(err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key() < out[j].Key() })
	return out
}

// TestCollectMempoolPoolsPublishesExactMessagesOnceAndFailsOnABadAnswer runs
// `collect mempool-pools --once` against a local mempool stand-in and an embedded broker, reads
// the topic back, runs it again (nothing new may be published), then serves a truncated answer
// (the command must exit 1 naming the request, and keep what was published).
func TestCollectMempoolPoolsPublishesExactMessagesOnceAndFailsOnABadAnswer(t *testing.T) {
	broker, err := kafka.StartEmbedded(0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	cfg := kafka.DefaultConfig()
	cfg.Brokers = []string{broker.Addr()}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	var mu sync.Mutex
	history := poolsHashrates1m
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		paths = append(paths, r.URL.Path)
		switch {
		case r.URL.Path == "/api/v1/mining/pools/24h":
			_, _ = w.Write([]byte(poolsRanking24h))
		case strings.HasPrefix(r.URL.Path, "/api/v1/mining/hashrate/pools/"):
			// The period asked for depends on the wall clock (how far back the last week is).
			_, _ = w.Write([]byte(history))
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer srv.Close()

	args := []string{"collect", "mempool-pools", "--once", "--mempool.url=" + srv.URL + "/api", "--mempool.requests-per-second=-1",
		"--kafka.brokers=" + broker.Addr(), "--log.level=warn"}
	before := time.Now().UTC().Truncate(time.Second)
	code, _, stderr := runCmd(t, nil, args...)
	after := time.Now().UTC()
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	got := readPoolStats(t, ctx, cfg)
	if len(got) != 3+4 {
		t.Fatalf("%d messages on %s, want 3 ranking + 4 history", len(got), schemas.TopicPoolStats)
	}
	h := func(v float64) *float64 { return &v }
	wantHistory := map[string]float64{
		"antpool|mempool|604800|2025-09-01T00:00:00Z":    160321718439925780000,
		"antpool|mempool|604800|2025-09-08T00:00:00Z":    171509218361120060000,
		"foundryusa|mempool|604800|2025-09-01T00:00:00Z": 284480022017414230000,
		"foundryusa|mempool|604800|2025-09-08T00:00:00Z": 270052111187304200000,
	}
	wantBlocks := map[string]int64{"foundryusa": 40, "antpool": 30, "carbonnegative": 2}
	for _, m := range got {
		if m.Source != "mempool" || m.Schema != schemas.SchemaPoolStats {
			t.Errorf("%s: source %q schema %q", m.Key(), m.Source, m.Schema)
		}
		switch m.IntervalSeconds {
		case 604800:
			want, ok := wantHistory[m.Key()]
			if !ok || m.HashrateHS == nil || *m.HashrateHS != *h(want) || m.Blocks != nil {
				t.Errorf("history message %s: %+v", m.Key(), m)
			}
			delete(wantHistory, m.Key())
		case 86400:
			// The window ends at the fetch, which lies between the command's start and end.
			start := m.Time.Add(24 * time.Hour)
			if m.Blocks == nil || *m.Blocks != wantBlocks[m.Pool] || m.HashrateHS != nil || start.Before(before) || start.After(after) {
				t.Errorf("ranking message %s (window end %v, run %v to %v): %+v", m.Key(), start, before, after, m)
			}
		default:
			t.Errorf("unexpected message %s", m.Key())
		}
	}
	if len(wantHistory) != 0 {
		t.Errorf("history messages missing: %v", wantHistory)
	}

	// A second run right after publishes nothing: the ranking window overlaps the last, the
	// history is unchanged.
	tr, err := kafka.NewTopicReader(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	end1, err := tr.EndTotal(ctx, []string{schemas.TopicPoolStats})
	if err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCmd(t, nil, args...); code != exitOK {
		t.Fatalf("second run: exit %d: %s", code, stderr)
	}
	if end2, err := tr.EndTotal(ctx, []string{schemas.TopicPoolStats}); err != nil || end2 != end1 {
		t.Fatalf("the second run wrote %d messages (err %v), want none", end2-end1, err)
	}

	// A truncated answer: exit 1 with one line naming the request; what was published stays.
	mu.Lock()
	history = poolsHashrates1m[:len(poolsHashrates1m)/2]
	mu.Unlock()
	code, _, stderr = runCmd(t, nil, args...)
	if code != exitFailed {
		t.Fatalf("a truncated answer: exit %d, want %d: %s", code, exitFailed, stderr)
	}
	for _, want := range []string{"mempool: GET " + srv.URL + "/api/v1/mining/hashrate/pools/", "truncated"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr does not say %q:\n%s", want, stderr)
		}
	}
	if n := len(readPoolStats(t, ctx, cfg)); n != 7 {
		t.Fatalf("%d messages after the failed run, want the 7 published before", n)
	}
}

func TestCollectBraiinsKeepsTheTokenOutOfConfigOutputAndLogs(t *testing.T) {
	const token = "brn-0b5c2e7a91f4-token"
	code, stdout, stderr := runCmd(t, map[string]string{"HASHATLAS_BRAIINS_TOKEN": token}, "collect", "braiins", "--check-config")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if strings.Contains(stdout, token) || !strings.Contains(stdout, "braiins.token=***\t# env HASHATLAS_BRAIINS_TOKEN") {
		t.Fatalf("check-config output:\n%s", stdout)
	}
	code, _, stderr = runCmd(t, map[string]string{"HASHATLAS_BRAIINS_TOKEN": ""}, "collect", "braiins", "--check-config")
	if code != exitUsage || !strings.Contains(stderr, "HASHATLAS_BRAIINS_TOKEN") || !strings.Contains(stderr, "--braiins.token-file") {
		t.Fatalf("without a token: exit %d, stderr %q; want a usage error naming the variable and the file flag", code, stderr)
	}

	// A run at debug level against a stand-in that checks the token publishes, and logs no token.
	broker, err := kafka.StartEmbedded(0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("SlushPool-Auth-Token") != token || r.URL.Path != "/stats/json/btc/" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte(`{"btc":{"hash_rate_unit":"Gh/s","pool_scoring_hash_rate":14862291830.4512,"pool_active_workers":151233,
 "blocks":{"915102":{"date_found":1758705210,"mining_duration":25301,"state":"confirmed","pool_scoring_hash_rate":14711022190.7101}}}}`))
	}))
	defer srv.Close()
	code, _, stderr = runCmd(t, map[string]string{"HASHATLAS_BRAIINS_TOKEN": token}, "collect", "braiins", "--once",
		"--braiins.url="+srv.URL, "--braiins.requests-per-second=-1", "--kafka.brokers="+broker.Addr(), "--log.level=debug")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if strings.Contains(stderr, token) {
		t.Fatalf("the token is in the logs:\n%s", stderr)
	}
	cfg := kafka.DefaultConfig()
	cfg.Brokers = []string{broker.Addr()}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got := readPoolStats(t, ctx, cfg)
	if len(got) != 2 || got[0].Key() != "braiinspool|braiins|25301|2025-09-24T02:11:49Z" || *got[0].Blocks != 1 ||
		*got[0].HashrateHS != 14711022190710100000 || got[1].IntervalSeconds != 3600 || *got[1].HashrateHS != 14862291830451200000 {
		t.Fatalf("published %+v", got)
	}
}
