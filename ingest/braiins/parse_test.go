package braiins

import (
	"encoding/json"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/ingest/ingesttest"
	"github.com/hashatlas/hashatlas/schemas"
)

func parseF(t *testing.T, s string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestToHS(t *testing.T) {
	cases := []struct {
		name    string
		num     string
		unit    string
		want    string // the exact H/s, as a decimal
		wantErr string
	}{
		{"Gh/s, the documented unit, is 10^9 H/s", "5820970883.3011", "Gh/s", "5820970883301100000", ""},
		{"Th/s is 10^12 H/s", "14862291.8304512", "Th/s", "14862291830451200000", ""},
		{"Ph/s is 10^15 H/s", "1.5", "Ph/s", "1500000000000000", ""},
		{"EH/s is 10^18 H/s", "0.7", "EH/s", "700000000000000000", ""},
		{"the unit is read in any case", "700", "eh/S", "700000000000000000000", ""},
		{"H/s is taken as it is", "12", "H/s", "12", ""},
		{"a number with an exponent is shifted exactly", "1e3", "Gh/s", "1000000000000", ""},
		{"a negative exponent is shifted exactly", "2.5E-3", "Th/s", "2500000000", ""},
		{"a value too small for a float64 is 0", "1e-400", "Gh/s", "0", ""},
		{"negative zero is zero", "-0", "Gh/s", "0", ""},
		{"a negative hash rate is refused", "-1", "Gh/s", "", "negative"},
		{"a unit without /s is refused", "1", "Gh", "", "unit"},
		{"an empty unit is refused", "1", "", "", "unit"},
		{"a value out of float64 range is refused", "1e400", "Gh/s", "", "out of range"},
		{"text is refused", "fast", "Gh/s", "", "not a JSON number"},
		{"a number with a leading plus is refused", "+1", "Gh/s", "", "not a JSON number"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ToHS(json.Number(tc.num), tc.unit)
			if ingesttest.ErrorCase(t, err, tc.wantErr) {
				return
			}
			if want := parseF(t, tc.want); got != want || math.Signbit(got) {
				t.Fatalf("%s %s = %v H/s, want %v", tc.num, tc.unit, got, want)
			}
		})
	}
}

// TestToHSIsExactWhereMultiplicationIsNot: 1.1 × 1e18 in float64 is 1100000000000000100, one unit
// in the last place above the float64 nearest to 1.1 EH/s.
func TestToHSIsExactWhereMultiplicationIsNot(t *testing.T) {
	naive := parseF(t, "1.1") * 1e18
	exact := parseF(t, "1100000000000000000")
	if naive == exact {
		t.Fatal("the example no longer shows the difference")
	}
	got, err := ToHS("1.1", "EH/s")
	if err != nil || got != exact {
		t.Fatalf("ToHS(1.1 EH/s) = %v, %v; want %v", got, err, exact)
	}
}

