package mempool

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/hashatlas/hashatlas/ingest"
	"github.com/hashatlas/hashatlas/ingest/pools"
	"github.com/hashatlas/hashatlas/schemas"
)

// The response formats read here are those of the mempool REST API documentation
// (https://mempool.space/docs/api/rest, section Mining: "GET Mining Pools",
// "GET Mining Pool Hashrates", "GET Mining Pool Hashrate"); what the figures mean comes from the
// mempool backend that computes them (github.com/mempool/mempool, backend/src/api/mining/mining.ts
// and backend/src/repositories/HashratesRepository.ts).

// Week is the interval of every hashrate history row: mempool indexes pool hashrates weekly.
const Week = 7 * 24 * time.Hour

// RankedPool is one entry of a pool ranking.
type RankedPool struct {
	// Name is mempool's display name ("Foundry USA").
	Name string
	// Slug is mempool's identifier of the pool ("foundryusa"), lower-cased.
	Slug string
	// Blocks is the number of blocks mempool attributes to the pool in the ranking's period.
	Blocks int64
	// Rank is the pool's place by blocks, from 1.
	Rank int64
}

// Ranking is the body of GET /v1/mining/pools/:timePeriod: every pool that found a block in the
// trailing period, with its block count.
type Ranking struct {
	Pools []RankedPool
	// Blocks is the number of blocks in the period, the sum of the pools' counts.
	Blocks int64
}

type rankingJSON struct {
	Pools *[]struct {
		Name       *string `json:"name"`
		Slug       *string `json:"slug"`
		BlockCount *int64  `json:"blockCount"`
		Rank       *int64  `json:"rank"`
	} `json:"pools"`
	BlockCount *int64 `json:"blockCount"`
}

// ParseRanking reads the body of GET /v1/mining/pools/:timePeriod. An empty object ({}, what an
// instance without a mining index answers) is an empty ranking. Every pool needs a name, a slug
// that is a pool slug once lower-cased, a block count >= 0 and a rank; the top-level blockCount
// must be the sum of the pools' counts (mempool computes it so), which catches a body cut short
// inside the list.
func ParseRanking(body []byte) (Ranking, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return Ranking{}, errors.New("pool ranking: empty body")
	}
	var raw rankingJSON
	if err := json.Unmarshal(body, &raw); err != nil {
		return Ranking{}, ingest.JSONFault("pool ranking", body, err)
	}
	if raw.Pools == nil {
		if raw.BlockCount != nil && *raw.BlockCount != 0 {
			return Ranking{}, fmt.Errorf("pool ranking: blockCount %d but no pools", *raw.BlockCount)
		}
		return Ranking{}, nil
	}
	r := Ranking{Pools: make([]RankedPool, 0, len(*raw.Pools))}
	var sum int64
	seen := map[string]int{}
	for i, p := range *raw.Pools {
		switch {
		case p.Name == nil || *p.Name == "":
			return Ranking{}, fmt.Errorf("pool ranking: pool %d: name is missing", i)
		case p.Slug == nil || *p.Slug == "":
			return Ranking{}, fmt.Errorf("pool ranking: pool %d (%q): slug is missing", i, ingest.Clip(*p.Name))
		case p.BlockCount == nil:
			return Ranking{}, fmt.Errorf("pool ranking: pool %d (%q): blockCount is missing", i, ingest.Clip(*p.Name))
		case *p.BlockCount < 0:
			return Ranking{}, fmt.Errorf("pool ranking: pool %d (%q): blockCount %d is negative", i, ingest.Clip(*p.Name), *p.BlockCount)
		case p.Rank == nil || *p.Rank < 1:
			return Ranking{}, fmt.Errorf("pool ranking: pool %d (%q): rank is missing or below 1", i, ingest.Clip(*p.Name))
		}
		slug := pools.Slug(*p.Slug)
		if slug == "" {
			return Ranking{}, fmt.Errorf("pool ranking: pool %d (%q): slug %q has no [a-z0-9] characters", i, ingest.Clip(*p.Name), ingest.Clip(*p.Slug))
		}
		if j, dup := seen[slug]; dup {
			return Ranking{}, fmt.Errorf("pool ranking: pools %d and %d have the same slug %q", j, i, slug)
		}
		seen[slug] = i
		if sum > math.MaxInt64-*p.BlockCount {
			return Ranking{}, errors.New("pool ranking: block counts overflow")
		}
		sum += *p.BlockCount
		r.Pools = append(r.Pools, RankedPool{Name: *p.Name, Slug: slug, Blocks: *p.BlockCount, Rank: *p.Rank})
	}
	if raw.BlockCount == nil {
		return Ranking{}, errors.New("pool ranking: blockCount is missing")
	}
	if *raw.BlockCount != sum {
		return Ranking{}, fmt.Errorf("pool ranking: blockCount %d is not the sum %d of the %d pools' counts", *raw.BlockCount, sum, len(r.Pools))
	}
	r.Blocks = sum
	return r, nil
}

