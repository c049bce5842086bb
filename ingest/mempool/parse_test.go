package mempool

import (
	"math"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/ingest"
	"github.com/hashatlas/hashatlas/ingest/ingesttest"
	"github.com/hashatlas/hashatlas/ingest/pools"
	"github.com/hashatlas/hashatlas/schemas"
)

func TestParseRanking(t *testing.T) {
	full := ingesttest.Fixture(t, "pools_24h.json")
	cases := []struct {
		name      string
		body      string
		wantPools int
		wantErr   string
	}{
		{"the documented ranking parses with every pool", string(full), 8, ""},
		{"an empty object (an instance without a mining index) is an empty ranking", `{}`, 0, ""},
		{"an empty pool list is an empty ranking", `{"pools":[],"blockCount":0,"lastEstimatedHashrate":0}`, 0, ""},
		{"an empty body is refused", ``, 0, "empty body"},
		{"a body cut short is reported as truncated", string(full[:len(full)/2]), 0, "truncated"},
		{"a pool without a slug is refused", `{"pools":[{"name":"X","blockCount":1,"rank":1}],"blockCount":1}`, 0, "slug is missing"},
		{"a negative block count is refused", `{"pools":[{"name":"X","slug":"x","blockCount":-1,"rank":1}],"blockCount":-1}`, 0, "negative"},
		{"a fractional block count is refused", `{"pools":[{"name":"X","slug":"x","blockCount":1.5,"rank":1}],"blockCount":1.5}`, 0, "decode"},
		{"a total that is not the sum of the pools is refused", `{"pools":[{"name":"X","slug":"x","blockCount":2,"rank":1}],"blockCount":3}`, 0, "not the sum"},
		{"a missing total is refused", `{"pools":[{"name":"X","slug":"x","blockCount":2,"rank":1}]}`, 0, "blockCount is missing"},
		{"two pools with one slug are refused", `{"pools":[{"name":"X","slug":"x","blockCount":1,"rank":1},{"name":"Y","slug":"X","blockCount":1,"rank":2}],"blockCount":2}`, 0, "same slug"},
		{"a total without pools is refused", `{"blockCount":4}`, 0, "no pools"},
		{"a list instead of an object is refused", `[]`, 0, "decode"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseRanking([]byte(tc.body))
			if ingesttest.ErrorCase(t, err, tc.wantErr) {
				return
			}
			if len(r.Pools) != tc.wantPools {
				t.Fatalf("%d pools, want %d", len(r.Pools), tc.wantPools)
			}
		})
	}
	r, err := ParseRanking(full)
	if err != nil {
		t.Fatal(err)
	}
	if r.Blocks != 132 || r.Pools[0] != (RankedPool{Name: "Foundry USA", Slug: "foundryusa", Blocks: 44, Rank: 1}) ||
		r.Pools[7] != (RankedPool{Name: "Carbon Negative", Slug: "carbonnegative", Blocks: 1, Rank: 8}) {
		t.Fatalf("ranking %+v", r)
	}
}

func TestParseHashrates(t *testing.T) {
	full := ingesttest.Fixture(t, "hashrate_pools_1m.json")
	cases := []struct {
		name     string
		body     string
		wantRows int
		wantErr  string
	}{
		{"the documented history parses with every row", string(full), 12, ""},
		{"an empty list is no rows", `[]`, 0, ""},
		{"an empty body is refused", "  \n", 0, "empty body"},
		{"a body cut short is reported as truncated", string(full[:len(full)-40]), 0, "truncated"},
		{"a missing timestamp is refused", `[{"avgHashrate":1,"share":0.5,"poolName":"X"}]`, 0, "row 0: timestamp is missing"},
		{"a timestamp before the genesis block is refused", `[{"timestamp":604801,"avgHashrate":1,"share":0.5,"poolName":"X"}]`, 0, "genesis"},
		{"a timestamp in milliseconds is refused", `[{"timestamp":1756684800000,"avgHashrate":1,"share":0.5,"poolName":"X"}]`, 0, "unix seconds"},
		{"a negative hashrate is refused", `[{"timestamp":1756684800,"avgHashrate":-1,"share":0.5,"poolName":"X"}]`, 0, "avgHashrate"},
		{"a share above one is refused", `[{"timestamp":1756684800,"avgHashrate":1,"share":1.5,"poolName":"X"}]`, 0, "share"},
		{"a row without a pool name is refused", `[{"timestamp":1756684800,"avgHashrate":1,"share":0.5}]`, 0, "poolName"},
		{"an object instead of a list is refused", `{"timestamp":1756684800}`, 0, "decode"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rows, err := ParseHashrates([]byte(tc.body))
			if ingesttest.ErrorCase(t, err, tc.wantErr) {
				return
			}
			if len(rows) != tc.wantRows {
				t.Fatalf("%d rows, want %d", len(rows), tc.wantRows)
			}
		})
	}
}