func TestParseStats(t *testing.T) {
	full := ingesttest.Fixture(t, "stats_btc.json")
	current := ingesttest.Fixture(t, "stats_btc_current.json")
	const good = `"hash_rate_unit":"Gh/s","pool_scoring_hash_rate":1`
	const cur = `"hash_rate_unit":"Gh/s","pool_5m_hash_rate":3,"pool_60m_hash_rate":2,"pool_24h_hash_rate":1,"update_ts":1758709200`
	block := func(fields string) string { return `{"btc":{` + good + `,"blocks":{"915102":{` + fields + `}}}}` }
	cases := []struct {
		name       string
		body       string
		wantBlocks int
		wantErr    string
	}{
		{"the documented answer parses with its blocks", string(full), 3, ""},
		{"an answer without blocks has none", `{"btc":{` + good + `}}`, 0, ""},
		{"an empty block list has none", `{"btc":{` + good + `,"blocks":{}}}`, 0, ""},
		{"an empty body is refused", ``, 0, "empty body"},
		{"a body cut short is reported as truncated", string(full[:len(full)/2]), 0, "truncated"},
		{"an answer for another coin is refused", `{"ltc":{` + good + `}}`, 0, `no "btc" object`},
		{"a missing unit is refused", `{"btc":{"pool_scoring_hash_rate":1}}`, 0, "hash_rate_unit is missing"},
		{"an unknown unit is refused", `{"btc":{"hash_rate_unit":"Gh","pool_scoring_hash_rate":1}}`, 0, "unit"},
		{"a missing scoring hash rate is refused", `{"btc":{"hash_rate_unit":"Gh/s"}}`, 0, "pool_scoring_hash_rate is missing"},
		{"a negative scoring hash rate is refused", `{"btc":{"hash_rate_unit":"Gh/s","pool_scoring_hash_rate":-5}}`, 0, "negative"},
		{"a block keyed by something else than a height is refused", `{"btc":{` + good + `,"blocks":{"last":{}}}}`, 0, "not a block height"},
		{"a block found in milliseconds is refused", block(`"date_found":1758705210000,"mining_duration":1,"state":"confirmed","pool_scoring_hash_rate":1`), 0, "unix seconds"},
		{"a block without a state is refused", block(`"date_found":1758705210,"mining_duration":1,"pool_scoring_hash_rate":1`), 0, "state is missing"},
		{"a negative round is refused", block(`"date_found":1758705210,"mining_duration":-1,"state":"confirmed","pool_scoring_hash_rate":1`), 0, "mining_duration"},
		{"a block without its hash rate is refused", block(`"date_found":1758705210,"mining_duration":1,"state":"confirmed"`), 0, "block \"915102\": pool_scoring_hash_rate is missing"},
		{"the current form parses with its blocks", string(current), 3, ""},
		{"the current form without blocks has none", `{"btc":{` + cur + `,"blocks":{},"fpps_rate":4.9e-7}}`, 0, ""},
		{"the current form's fpps_rate is not read, whatever its type", `{"btc":{` + cur + `,"fpps_rate":"0.000000000000000001"}}`, 0, ""},
		{"an answer in neither form is refused, naming both", `{"btc":{"hash_rate_unit":"Gh/s","pool_active_workers":3}}`, 0, "neither known form"},
		{"the current form without update_ts is refused", `{"btc":{"hash_rate_unit":"Gh/s","pool_5m_hash_rate":3,"pool_60m_hash_rate":2,"pool_24h_hash_rate":1}}`, 0, "update_ts is missing"},
		{"the current form without its 60-minute average is refused", `{"btc":{"hash_rate_unit":"Gh/s","pool_5m_hash_rate":3,"pool_24h_hash_rate":1,"update_ts":1758709200,"pool_scoring_hash_rate":1}}`, 0, "pool_60m_hash_rate is missing"},
		{"an update_ts less than an hour after the genesis block is refused", `{"btc":{"hash_rate_unit":"Gh/s","pool_5m_hash_rate":3,"pool_60m_hash_rate":2,"pool_24h_hash_rate":1,"update_ts":1231010104}}`, 0, "an hour after the genesis block"},
		{"an update_ts in milliseconds is refused", `{"btc":{"hash_rate_unit":"Gh/s","pool_5m_hash_rate":3,"pool_60m_hash_rate":2,"pool_24h_hash_rate":1,"update_ts":1758709200000}}`, 0, "unix seconds"},
		{"a fractional update_ts is refused", `{"btc":{"hash_rate_unit":"Gh/s","pool_5m_hash_rate":3,"pool_60m_hash_rate":2,"pool_24h_hash_rate":1,"update_ts":1758709200.5}}`, 0, "unix seconds"},
		{"a negative 24-hour average is refused", `{"btc":{"hash_rate_unit":"Gh/s","pool_5m_hash_rate":3,"pool_60m_hash_rate":2,"pool_24h_hash_rate":-1,"update_ts":1758709200}}`, 0, "pool_24h_hash_rate: hash rate -1 Gh/s is negative"},
		{"a current-form block without its hash rate is refused", `{"btc":{` + cur + `,"blocks":{"915102":{"date_found":1758705210,"mining_duration":1,"state":"confirmed"}}}}`, 0, "pool_scoring_hash_rate is missing"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ParseStats([]byte(tc.body), "btc")
			if ingesttest.ErrorCase(t, err, tc.wantErr) {
				return
			}
			if len(s.Blocks) != tc.wantBlocks {
				t.Fatalf("%d blocks, want %d", len(s.Blocks), tc.wantBlocks)
			}
		})
	}
	s, err := ParseStats(full, "btc")
	if err != nil {
		t.Fatal(err)
	}
	last := s.Blocks[2]
	if s.Form != FormScoring || s.Unit != "Gh/s" || s.ScoringHashrateHS != parseF(t, "14862291830451200000") || s.ActiveWorkers != 151233 ||
		s.Blocks[0].Height != 915020 || last.Height != 915102 || last.State != "confirmed" ||
		!last.Found.Equal(time.Date(2025, 9, 24, 9, 13, 30, 0, time.UTC)) || last.Found.Location() != time.UTC ||
		last.MiningDuration != 25301*time.Second || last.ScoringHashrateHS != parseF(t, "14711022190710100000") {
		t.Fatalf("parsed %+v", s)
	}
}

