package braiins

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashatlas/hashatlas/ingest"
	"github.com/hashatlas/hashatlas/schemas"
)

// The formats read here are those of the Pool Stats API, GET /stats/json/<coin>/, which answers
// {"<coin>": {...}}. It has answered in two forms:
//
//   - the older one (FormScoring), documented by the help-centre article "API configuration
//     guide" (https://help.braiins.com/en/support/solutions/articles/77000433512-api-configuration-guide):
//     hash_rate_unit (the unit of every hash rate in the answer, e.g. "Gh/s"),
//     pool_scoring_hash_rate, pool_active_workers, luck and round figures, and blocks. The
//     scoring hash rate is Braiins' exponential moving average of the hash rate of the pool's
//     miners, reflecting the work of the last hours
//     (https://help.braiins.com/en/support/solutions/articles/77000426280);
//   - the current one (FormWindowed), documented on Braiins Academy's "Monitoring" page
//     (https://academy.braiins.com/en/braiins-pool/monitoring/#api-configuration), section Pool
//     Stats API: hash_rate_unit, pool_active_workers, pool_5m_hash_rate, pool_60m_hash_rate and
//     pool_24h_hash_rate (the pool's hash rate over the last 5 minutes, 60 minutes and 24 hours),
//     update_ts (unix seconds: when these figures were last updated), blocks and fpps_rate; no
//     top-level pool_scoring_hash_rate.
//
// In both, blocks are the last blocks the pool found, keyed by height, each with date_found
// (unix seconds), mining_duration (seconds of the round that led to it), state and
// pool_scoring_hash_rate (the pool's scoring hash rate when it was found), all in
// hash_rate_unit. fpps_rate, the luck and round figures are not read.

// Form is the form of an answer (see the comment above).
type Form int

const (
	// FormScoring is the older answer: a top-level pool_scoring_hash_rate.
	FormScoring Form = iota + 1
	// FormWindowed is the current answer: the pool's 5-minute, 60-minute and 24-hour averages
	// and update_ts.
	FormWindowed
)

func (f Form) String() string {
	switch f {
	case FormScoring:
		return "scoring"
	case FormWindowed:
		return "windowed"
	}
	return "unknown"
}

// Window is the length of the average the current form's sample publishes: pool_60m_hash_rate.
const Window = time.Hour

// Stats is what this package reads of one answer.
type Stats struct {
	// Form is the form of the answer.
	Form Form
	// Unit is hash_rate_unit as given ("Gh/s").
	Unit string
	// ScoringHashrateHS is pool_scoring_hash_rate converted to H/s (FormScoring; 0 when the
	// answer has none).
	ScoringHashrateHS float64
	// Hashrate5mHS, Hashrate60mHS and Hashrate24hHS are pool_5m_hash_rate, pool_60m_hash_rate
	// and pool_24h_hash_rate in H/s, and Updated is update_ts in UTC: the end of the three
	// windows (FormWindowed; zero in the older form).
	Hashrate5mHS, Hashrate60mHS, Hashrate24hHS float64
	Updated                                    time.Time
	// ActiveWorkers is pool_active_workers (-1 when absent).
	ActiveWorkers int64
	// Blocks are the recent blocks, by ascending height.
	Blocks []Block
}

// Block is one recently found block.
type Block struct {
	Height int64
	// Found is date_found, in UTC.
	Found time.Time
	// MiningDuration is the length of the round that ended with this block.
	MiningDuration time.Duration
	// State is the block's state as given ("confirmed").
	State string
	// ScoringHashrateHS is the pool's scoring hash rate when the block was found, in H/s.
	ScoringHashrateHS float64
}

// Orphaned reports whether the state says the block left the best chain: such a block counts 0.
func (b Block) Orphaned() bool { return strings.Contains(strings.ToLower(b.State), "orphan") }

// unitExponents maps a hash-rate unit (case-insensitively) to its power of ten in H/s.
var unitExponents = map[string]int{
	"h/s": 0, "kh/s": 3, "mh/s": 6, "gh/s": 9, "th/s": 12, "ph/s": 15, "eh/s": 18, "zh/s": 21,
}