// TestHistoryRowsBecomeWeeksStartingOnMondayUTC checks the time and unit rules: the unix-second
// timestamp is the week's end (a Monday 00:00 UTC), the message's time is the Monday before, in
// UTC, and avgHashrate is taken as H/s to the last digit.
func TestHistoryRowsBecomeWeeksStartingOnMondayUTC(t *testing.T) {
	rows, err := ParseHashrates(ingesttest.Fixture(t, "hashrate_pools_1m.json"))
	if err != nil {
		t.Fatal(err)
	}
	msgs, offWeek, err := HistoryStats(rows, NewSlugMapper(pools.Default()).FromName)
	if err != nil || len(offWeek) != 0 {
		t.Fatalf("err %v, %d rows left out", err, len(offWeek))
	}
	first := msgs[0]
	want := time.Date(2025, 8, 25, 0, 0, 0, 0, time.UTC)
	if !first.Time.Equal(want) || first.Time.Location() != time.UTC || first.Time.Weekday() != time.Monday {
		t.Fatalf("time %v (%v), want %v", first.Time, first.Time.Location(), want)
	}
	if first.Pool != "foundryusa" || first.IntervalSeconds != 604800 || first.Source != "mempool" || first.Blocks != nil ||
		first.HashrateHS == nil || *first.HashrateHS != 279133774365208840000 {
		t.Fatalf("first message %+v", first)
	}
	for _, m := range msgs {
		if err := m.Validate(); err != nil {
			t.Fatalf("%s: %v", m.Key(), err)
		}
		if m.Time.Weekday() != time.Monday || m.Time.Hour() != 0 {
			t.Fatalf("%s does not start on a Monday at 00:00 UTC", m.Key())
		}
	}
}

// TestRankingSnapshotCoversTheTrailingWindowInUTC checks that a snapshot fetched at a local time
// with a fraction of a second covers [fetch − 24h, fetch) in whole UTC seconds.
func TestRankingSnapshotCoversTheTrailingWindowInUTC(t *testing.T) {
	r, err := ParseRanking(ingesttest.Fixture(t, "pools_24h.json"))
	if err != nil {
		t.Fatal(err)
	}
	cest := time.FixedZone("CEST", 2*3600)
	fetched := time.Date(2025, 9, 24, 12, 20, 30, 700_000_000, cest) // 10:20:30.7 UTC
	msgs, err := RankingStats(r, 24*time.Hour, fetched, NewSlugMapper(pools.Default()))
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 8 {
		t.Fatalf("%d messages, want 8", len(msgs))
	}
	want := time.Date(2025, 9, 23, 10, 20, 30, 0, time.UTC)
	for _, m := range msgs {
		if !m.Time.Equal(want) || m.Time.Location() != time.UTC || m.IntervalSeconds != 86400 || m.HashrateHS != nil || m.Blocks == nil {
			t.Fatalf("message %+v, want time %v, interval 86400, blocks only", m, want)
		}
	}
	if msgs[0].Key() != "foundryusa|mempool|86400|2025-09-23T10:20:30Z" || *msgs[0].Blocks != 44 {
		t.Fatalf("first message %s blocks %d", msgs[0].Key(), *msgs[0].Blocks)
	}
}