// HashrateRow is one row of the weekly pool hashrate history.
type HashrateRow struct {
	// End is the end of the week the row covers: mempool dates a weekly row by the Monday
	// 00:00 UTC that closes it, and computes it from the blocks of the 7 days before. Some rows
	// end on another day (see IsWeekEnd and HistoryStats).
	End time.Time
	// AvgHashrate is mempool's "avgHashrate" in H/s: Share × the network hashrate that
	// Bitcoin Core's getnetworkhashps estimates from the week's blocks (chain work over the
	// time between its first and last block). It is a block-share estimate, not a figure the
	// pool reported.
	AvgHashrate float64
	// Share is the pool's share of the week's blocks, in [0, 1].
	Share float64
	// PoolName is mempool's display name of the pool; the rows carry no slug.
	PoolName string
}

// firstWeekEnd is the earliest end of a week of pool history (unix seconds): the week must
// start no earlier than the genesis block, as every time a message carries must.
var firstWeekEnd = schemas.GenesisTime.Add(Week).Unix()

type hashrateJSON struct {
	Timestamp   *int64   `json:"timestamp"`
	AvgHashrate *float64 `json:"avgHashrate"`
	Share       *float64 `json:"share"`
	PoolName    *string  `json:"poolName"`
}

// ParseHashrates reads the body of GET /v1/mining/hashrate/pools/:timePeriod or
// GET /v1/mining/pool/:slug/hashrate: a JSON array of weekly rows. An empty array is no rows.
// Every row needs a timestamp (unix seconds, from a week after the genesis block to now), an
// avgHashrate >= 0 (H/s), a share in [0, 1] and a poolName. Errors name the row and the field.
func ParseHashrates(body []byte) ([]HashrateRow, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, errors.New("hashrate history: empty body")
	}
	var raw []hashrateJSON
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, ingest.JSONFault("hashrate history", body, err)
	}
	rows := make([]HashrateRow, 0, len(raw))
	for i, r := range raw {
		switch {
		case r.Timestamp == nil:
			return nil, fmt.Errorf("hashrate history: row %d: timestamp is missing", i)
		case *r.Timestamp < firstWeekEnd || *r.Timestamp > time.Now().Add(schemas.FutureAllowance).Unix():
			return nil, fmt.Errorf("hashrate history: row %d: timestamp %d is not a week's end in unix seconds (from a week after the genesis block, %d, to now)",
				i, *r.Timestamp, firstWeekEnd)
		case r.AvgHashrate == nil:
			return nil, fmt.Errorf("hashrate history: row %d: avgHashrate is missing", i)
		case math.IsInf(*r.AvgHashrate, 0) || math.IsNaN(*r.AvgHashrate) || *r.AvgHashrate < 0:
			return nil, fmt.Errorf("hashrate history: row %d: avgHashrate %v is not a hashrate >= 0", i, *r.AvgHashrate)
		case r.Share == nil:
			return nil, fmt.Errorf("hashrate history: row %d: share is missing", i)
		case !(*r.Share >= 0 && *r.Share <= 1):
			return nil, fmt.Errorf("hashrate history: row %d: share %v is not in [0, 1]", i, *r.Share)
		case r.PoolName == nil || *r.PoolName == "":
			return nil, fmt.Errorf("hashrate history: row %d: poolName is missing", i)
		}
		rows = append(rows, HashrateRow{
			End: time.Unix(*r.Timestamp, 0).UTC(), AvgHashrate: *r.AvgHashrate, Share: *r.Share, PoolName: *r.PoolName,
		})
	}
	return rows, nil
}