// ToHS converts a hash rate written as a JSON number in unit (H/s … ZH/s, any case) to H/s. The
// conversion is exact in decimal: the number's decimal exponent is shifted by the unit's, and the
// result is the float64 nearest to the exact value (a float multiplication such as
// 5820970883.3011 × 1e9 can be one unit in the last place off). The result must be finite and
// >= 0.
func ToHS(n json.Number, unit string) (float64, error) {
	exp, ok := unitExponents[strings.ToLower(strings.TrimSpace(unit))]
	if !ok {
		return 0, fmt.Errorf("hash-rate unit %q is not one of H/s, kH/s, MH/s, GH/s, TH/s, PH/s, EH/s, ZH/s", ingest.Clip(unit))
	}
	s := string(n)
	if !jsonNumber.MatchString(s) {
		return 0, fmt.Errorf("hash rate %q is not a JSON number", ingest.Clip(s))
	}
	mant, e := s, 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		v, err := strconv.Atoi(s[i+1:])
		if err != nil || v > 1_000_000 || v < -1_000_000 {
			v = 1_000_000 * sign(s[i+1:]) // far beyond float64 either way: ParseFloat says so
		}
		mant, e = s[:i], v
	}
	f, err := strconv.ParseFloat(mant+"e"+strconv.Itoa(e+exp), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, fmt.Errorf("hash rate %s %s is out of range", ingest.Clip(s), unit)
	}
	if f < 0 {
		return 0, fmt.Errorf("hash rate %s %s is negative", ingest.Clip(s), unit)
	}
	if f == 0 {
		f = 0 // not -0, and a value too small for a float64 is 0 H/s
	}
	return f, nil
}

// jsonNumber is the JSON number grammar (RFC 8259 §6).
var jsonNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

func sign(exp string) int {
	if strings.HasPrefix(exp, "-") {
		return -1
	}
	return 1
}

type statsJSON struct {
	Unit          *string                    `json:"hash_rate_unit"`
	Scoring       *json.Number               `json:"pool_scoring_hash_rate"`
	Hashrate5m    *json.Number               `json:"pool_5m_hash_rate"`
	Hashrate60m   *json.Number               `json:"pool_60m_hash_rate"`
	Hashrate24h   *json.Number               `json:"pool_24h_hash_rate"`
	Updated       *json.Number               `json:"update_ts"`
	ActiveWorkers *json.Number               `json:"pool_active_workers"`
	Blocks        map[string]json.RawMessage `json:"blocks"`
}

type blockJSON struct {
	DateFound      *int64       `json:"date_found"`
	MiningDuration *int64       `json:"mining_duration"`
	State          *string      `json:"state"`
	Scoring        *json.Number `json:"pool_scoring_hash_rate"`
}

// genesisTime is the header time of block 0 (unix seconds): no block is found before.
const genesisTime = 1231006505