// TestParseStatsCurrentForm reads the answer the API gives today: the three averages to the
// exact H/s, update_ts in UTC, and the same blocks as the older form's fixture, which lists the
// same rounds.
func TestParseStatsCurrentForm(t *testing.T) {
	s, err := ParseStats(ingesttest.Fixture(t, "stats_btc_current.json"), "btc")
	if err != nil {
		t.Fatal(err)
	}
	if s.Form != FormWindowed || s.Unit != "Gh/s" || s.ActiveWorkers != 151233 ||
		s.Hashrate5mHS != parseF(t, "15103455120557100000") || s.Hashrate60mHS != parseF(t, "14987320114009300000") ||
		s.Hashrate24hHS != parseF(t, "14911876342771800000") || s.ScoringHashrateHS != 0 ||
		!s.Updated.Equal(time.Date(2025, 9, 24, 10, 20, 0, 0, time.UTC)) || s.Updated.Location() != time.UTC {
		t.Fatalf("parsed %+v", s)
	}
	old, err := ParseStats(ingesttest.Fixture(t, "stats_btc.json"), "btc")
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Blocks) != len(old.Blocks) {
		t.Fatalf("%d blocks, want %d", len(s.Blocks), len(old.Blocks))
	}
	for i := range s.Blocks {
		if s.Blocks[i] != old.Blocks[i] {
			t.Fatalf("block %d: %+v, want %+v", i, s.Blocks[i], old.Blocks[i])
		}
	}
	// An answer with both forms' figures is read as the current form.
	both, err := ParseStats([]byte(`{"btc":{"hash_rate_unit":"Th/s","pool_scoring_hash_rate":7,"pool_5m_hash_rate":3,"pool_60m_hash_rate":2,"pool_24h_hash_rate":1,"update_ts":1758709200}}`), "btc")
	if err != nil || both.Form != FormWindowed || both.Hashrate60mHS != 2e12 || both.ScoringHashrateHS != 7e12 {
		t.Fatalf("both forms: %+v, %v", both, err)
	}
}

// TestSampleOfTheCurrentFormIsTheHourBeforeUpdateTS: the sample is pool_60m_hash_rate over
// [update_ts − 1 h, update_ts), whenever it was fetched and whatever the sample interval; the
// older form's stays filed under the interval of the fetch.
func TestSampleOfTheCurrentFormIsTheHourBeforeUpdateTS(t *testing.T) {
	s, err := ParseStats(ingesttest.Fixture(t, "stats_btc_current.json"), "btc")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		fetched time.Time
		every   time.Duration
	}{
		{time.Date(2025, 9, 24, 10, 20, 30, 0, time.UTC), time.Hour},
		{time.Date(2025, 9, 24, 12, 47, 0, 0, time.FixedZone("CEST", 2*3600)), 15 * time.Minute},
		{time.Date(2025, 9, 24, 11, 0, 0, 0, time.UTC), 24 * time.Hour},
	} {
		p, err := Sample(s, tc.fetched, tc.every, DefaultPool)
		if err != nil {
			t.Fatal(err)
		}
		if p.Key() != "braiinspool|braiins|3600|2025-09-24T09:20:00Z" || *p.HashrateHS != s.Hashrate60mHS || p.Blocks != nil ||
			p.Time.Location() != time.UTC || !p.Time.Add(time.Duration(p.IntervalSeconds)*time.Second).Equal(s.Updated) {
			t.Errorf("fetched %v every %v: %s %v H/s, want the hour ending at update_ts with pool_60m_hash_rate", tc.fetched, tc.every, p.Key(), *p.HashrateHS)
		}
	}
	old := Stats{Form: FormScoring, ScoringHashrateHS: 1.5e19}
	p, err := Sample(old, time.Date(2025, 9, 24, 10, 20, 30, 0, time.UTC), time.Hour, DefaultPool)
	if err != nil || p.Key() != "braiinspool|braiins|3600|2025-09-24T10:00:00Z" || *p.HashrateHS != 1.5e19 {
		t.Fatalf("older form: %s, %v", p.Key(), err)
	}
}