// SlugMapper turns mempool's pool identifiers into the slugs messages carry.
//
// The rule: mempool derives a pool's slug from its name the way the registry does (lower case,
// only [a-z0-9]), so a mempool slug that a registry pool has is that pool. A slug that the rename
// table of ingest/pools (aliases.csv, pools.Canonical) gives as a pool's former one — mempool
// instances whose pool list predates a rename still answer "slushpool" for Braiins Pool — is
// the pool's current slug, unless the registry itself lists the old slug as a pool (then the
// blocks it attributes carry that slug, and the figures must stay beside them). Any other slug
// the registry does not know is kept as it is — mempool's own identifier, still one pool per
// slug — and reported by Unknown so that the registry can be extended. mempool's "Unknown" pool
// (blocks its registry attributes to no one) becomes "unknown". History rows carry only a name:
// its slug is the one a ranking of the same pass gave that name, else the name's slug by the
// same rule.
type SlugMapper struct {
	known  map[string]bool
	byName map[string]string
	// unknown collects the slugs not in the registry, renamed the renames applied (old → new),
	// for one log line each per pass.
	unknown map[string]bool
	renamed map[string]string
}

// NewSlugMapper maps against the registry's slugs (nil: no registry, every slug is kept but
// for the renames).
func NewSlugMapper(reg *pools.Registry) *SlugMapper {
	m := &SlugMapper{known: map[string]bool{}, byName: map[string]string{}, unknown: map[string]bool{}, renamed: map[string]string{}}
	if reg != nil {
		for _, s := range reg.Slugs() {
			m.known[s] = true
		}
	}
	return m
}

// Learn records the slug mempool gives a pool name (from a ranking).
func (m *SlugMapper) Learn(name, slug string) { m.byName[name] = slug }

// FromSlug maps a mempool slug.
func (m *SlugMapper) FromSlug(slug string) string {
	s := pools.Slug(slug)
	if c := pools.Canonical(s); c != s && !m.known[s] {
		m.renamed[s] = c
		s = c
	}
	if s != pools.Unknown && len(m.known) > 0 && !m.known[s] {
		m.unknown[s] = true
	}
	return s
}

// FromName maps a mempool pool name (history rows).
func (m *SlugMapper) FromName(name string) string {
	if s, ok := m.byName[name]; ok {
		return m.FromSlug(s)
	}
	return m.FromSlug(pools.Slug(name))
}