func TestSlugMapping(t *testing.T) {
	m := NewSlugMapper(pools.Default())
	m.Learn("Foundry USA", "foundryusa")
	cases := []struct {
		name string
		got  string
		want string
	}{
		{"a mempool slug the registry has is that pool", m.FromSlug("antpool"), "antpool"},
		{"a slug in upper case is lower-cased", m.FromSlug("AntPool"), "antpool"},
		{"a pool the registry does not know keeps mempool's slug", m.FromSlug("carbonnegative"), "carbonnegative"},
		{"mempool's Unknown pool is unknown", m.FromName("Unknown"), "unknown"},
		{"a history name takes the slug a ranking gave it", m.FromName("Foundry USA"), "foundryusa"},
		{"a history name no ranking gave is slugged like the registry", m.FromName("Braiins Pool"), "braiinspool"},
		{"an unknown history name is slugged the same way", m.FromName("Mystery Hash Co."), "mysteryhashco"},
		{"a renamed pool's former slug is its current one", m.FromSlug("slushpool"), "braiinspool"},
		{"a renamed pool's former name is its current slug", m.FromName("SlushPool"), "braiinspool"},
		{"a rename to a pool the registry lacks still applies", m.FromSlug("luckypool"), "gdpool"},
	}
	for _, tc := range cases {
		if tc.got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, tc.got, tc.want)
		}
	}
	if got := strings.Join(m.Unknown(), ","); got != "carbonnegative,gdpool,mysteryhashco" {
		t.Errorf("pools reported as not in the registry: %q", got)
	}
	if got := strings.Join(m.Renamed(), ","); got != "luckypool→gdpool,slushpool→braiinspool" {
		t.Errorf("renames reported: %q", got)
	}
	// A registry that lists the old name as a pool of its own attributes blocks to it: the
	// figures keep that slug, to stay beside them.
	old, err := pools.Parse([]byte(`[{"id":43,"name":"SlushPool","addresses":[],"tags":["/slush/"],"link":""}]`), "old")
	if err != nil {
		t.Fatal(err)
	}
	if got := NewSlugMapper(old).FromSlug("slushpool"); got != "slushpool" {
		t.Errorf("with a registry that has SlushPool, slushpool maps to %q", got)
	}
}

func TestHistoryRowsOnOneKey(t *testing.T) {
	end := time.Date(2025, 9, 1, 0, 0, 0, 0, time.UTC)
	same := []HashrateRow{{End: end, AvgHashrate: 5e18, Share: 0.01, PoolName: "X"}, {End: end, AvgHashrate: 5e18, Share: 0.01, PoolName: "X"}}
	msgs, _, err := HistoryStats(same, pools.Slug)
	if err != nil || len(msgs) != 1 || *msgs[0].HashrateHS != 5e18 {
		t.Fatalf("the same row twice: %d messages, err %v; want one message of 5e18 H/s", len(msgs), err)
	}
	differ := []HashrateRow{{End: end, AvgHashrate: 5e18, Share: 0.01, PoolName: "X"}, {End: end, AvgHashrate: 6e18, Share: 0.01, PoolName: "X"}}
	if _, _, err := HistoryStats(differ, pools.Slug); err == nil || !strings.Contains(err.Error(), "disagree") {
		t.Fatalf("one pool's rows with different figures on one key: err %v", err)
	}
	// Two names of one pool (listed apart by an instance whose pool list has both) add up.
	m := NewSlugMapper(pools.Default())
	both := []HashrateRow{{End: end, AvgHashrate: 5e18, Share: 0.01, PoolName: "SlushPool"}, {End: end, AvgHashrate: 2e18, Share: 0.004, PoolName: "Braiins Pool"},
		{End: end, AvgHashrate: 5e18, Share: 0.01, PoolName: "SlushPool"}}
	msgs, _, err = HistoryStats(both, m.FromName)
	if err != nil || len(msgs) != 1 || msgs[0].Pool != "braiinspool" || *msgs[0].HashrateHS != 7e18 {
		t.Fatalf("an old and a current name of one pool: %+v, err %v; want one braiinspool week of 7e18 H/s", msgs, err)
	}
}

func TestIsWeekEnd(t *testing.T) {
	jst := time.FixedZone("JST", 9*3600)
	for _, tc := range []struct {
		name string
		t    time.Time
		want bool
	}{
		{"Monday 00:00 UTC", time.Date(2022, 3, 14, 0, 0, 0, 0, time.UTC), true},
		{"the same instant given in Tokyo time (09:00 JST)", time.Date(2022, 3, 14, 9, 0, 0, 0, jst), true},
		{"Tuesday 00:00 UTC", time.Date(2022, 3, 15, 0, 0, 0, 0, time.UTC), false},
		{"Sunday 00:00 UTC", time.Date(2022, 3, 13, 0, 0, 0, 0, time.UTC), false},
		{"a second after Monday 00:00 UTC", time.Date(2022, 3, 14, 0, 0, 1, 0, time.UTC), false},
		{"Monday midnight in Tokyo (Sunday 15:00 UTC)", time.Date(2022, 3, 14, 0, 0, 0, 0, jst), false},
	} {
		if got := IsWeekEnd(tc.t); got != tc.want {
			t.Errorf("%s: IsWeekEnd(%v) = %v, want %v", tc.name, tc.t, got, tc.want)
		}
	}
}