// TestTheSameAnswerInGhAndThGivesTheSameHashRates: the Th/s fixture is the Gh/s one with every
// hash rate divided by 1000 in decimal, so exact conversion must give identical H/s.
func TestTheSameAnswerInGhAndThGivesTheSameHashRates(t *testing.T) {
	gh, err := ParseStats(ingesttest.Fixture(t, "stats_btc.json"), "btc")
	if err != nil {
		t.Fatal(err)
	}
	th, err := ParseStats(ingesttest.Fixture(t, "stats_btc_ths.json"), "btc")
	if err != nil {
		t.Fatal(err)
	}
	if th.Unit != "Th/s" || gh.ScoringHashrateHS != th.ScoringHashrateHS || len(gh.Blocks) != len(th.Blocks) {
		t.Fatalf("Gh/s %+v\nTh/s %+v", gh, th)
	}
	for i := range gh.Blocks {
		if gh.Blocks[i] != th.Blocks[i] {
			t.Fatalf("block %d: Gh/s %+v, Th/s %+v", i, gh.Blocks[i], th.Blocks[i])
		}
	}
}

func TestSampleIsFiledUnderTheUTCIntervalOfTheFetch(t *testing.T) {
	s := Stats{ScoringHashrateHS: 1.5e19}
	cest := time.FixedZone("CEST", 2*3600)
	fetched := time.Date(2025, 9, 24, 12, 20, 30, 500_000_000, cest) // 10:20:30.5 UTC
	cases := []struct {
		every time.Duration
		want  string
	}{
		{time.Hour, "braiinspool|braiins|3600|2025-09-24T10:00:00Z"},
		{15 * time.Minute, "braiinspool|braiins|900|2025-09-24T10:15:00Z"},
		{24 * time.Hour, "braiinspool|braiins|86400|2025-09-24T00:00:00Z"},
	}
	for _, tc := range cases {
		p, err := Sample(s, fetched, tc.every, DefaultPool)
		if err != nil {
			t.Fatal(err)
		}
		if p.Key() != tc.want || p.Time.Location() != time.UTC || *p.HashrateHS != 1.5e19 || p.Blocks != nil {
			t.Errorf("every %v: %s (%v), want %s", tc.every, p.Key(), p.Time.Location(), tc.want)
		}
	}
}

func TestRoundsCoverTheTimeBeforeEachBlock(t *testing.T) {
	s, err := ParseStats(ingesttest.Fixture(t, "stats_btc.json"), "btc")
	if err != nil {
		t.Fatal(err)
	}
	rounds, err := Rounds(s, DefaultPool)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"braiinspool|braiins|14120|2025-09-23T13:26:07Z", // 915020: found 1758648087 after 14120 s
		"braiinspool|braiins|31822|2025-09-23T17:21:27Z", // 915061: starts when 915020 was found
		"braiinspool|braiins|25301|2025-09-24T02:11:49Z", // 915102
	}
	for i, r := range rounds {
		if r.Key() != want[i] || *r.Blocks != 1 || r.Time.Location() != time.UTC {
			t.Errorf("round %d: %s blocks %d, want %s with one block", i, r.Key(), *r.Blocks, want[i])
		}
		if end := r.Time.Add(time.Duration(r.IntervalSeconds) * time.Second); !end.Equal(s.Blocks[i].Found) {
			t.Errorf("round %d ends %v, not when its block was found (%v)", i, end, s.Blocks[i].Found)
		}
	}
	if *rounds[2].HashrateHS != parseF(t, "14711022190710100000") {
		t.Errorf("round of 915102: %v H/s", *rounds[2].HashrateHS)
	}
	orphan := Stats{Blocks: []Block{
		{Height: 1, Found: time.Unix(1758705210, 0).UTC(), MiningDuration: 0, State: "Orphaned", ScoringHashrateHS: 1},
	}}
	r, err := Rounds(orphan, DefaultPool)
	if err != nil {
		t.Fatal(err)
	}
	if *r[0].Blocks != 0 || r[0].IntervalSeconds != 1 || !r[0].Time.Equal(time.Unix(1758705210, 0)) {
		t.Fatalf("an orphaned block found the second its round began: %s blocks %d; want 0 blocks over 1 s", r[0].Key(), *r[0].Blocks)
	}
}