// ParseStats reads the body of GET /stats/json/<coin>/, in either form. The object under coin
// needs a known hash_rate_unit. An answer with any of pool_5m_hash_rate, pool_60m_hash_rate,
// pool_24h_hash_rate and update_ts is the current form and needs all four: hash rates >= 0 and
// update_ts in unix seconds (from an hour after the genesis block, so that the hour before it
// is a time a message may carry, to now); one without them is the older form and needs a
// pool_scoring_hash_rate >= 0 (an answer with both is read as the current form, its scoring
// hash rate kept in Stats). blocks may be absent or empty, but each block
// present needs a decimal height key, a date_found (unix seconds, from the genesis block to
// 2^32-1), a mining_duration >= 0 not reaching back before the genesis block, a state and a
// pool_scoring_hash_rate >= 0. Errors name the field and the block.
func ParseStats(body []byte, coin string) (Stats, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return Stats{}, errors.New("pool stats: empty body")
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return Stats{}, ingest.JSONFault("pool stats", body, err)
	}
	raw, ok := top[coin]
	if !ok || ingest.IsJSONNull(raw) {
		return Stats{}, fmt.Errorf("pool stats: no %q object", coin)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var s statsJSON
	if err := dec.Decode(&s); err != nil {
		return Stats{}, ingest.JSONFault("pool stats "+coin, raw, err)
	}
	if s.Unit == nil {
		return Stats{}, errors.New("pool stats: hash_rate_unit is missing")
	}
	out := Stats{Unit: *s.Unit, ActiveWorkers: -1}
	var err error
	switch {
	case s.Hashrate5m != nil || s.Hashrate60m != nil || s.Hashrate24h != nil || s.Updated != nil:
		out.Form = FormWindowed
		for _, f := range []struct {
			name string
			n    *json.Number
			to   *float64
		}{{"pool_5m_hash_rate", s.Hashrate5m, &out.Hashrate5mHS}, {"pool_60m_hash_rate", s.Hashrate60m, &out.Hashrate60mHS}, {"pool_24h_hash_rate", s.Hashrate24h, &out.Hashrate24hHS}} {
			if f.n == nil {
				return Stats{}, fmt.Errorf("pool stats: %s is missing (the answer has the current form's figures)", f.name)
			}
			if *f.to, err = ToHS(*f.n, *s.Unit); err != nil {
				return Stats{}, fmt.Errorf("pool stats: %s: %w", f.name, err)
			}
		}
		if s.Updated == nil {
			return Stats{}, errors.New("pool stats: update_ts is missing (the answer has the current form's figures)")
		}
		ts, err := s.Updated.Int64()
		if first := int64(genesisTime + Window/time.Second); err != nil || ts < first || ts > time.Now().Add(schemas.FutureAllowance).Unix() {
			return Stats{}, fmt.Errorf("pool stats: update_ts %q is not a time in unix seconds (from an hour after the genesis block, %d, to now)", ingest.Clip(string(*s.Updated)), first)
		}
		out.Updated = time.Unix(ts, 0).UTC()
	case s.Scoring != nil:
		out.Form = FormScoring
	default:
		return Stats{}, errors.New("pool stats: pool_scoring_hash_rate is missing, and so are pool_60m_hash_rate and update_ts: the answer is in neither known form")
	}
	if s.Scoring != nil {
		if out.ScoringHashrateHS, err = ToHS(*s.Scoring, *s.Unit); err != nil {
			return Stats{}, fmt.Errorf("pool stats: pool_scoring_hash_rate: %w", err)
		}
	}
	if s.ActiveWorkers != nil {
		w, err := s.ActiveWorkers.Int64()
		if err != nil || w < 0 {
			return Stats{}, fmt.Errorf("pool stats: pool_active_workers %q is not a count", ingest.Clip(string(*s.ActiveWorkers)))
		}
		out.ActiveWorkers = w
	}
	for key, rawBlock := range s.Blocks {
		b, err := parseBlock(key, rawBlock, *s.Unit)
		if err != nil {
			return Stats{}, fmt.Errorf("pool stats: block %q: %w", ingest.Clip(key), err)
		}
		out.Blocks = append(out.Blocks, b)
	}
	sort.Slice(out.Blocks, func(i, j int) bool { return out.Blocks[i].Height < out.Blocks[j].Height })
	return out, nil
}