// TestMondayAndTuesdayRowsSideBySideMakeOneSeriesOfWeeks: mempool's documentation shows a
// pool's weekly rows ending on Mondays and on the Tuesdays after them side by side; the fixture
// has three such pairs. Only the Monday weeks become messages — consecutive, none overlapping
// another — and the Tuesday rows are returned as left out.
func TestMondayAndTuesdayRowsSideBySideMakeOneSeriesOfWeeks(t *testing.T) {
	rows, err := ParseHashrates(ingesttest.Fixture(t, "pool_slushpool_hashrate.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 6 || rows[0].End.Weekday() != time.Monday || rows[1].End.Weekday() != time.Tuesday {
		t.Fatalf("the fixture no longer has Monday and Tuesday rows side by side: %+v", rows)
	}
	msgs, offWeek, err := HistoryStats(rows, NewSlugMapper(pools.Default()).FromName)
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range msgs {
		if a.Time.Weekday() != time.Monday || a.Time.Unix()%86400 != 0 || a.IntervalSeconds != 604800 {
			t.Errorf("%s does not start on a Monday 00:00 UTC", a.Key())
		}
		for _, b := range msgs[i+1:] {
			aEnd, bEnd := a.Time.Add(Week), b.Time.Add(Week)
			if a.Pool == b.Pool && a.Time.Before(bEnd) && b.Time.Before(aEnd) {
				t.Errorf("%s and %s overlap", a.Key(), b.Key())
			}
		}
	}
	want := []string{"braiinspool|mempool|604800|2022-09-26T00:00:00Z", "braiinspool|mempool|604800|2022-10-03T00:00:00Z", "braiinspool|mempool|604800|2022-10-10T00:00:00Z"}
	var got []string
	for _, m := range msgs {
		got = append(got, m.Key())
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("weeks %v, want %v", got, want)
	}
	if *msgs[1].HashrateHS != 9120533700842251000 {
		t.Errorf("the week of 2022-10-03 carries %v H/s, want its Monday row's 9120533700842251000", *msgs[1].HashrateHS)
	}
	if len(offWeek) != 3 {
		t.Fatalf("%d rows left out, want the 3 Tuesday rows", len(offWeek))
	}
	for _, r := range offWeek {
		if r.End.Weekday() != time.Tuesday {
			t.Errorf("left out a %v row", r.End.Weekday())
		}
	}
}

func TestRankingEntriesOfOnePoolCountTogether(t *testing.T) {
	r, err := ParseRanking([]byte(`{"pools":[{"name":"Braiins Pool","slug":"braiinspool","blockCount":3,"rank":1},
	 {"name":"SlushPool","slug":"slushpool","blockCount":2,"rank":2},{"name":"AntPool","slug":"antpool","blockCount":1,"rank":3}],"blockCount":6}`))
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := RankingStats(r, 24*time.Hour, time.Date(2025, 9, 24, 10, 0, 0, 0, time.UTC), NewSlugMapper(pools.Default()))
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 || msgs[0].Pool != "braiinspool" || *msgs[0].Blocks != 5 || msgs[1].Pool != "antpool" || *msgs[1].Blocks != 1 {
		t.Fatalf("messages %+v, want braiinspool with 3 + 2 blocks and antpool with 1", msgs)
	}
}

func TestCoveringPeriod(t *testing.T) {
	now := time.Date(2025, 9, 24, 10, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	cases := []struct {
		name  string
		since time.Time
		want  string
	}{
		{"two days back is the last month", now.Add(-2 * day), "1m"},
		{"28 days back is still the last month", now.Add(-28 * day), "1m"},
		{"29 days back needs three months", now.Add(-29 * day), "3m"},
		{"200 days back needs a year", now.Add(-200 * day), "1y"},
		{"four years back is the whole history", now.Add(-4 * 365 * day), ""},
	}
	for _, tc := range cases {
		if got := coveringPeriod(tc.since, now); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	jan := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"the default config is valid", DefaultConfig(), ""},
		{"a self-hosted instance over http is valid", Config{BaseURL: "http://10.0.0.5:8999/api/", History: true}, ""},
		{"a scheme other than http(s) is refused", Config{BaseURL: "ftp://x/api"}, "scheme"},
		{"a base url with a query is refused", Config{BaseURL: "https://x/api?key=secret"}, "no query"},
		{"the 1w ranking is refused because it would share the history's keys", Config{RankingPeriods: []string{"1w"}}, "weekly hashrate history"},
		{"a calendar period is refused", Config{RankingPeriods: []string{"1m"}}, "calendar"},
		{"a period given twice is refused", Config{RankingPeriods: []string{"24h", "24h"}}, "twice"},
		{"an end without a start is refused", Config{History: true, To: jan}, "without a start"},
		{"a start after the end is refused", Config{History: true, From: jan, To: jan}, "not before"},
		{"a backfill without the history is refused", Config{From: jan}, "history is not collected"},
		{"negative HTTP settings are refused", Config{HTTP: ingest.HTTPConfig{Timeout: -1}}, "negative"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Fatalf("the error shows a query secret: %v", err)
			}
		})
	}
}