func TestConfigValidate(t *testing.T) {
	const token = "s3cr3t-t0ken"
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"a token is enough", Config{Token: token}, ""},
		{"a token file is enough", Config{TokenFile: file}, ""},
		{"no token is refused", Config{}, "access token is required"},
		{"a token and a token file are refused", Config{Token: token, TokenFile: file}, "not both"},
		{"a missing token file is refused", Config{TokenFile: file + ".missing"}, "token file"},
		{"a token with a space is refused", Config{Token: token + " x"}, "cannot go in a header"},
		{"a sample interval that does not divide a day is refused", Config{Token: token, SampleInterval: 7 * time.Minute}, "divide a day"},
		{"a sample interval under a minute is refused", Config{Token: token, SampleInterval: 30 * time.Second}, "at least a minute"},
		{"a pool that is no registry slug is refused", Config{Token: token, Pool: "Braiins Pool"}, "registry slug"},
		{"a coin with a slash is refused", Config{Token: token, Coin: "btc/x"}, "coin"},
		{"a base url with a query is refused", Config{Token: token, BaseURL: "https://pool.example/?a=b"}, "no query"},
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
			if strings.Contains(err.Error(), token) {
				t.Fatalf("the error shows the token: %v", err)
			}
		})
	}
}

func FuzzParseStats(f *testing.F) {
	body := ingesttest.Fixture(f, "stats_btc.json")
	f.Add(body)
	f.Add(ingesttest.Fixture(f, "stats_btc_ths.json"))
	f.Add(ingesttest.Fixture(f, "stats_btc_current.json"))
	f.Add([]byte(`{"btc":{"hash_rate_unit":"Gh/s","pool_5m_hash_rate":0,"pool_60m_hash_rate":1e30,"pool_24h_hash_rate":0,"update_ts":1231010105}}`))
	f.Add(body[:len(body)/2])
	f.Add([]byte(`{"btc":{"hash_rate_unit":"EH/s","pool_scoring_hash_rate":1e300,"blocks":{"0":{"date_found":1231006505,"mining_duration":0,"state":"x","pool_scoring_hash_rate":0}}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseStats(data, "btc")
		if err != nil {
			return
		}
		ok := func(h float64) bool { return h >= 0 && !math.IsInf(h, 0) && !math.Signbit(h) }
		if !ok(s.ScoringHashrateHS) || !ok(s.Hashrate5mHS) || !ok(s.Hashrate60mHS) || !ok(s.Hashrate24hHS) {
			t.Fatalf("accepted hash rates %+v", s)
		}
		switch s.Form {
		case FormWindowed:
			if s.Updated.Location() != time.UTC || s.Updated.Unix() < genesisTime+3600 || s.Updated.After(time.Now().Add(schemas.FutureAllowance)) {
				t.Fatalf("accepted update_ts %v", s.Updated)
			}
		case FormScoring:
			if !s.Updated.IsZero() {
				t.Fatalf("the older form with an update time %v", s.Updated)
			}
		default:
			t.Fatalf("accepted an answer of no form: %+v", s)
		}
		for i, b := range s.Blocks {
			if !ok(b.ScoringHashrateHS) || b.Found.Location() != time.UTC || b.Found.Unix() < genesisTime ||
				b.MiningDuration < 0 || b.State == "" || (i > 0 && s.Blocks[i-1].Height >= b.Height) {
				t.Fatalf("accepted block %+v", b)
			}
		}
		if _, err := Sample(s, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), time.Hour, DefaultPool); err != nil {
			t.Fatalf("a parsed answer gives no valid sample: %v", err)
		}
		if _, err := Rounds(s, DefaultPool); err != nil {
			t.Fatalf("a parsed answer gives no valid rounds: %v", err)
		}
	})
}

// FuzzToHS checks the conversion against exact rational arithmetic: the result is the float64
// nearest to number × 10^unit.
func FuzzToHS(f *testing.F) {
	for _, s := range []string{"5820970883.3011", "1.1", "0", "-0", "1e-3", "123456789012345678901234567890", "2.5E+7"} {
		f.Add(s, "Gh/s")
	}
	f.Add("1.1", "EH/s")
	f.Fuzz(func(t *testing.T, num, unit string) {
		got, err := ToHS(json.Number(num), unit)
		if err != nil {
			return
		}
		if got < 0 || math.IsInf(got, 0) || math.IsNaN(got) || math.Signbit(got) {
			t.Fatalf("ToHS(%q, %q) = %v", num, unit, got)
		}
		if len(num) > 60 {
			return // keep the exact check cheap
		}
		r, ok := new(big.Rat).SetString(num)
		if !ok {
			t.Fatalf("accepted %q, which is no number", num)
		}
		scale := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(unitExponents[strings.ToLower(strings.TrimSpace(unit))])), nil)
		r.Mul(r, new(big.Rat).SetInt(scale))
		want, _ := r.Float64()
		if want == 0 {
			want = 0
		}
		if got != want {
			t.Fatalf("ToHS(%q, %q) = %v, exact nearest is %v", num, unit, got, want)
		}
	})
}