// Unknown lists, sorted, the slugs mapped so far that the registry does not know.
func (m *SlugMapper) Unknown() []string {
	out := make([]string, 0, len(m.unknown))
	for s := range m.unknown {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// Renamed lists, sorted, the renames applied so far, as "old→new".
func (m *SlugMapper) Renamed() []string {
	out := make([]string, 0, len(m.renamed))
	for old, cur := range m.renamed {
		out = append(out, old+"→"+cur)
	}
	sort.Strings(out)
	return out
}

// RankingStats turns a ranking of the trailing period ending at fetched into one message per pool:
// its block count over [fetched − period, fetched). mempool refreshes a ranking from its database
// at most every 10 minutes and adds new blocks in between, so the window's start is known to
// about 10 minutes; the end is the fetch. fetched is truncated to the second. Two entries that
// map to one pool (an old and a current name of it, listed apart by an instance) count together.
func RankingStats(r Ranking, period time.Duration, fetched time.Time, m *SlugMapper) ([]schemas.PoolStats, error) {
	start := fetched.UTC().Truncate(time.Second).Add(-period)
	out := make([]schemas.PoolStats, 0, len(r.Pools))
	at := map[string]int{}
	for _, p := range r.Pools {
		pool := m.FromSlug(p.Slug)
		if i, dup := at[pool]; dup {
			sum := *out[i].Blocks + p.Blocks // ParseRanking bounds the sum of the counts
			out[i].Blocks = &sum
			continue
		}
		blocks := p.Blocks
		s := schemas.PoolStats{
			Schema: schemas.SchemaPoolStats, Pool: pool, Time: start,
			IntervalSeconds: int64(period / time.Second), Blocks: &blocks, Source: SourceName,
		}
		if err := s.Validate(); err != nil {
			return nil, fmt.Errorf("pool ranking: pool %q: %w", ingest.Clip(p.Name), err)
		}
		at[pool] = len(out)
		out = append(out, s)
	}
	return out, nil
}

// IsWeekEnd reports whether t is a Monday 00:00:00 UTC: the end of a week as mempool's indexer
// dates its weekly rows (backend/src/api/mining/mining.ts, $generatePoolHashrateHistory: it runs
// "around Monday midnight", starts at the last Monday's midnight UTC and steps back 604800 s at
// a time, each row stamped with the end of its 7 days).
func IsWeekEnd(t time.Time) bool {
	return t.Unix()%86400 == 0 && t.UTC().Weekday() == time.Monday
}

// HistoryStats turns weekly rows into messages: time = the row's week end − 7 days (the Monday
// 00:00 UTC that starts the week), interval 604800 s, hashrate_hs = avgHashrate (see
// HashrateRow.AvgHashrate for what it is). slugOf maps a row's pool name.
//
// A row whose end is not a Monday 00:00 UTC (IsWeekEnd) is left out and returned in offWeek,
// for the caller to log. mempool's own documentation shows such rows: its sample answer of GET
// /v1/mining/pool/:slug/hashrate lists one pool's weeks ending on Mondays and on the Tuesdays
// after them side by side (2022-03-14 and -15, -21 and -22, -28 and -29). Each Tuesday row is a
// second 7-day window overlapping a Monday week by six days; published as it is, the series
// (pool, "mempool", 604800) would hold two overlapping weeks. Moving it onto a Monday week
// instead would file its figure — the pool's block share over its own seven days, times the
// network hashrate over them — under days it does not cover, and give that week two figures:
// the Monday row's and the moved one, which this function refuses as a disagreement within an
// answer and a later pass would publish as a "revision" over the Monday row. So the Monday rows
// alone make the series: the ones mempool's indexer writes, every week of them; a week for which
// an answer has only an off-day row stays empty rather than misdated.
//
// Rows that land on one message key count once when they are the same row again (same pool
// name, same figure) and are an error when they disagree; rows of different names that map to
// one pool (an old and a current name of it, listed apart by an instance) add up, as block
// shares of one week do.
func HistoryStats(rows []HashrateRow, slugOf func(name string) string) (msgs []schemas.PoolStats, offWeek []HashrateRow, err error) {
	out := make([]schemas.PoolStats, 0, len(rows))
	at := map[string]int{}
	byName := map[string]map[string]float64{} // key → pool name → its figure
	for i, r := range rows {
		if !IsWeekEnd(r.End) {
			offWeek = append(offWeek, r)
			continue
		}
		h := r.AvgHashrate
		s := schemas.PoolStats{
			Schema: schemas.SchemaPoolStats, Pool: slugOf(r.PoolName), Time: r.End.Add(-Week),
			IntervalSeconds: int64(Week / time.Second), HashrateHS: &h, Source: SourceName,
		}
		if err := s.Validate(); err != nil {
			return nil, nil, fmt.Errorf("hashrate history: row %d (%q): %w", i, ingest.Clip(r.PoolName), err)
		}
		k := s.Key()
		j, dup := at[k]
		if !dup {
			at[k] = len(out)
			byName[k] = map[string]float64{r.PoolName: h}
			out = append(out, s)
			continue
		}
		if prev, seen := byName[k][r.PoolName]; seen {
			if prev != h {
				return nil, nil, fmt.Errorf("hashrate history: rows for %s disagree (%v and %v H/s)", k, prev, h)
			}
			continue
		}
		byName[k][r.PoolName] = h
		sum := *out[j].HashrateHS + h
		out[j].HashrateHS = &sum
	}
	return out, offWeek, nil
}
