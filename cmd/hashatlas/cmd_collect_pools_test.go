package main

import (
	"context"
	"fmt"
	"math/rand/v2"
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
		if r.Header.Get("Pool-Auth-Token") != token || r.URL.Path != "/stats/json/btc/" {
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

// poolStatsRow is one pool_stats row as ClickHouse holds it.
type poolStatsRow struct {
	start            time.Time
	interval, blocks uint32
	hashrate         float64
	hashrateReported uint8
	blocksReported   uint8
}

// TestCollectPoolAPIsThroughKafkaIntoClickHouse serves each pool-API form the collectors read —
// Braiins Pool's current answer (the 5/60-minute and 24-hour averages, update_ts, fpps_rate, no
// top-level pool_scoring_hash_rate), its older answer (pool_scoring_hash_rate), and a mempool
// instance whose pool list predates Braiins Pool's rename (slug slushpool, name SlushPool) with
// weekly rows ending on Mondays and on the Tuesdays after them side by side — runs `collect
// braiins --once` and `collect mempool-pools --once` into an embedded broker, then `estimate
// --until-idle` into the ClickHouse server, and reads pool_stats back: the served values, each
// once, under braiinspool; the current answer's 60-minute average over the hour before
// update_ts; the Monday weeks alone.
func TestCollectPoolAPIsThroughKafkaIntoClickHouse(t *testing.T) {
	const token = "brn-4e1d2c7a90b3-token"
	broker, err := kafka.StartEmbedded(0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	db := fmt.Sprintf("hashatlas_poolapis_%d", rand.Uint64()%1_000_000_000)
	dropDatabaseAtEnd(t, db)
	kafkaArg := "--kafka.brokers=" + broker.Addr()

	// update_ts some minutes ago, off the minute so that its hour cannot be the older answer's
	// bucket (an hour from :00:00).
	updated := time.Now().UTC().Truncate(time.Minute).Add(-10*time.Minute + 17*time.Second)
	current := fmt.Sprintf(`{"btc":{"hash_rate_unit":"Gh/s","pool_active_workers":151233,"pool_5m_hash_rate":15103455120.5571,
 "pool_60m_hash_rate":14987320114.0093,"pool_24h_hash_rate":14911876342.7718,"update_ts":%d,
 "blocks":{"915102":{"date_found":1758705210,"mining_duration":25301,"total_shares":2418872265330,"state":"confirmed",
  "confirmations_left":0,"value":"3.15804551","user_reward":"0.00000000","pool_scoring_hash_rate":14711022190.7101}},
 "fpps_rate":4.9e-7}}`, updated.Unix())
	older := `{"btc":{"luck_b10":"0.91","hash_rate_unit":"Th/s","pool_scoring_hash_rate":14862291.8304512,"pool_active_workers":151233,
 "round_started":1758709800,"round_duration":600,
 "blocks":{"915130":{"date_found":1758709800,"mining_duration":4590,"total_shares":1,"state":"confirmed","confirmations_left":99,
  "value":"3.125","user_reward":"0","pool_scoring_hash_rate":14902291.8301}}}}`
	var mu sync.Mutex
	answer := current
	braiinsSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Pool-Auth-Token") != token || r.URL.Path != "/stats/json/btc/" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		_, _ = w.Write([]byte(answer))
	}))
	defer braiinsSrv.Close()
	braiinsArgs := []string{"collect", "braiins", "--once", "--braiins.url=" + braiinsSrv.URL, "--braiins.requests-per-second=-1", kafkaArg, "--log.level=warn"}
	env := map[string]string{"HASHATLAS_BRAIINS_TOKEN": token}
	if code, _, stderr := runCmd(t, env, braiinsArgs...); code != exitOK {
		t.Fatalf("collect braiins, current answer: exit %d: %s", code, stderr)
	}
	mu.Lock()
	answer = older
	mu.Unlock()
	before := time.Now().UTC()
	if code, _, stderr := runCmd(t, env, braiinsArgs...); code != exitOK {
		t.Fatalf("collect braiins, older answer: exit %d: %s", code, stderr)
	}
	after := time.Now().UTC()

	mempoolSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/api/v1/mining/pools/24h":
			_, _ = w.Write([]byte(`{"pools":[{"poolId":111,"name":"Foundry USA","blockCount":40,"rank":1,"slug":"foundryusa"},
 {"poolId":43,"name":"SlushPool","link":"https://slushpool.com/","blockCount":5,"rank":2,"slug":"slushpool"}],"blockCount":45}`))
		case strings.HasPrefix(r.URL.Path, "/api/v1/mining/hashrate/pools/"):
			_, _ = w.Write([]byte(`[
 {"timestamp":1757289600,"avgHashrate":44613301227490790000,"share":0.0499,"poolName":"SlushPool"},
 {"timestamp":1757376000,"avgHashrate":45013301227490790000,"share":0.0503,"poolName":"SlushPool"},
 {"timestamp":1757894400,"avgHashrate":43512001193557870000,"share":0.0486,"poolName":"SlushPool"},
 {"timestamp":1757980800,"avgHashrate":43912001193557870000,"share":0.0490,"poolName":"SlushPool"},
 {"timestamp":1757894400,"avgHashrate":270052111187304200000,"share":0.2996,"poolName":"Foundry USA"}]`))
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer mempoolSrv.Close()
	mempoolArgs := []string{"collect", "mempool-pools", "--once", "--mempool.url=" + mempoolSrv.URL + "/api", "--mempool.requests-per-second=-1", kafkaArg, "--log.level=warn"}
	mBefore := time.Now().UTC().Truncate(time.Second)
	code, _, stderr := runCmd(t, nil, mempoolArgs...)
	mAfter := time.Now().UTC()
	if code != exitOK {
		t.Fatalf("collect mempool-pools: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "not ending on a Monday 00:00 UTC are left out") || !strings.Contains(stderr, "rows=2") {
		t.Errorf("the Tuesday rows are not logged as left out:\n%s", stderr)
	}

	chArgs := []string{"--clickhouse.addr=" + testClickHouseAddr(), "--clickhouse.database=" + db}
	estimateUntilIdle(t, kafkaArg, chArgs)
	conn := openTestDB(t, db)
	rows := map[string][]poolStatsRow{} // by "pool|source"
	for _, r := range queryRows(t, conn, "SELECT pool, source, toUnixTimestamp(time), interval_seconds, hashrate_hs, blocks, hashrate_reported, blocks_reported FROM pool_stats FINAL ORDER BY pool, source, interval_seconds, time") {
		k := r[0].(string) + "|" + r[1].(string)
		rows[k] = append(rows[k], poolStatsRow{start: time.Unix(int64(r[2].(uint32)), 0).UTC(), interval: r[3].(uint32), hashrate: r[4].(float64),
			blocks: r[5].(uint32), hashrateReported: r[6].(uint8), blocksReported: r[7].(uint8)})
	}
	if len(rows) != 3 {
		t.Fatalf("rows for %d pool|source pairs, want braiinspool|braiins, braiinspool|mempool, foundryusa|mempool: %v", len(rows), rows)
	}

	// Braiins Pool: by interval, the older answer's hour bucket (3600 from :00), the current
	// answer's hour before update_ts (3600), the rounds of 915102 (25301 s, from the current
	// answer) and of 915130 (4590 s, from the older one, in Th/s).
	b := rows["braiinspool|braiins"]
	if len(b) != 4 {
		t.Fatalf("braiinspool|braiins: %d rows, want 4: %+v", len(b), b)
	}
	var hours []poolStatsRow
	rounds := map[uint32]poolStatsRow{}
	for _, r := range b {
		if r.interval == 3600 && r.blocksReported == 0 {
			hours = append(hours, r)
		} else {
			rounds[r.interval] = r
		}
	}
	if len(hours) != 2 {
		t.Fatalf("braiinspool hours %+v, want 2", hours)
	}
	for _, h := range hours {
		switch {
		case h.start.Equal(updated.Add(-time.Hour)):
			if h.hashrate != 14987320114009300000 || h.hashrateReported != 1 {
				t.Errorf("the current answer's hour %+v, want pool_60m_hash_rate 14987320114009300000 H/s", h)
			}
		case h.start.Equal(before.Truncate(time.Hour)) || h.start.Equal(after.Truncate(time.Hour)):
			if h.hashrate != 14862291830451200000 {
				t.Errorf("the older answer's hour %+v, want pool_scoring_hash_rate 14862291830451200000 H/s", h)
			}
		default:
			t.Errorf("an hour from %v: neither update_ts − 1 h (%v) nor the hour of the older run (%v to %v)", h.start, updated.Add(-time.Hour), before, after)
		}
	}
	if r := rounds[25301]; !r.start.Equal(time.Date(2025, 9, 24, 2, 11, 49, 0, time.UTC)) || r.blocks != 1 || r.hashrate != 14711022190710100000 {
		t.Errorf("round of 915102 %+v", r)
	}
	if r := rounds[4590]; !r.start.Equal(time.Date(2025, 9, 24, 9, 13, 30, 0, time.UTC)) || r.blocks != 1 || r.hashrate != 14902291830100000000 {
		t.Errorf("round of 915130 %+v", r)
	}

	// mempool: slushpool's ranking and its Monday weeks under braiinspool; the Tuesday rows
	// (weeks from 2025-09-02 and -09) nowhere.
	m := rows["braiinspool|mempool"]
	want := []poolStatsRow{
		{start: time.Date(2025, 9, 1, 0, 0, 0, 0, time.UTC), interval: 604800, hashrate: 44613301227490790000, hashrateReported: 1},
		{start: time.Date(2025, 9, 8, 0, 0, 0, 0, time.UTC), interval: 604800, hashrate: 43512001193557870000, hashrateReported: 1},
	}
	var weeks []poolStatsRow
	for _, r := range m {
		if r.interval == 86400 {
			if r.blocks != 5 || r.blocksReported != 1 || r.hashrateReported != 0 || r.start.Before(mBefore.Add(-24*time.Hour)) || r.start.After(mAfter.Add(-24*time.Hour)) {
				t.Errorf("braiinspool ranking %+v, want slushpool's 5 blocks over the 24 h before the run", r)
			}
			continue
		}
		weeks = append(weeks, r)
	}
	if len(weeks) != len(want) {
		t.Fatalf("braiinspool weeks %+v, want %+v", weeks, want)
	}
	for i := range want {
		if weeks[i].start != want[i].start || weeks[i].interval != want[i].interval || weeks[i].hashrate != want[i].hashrate || weeks[i].hashrateReported != 1 || weeks[i].blocksReported != 0 {
			t.Errorf("week %d: %+v, want %+v", i, weeks[i], want[i])
		}
	}
	if f := rows["foundryusa|mempool"]; len(f) != 2 || f[1].interval != 604800 || !f[1].start.Equal(time.Date(2025, 9, 8, 0, 0, 0, 0, time.UTC)) || f[1].hashrate != 270052111187304200000 {
		t.Errorf("foundryusa|mempool %+v", f)
	}
	n := queryRows(t, conn, "SELECT count() FROM pool_stats FINAL WHERE interval_seconds = 604800 AND toDayOfWeek(time) != 1")
	if n[0][0].(uint64) != 0 {
		t.Errorf("%v weekly rows do not start on a Monday", n[0][0])
	}
}