func parseBlock(key string, raw json.RawMessage, unit string) (Block, error) {
	h, err := strconv.ParseInt(key, 10, 64)
	if err != nil || h < 0 || strconv.FormatInt(h, 10) != key {
		return Block{}, errors.New("the key is not a block height")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var b blockJSON
	if err := dec.Decode(&b); err != nil {
		return Block{}, fmt.Errorf("decode: %w", err)
	}
	switch {
	case b.DateFound == nil:
		return Block{}, errors.New("date_found is missing")
	case *b.DateFound < genesisTime || *b.DateFound > math.MaxUint32:
		return Block{}, fmt.Errorf("date_found %d is not a time in unix seconds (from the genesis block's %d to 2^32-1)", *b.DateFound, genesisTime)
	case b.MiningDuration == nil:
		return Block{}, errors.New("mining_duration is missing")
	case *b.MiningDuration < 0 || *b.MiningDuration > *b.DateFound-genesisTime:
		return Block{}, fmt.Errorf("mining_duration %d is negative or reaches back before the genesis block", *b.MiningDuration)
	case b.State == nil || *b.State == "":
		return Block{}, errors.New("state is missing")
	case b.Scoring == nil:
		return Block{}, errors.New("pool_scoring_hash_rate is missing")
	}
	hs, err := ToHS(*b.Scoring, unit)
	if err != nil {
		return Block{}, fmt.Errorf("pool_scoring_hash_rate: %w", err)
	}
	return Block{
		Height: h, Found: time.Unix(*b.DateFound, 0).UTC(), MiningDuration: time.Duration(*b.MiningDuration) * time.Second,
		State: *b.State, ScoringHashrateHS: hs,
	}, nil
}

// Sample is the pool's hash rate as one answer gives it, as a message:
//
//   - current form: the pool's 60-minute average, over [update_ts − 60 min, update_ts):
//     time = update_ts − 60 min, interval_seconds = 3600, hashrate_hs = pool_60m_hash_rate — the
//     mean over exactly the interval the message claims, as the schema defines hashrate_hs.
//     Of the three averages it is the one whose window is the collector's hour: the 24-hour
//     one read every hour would make 24 windows a day, each overlapping the one before by 23
//     hours (and the daily comparison files each under the UTC day it starts in, which holds
//     only part of it); the 5-minute one would leave 55 minutes of each hour unobserved and be
//     as noisy as 5 minutes of shares are. fetched and every are not used: the answer dates its
//     figures itself.
//   - older form: the pool's current scoring hash rate filed under the interval of length every
//     that contains fetched (intervals aligned on UTC midnight): time = that interval's start,
//     interval_seconds = every, hashrate_hs = the scoring hash rate. It is a reading taken at the
//     fetch of a moving average over the last hours, not a mean over [time, time + every): the
//     bucket says when it was read, which is all that answer tells.
func Sample(s Stats, fetched time.Time, every time.Duration, pool string) (schemas.PoolStats, error) {
	var p schemas.PoolStats
	switch s.Form {
	case FormWindowed:
		h := s.Hashrate60mHS
		p = schemas.PoolStats{
			Schema: schemas.SchemaPoolStats, Pool: pool, Time: s.Updated.UTC().Add(-Window),
			IntervalSeconds: int64(Window / time.Second), HashrateHS: &h, Source: SourceName,
		}
	default:
		h := s.ScoringHashrateHS
		p = schemas.PoolStats{
			Schema: schemas.SchemaPoolStats, Pool: pool, Time: fetched.UTC().Truncate(every),
			IntervalSeconds: int64(every / time.Second), HashrateHS: &h, Source: SourceName,
		}
	}
	if err := p.Validate(); err != nil {
		return schemas.PoolStats{}, fmt.Errorf("pool stats sample: %w", err)
	}
	return p, nil
}

// Rounds turns each recent block into the round that ended with it: time = date_found −
// mining_duration, interval = mining_duration (at least 1 s), blocks = 1 (0 when the state says
// orphaned), hashrate_hs = the scoring hash rate when the block was found — a moving average of
// the last hours, so close to the round's mean hash rate for a round of hours, not exactly it.
func Rounds(s Stats, pool string) ([]schemas.PoolStats, error) {
	out := make([]schemas.PoolStats, 0, len(s.Blocks))
	for _, b := range s.Blocks {
		n := int64(1)
		if b.Orphaned() {
			n = 0
		}
		h := b.ScoringHashrateHS
		p := schemas.PoolStats{
			Schema: schemas.SchemaPoolStats, Pool: pool, Time: b.Found.Add(-b.MiningDuration),
			IntervalSeconds: max(int64(b.MiningDuration/time.Second), 1), HashrateHS: &h, Blocks: &n, Source: SourceName,
		}
		if err := p.Validate(); err != nil {
			return nil, fmt.Errorf("pool stats: round of block %d: %w", b.Height, err)
		}
		out = append(out, p)
	}
	return out, nil
}