var slugRe = regexp.MustCompile(`^[a-z0-9]+$`)

func FuzzParseRanking(f *testing.F) {
	body := ingesttest.Fixture(f, "pools_24h.json")
	f.Add(body)
	f.Add(body[:len(body)/3])
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"pools":[{"name":"X","slug":"X!","blockCount":0,"rank":1}],"blockCount":0}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseRanking(data)
		if err != nil {
			return
		}
		var sum int64
		for _, p := range r.Pools {
			if p.Name == "" || !slugRe.MatchString(p.Slug) || p.Blocks < 0 || p.Rank < 1 {
				t.Fatalf("accepted pool %+v", p)
			}
			sum += p.Blocks
		}
		if sum != r.Blocks {
			t.Fatalf("accepted a total %d for counts summing to %d", r.Blocks, sum)
		}
		msgs, err := RankingStats(r, 24*time.Hour, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), NewSlugMapper(nil))
		if err != nil {
			t.Fatalf("a parsed ranking does not map: %v", err)
		}
		for _, m := range msgs {
			if err := m.Validate(); err != nil {
				t.Fatalf("invalid message %+v: %v", m, err)
			}
		}
	})
}

func FuzzParseHashrates(f *testing.F) {
	body := ingesttest.Fixture(f, "hashrate_pools_1m.json")
	f.Add(body)
	f.Add(body[:len(body)/2])
	f.Add(ingesttest.Fixture(f, "pool_slushpool_hashrate.json"))
	f.Add([]byte(`[]`))
	f.Add([]byte(`[{"timestamp":604801,"avgHashrate":0,"share":1,"poolName":"!"}]`))
	f.Add([]byte(`[{"timestamp":1231006505,"avgHashrate":0,"share":1,"poolName":"!"}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rows, err := ParseHashrates(data)
		if err != nil {
			return
		}
		for _, r := range rows {
			if r.End.Location() != time.UTC || r.End.Unix() < firstWeekEnd || r.End.After(time.Now().Add(schemas.FutureAllowance)) ||
				!(r.AvgHashrate >= 0) || math.IsInf(r.AvgHashrate, 0) || !(r.Share >= 0 && r.Share <= 1) || r.PoolName == "" {
				t.Fatalf("accepted row %+v", r)
			}
		}
		msgs, offWeek, err := HistoryStats(rows, func(name string) string {
			if s := pools.Slug(name); s != "" {
				return s
			}
			return "x"
		})
		if err != nil {
			if strings.Contains(err.Error(), "disagree") {
				return // two rows on one key with different figures: a refusal, by design
			}
			t.Fatalf("parsed rows do not map: %v", err)
		}
		for _, m := range msgs {
			if err := m.Validate(); err != nil || m.Source != SourceName || !IsWeekEnd(m.Time) {
				t.Fatalf("invalid message %+v (a week must start on a Monday 00:00 UTC): %v", m, err)
			}
		}
		if len(msgs) > len(rows)-len(offWeek) {
			t.Fatalf("%d messages from %d rows of which %d were left out", len(msgs), len(rows), len(offWeek))
		}
		for _, r := range offWeek {
			if IsWeekEnd(r.End) {
				t.Fatalf("left out a row ending on a Monday 00:00 UTC: %+v", r)
			}
		}
	})
}
