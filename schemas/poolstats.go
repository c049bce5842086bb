package schemas

import (
	"strconv"
	"time"
)

// PoolStats is what a pool (or an explorer's mining API) reports about one
// pool over one interval: its hashrate, its block count, or both. It is an
// observation independent of block attribution, stored beside the
// block-based estimate and never mixed into it silently. Published on
// TopicPoolStats under the key "pool|source|interval_seconds|time".
type PoolStats struct {
	// Schema is SchemaPoolStats ("hashatlas.pool-stats.v1"); Encode fills it
	// in.
	Schema string `json:"schema"`
	// Pool is the pool slug ("foundryusa"); "unknown" is not useful here but
	// allowed.
	Pool string `json:"pool"`
	// Time is the start of the interval the figures cover, in UTC.
	Time time.Time `json:"time"`
	// IntervalSeconds is the length of that interval in seconds (3600 for
	// hourly, 86400 for a day, 604800 for a week; a source's "1m" is
	// 2592000), from MinIntervalSeconds to MaxIntervalSeconds.
	IntervalSeconds int64 `json:"interval_seconds"`
	// HashrateHS is the reported mean hashrate over the interval in hashes
	// per second (H/s), >= 0; nil (omitted) when the source reports none.
	HashrateHS *float64 `json:"hashrate_hs,omitempty"`
	// Blocks is the reported number of blocks found in the interval, >= 0;
	// nil (omitted) when the source reports none. At least one of
	// HashrateHS and Blocks is present.
	Blocks *int64 `json:"blocks,omitempty"`
	// Source names the collector ("mempool", "braiins").
	Source string `json:"source"`
}

// SchemaName returns SchemaPoolStats.
func (PoolStats) SchemaName() string { return SchemaPoolStats }

// Topic returns TopicPoolStats.
func (PoolStats) Topic() string { return TopicPoolStats }

// Key returns "pool|source|interval_seconds|time", time in RFC 3339 UTC.
func (p PoolStats) Key() string {
	b := make([]byte, 0, len(p.Pool)+len(p.Source)+48)
	b = append(b, p.Pool...)
	b = append(b, '|')
	b = append(b, p.Source...)
	b = append(b, '|')
	b = strconv.AppendInt(b, p.IntervalSeconds, 10)
	b = append(b, '|')
	b = appendKeyTime(b, p.Time)
	return string(b)
}

// Validate checks the rules documented on the fields.
func (p PoolStats) Validate() error {
	var fe fieldErrors
	fe.check("schema", checkSchemaField(p.Schema, SchemaPoolStats))
	fe.check("pool", checkSlug(p.Pool))
	fe.check("time", checkTime(p.Time))
	fe.check("interval_seconds", checkInterval(p.IntervalSeconds))
	if p.HashrateHS == nil && p.Blocks == nil {
		fe.add("hashrate_hs", "is required when blocks is absent (a pool-stats message reports hashrate_hs, blocks or both)")
	}
	if p.HashrateHS != nil {
		h := *p.HashrateHS
		if r := checkFinite(h); r != "" {
			fe.add("hashrate_hs", r)
		} else if h < 0 {
			fe.add("hashrate_hs", "must be >= 0, found "+fmtFloat(h))
		}
	}
	if p.Blocks != nil {
		fe.check("blocks", checkCount(*p.Blocks))
	}
	fe.check("source", checkName(p.Source))
	return fe.err()
}

var poolStatsFields = fieldSet{
	names:    []string{"schema", "pool", "time", "interval_seconds", "hashrate_hs", "blocks", "source"},
	required: requiredAll(7, 4, 5),
}

func (p *PoolStats) fieldSet() *fieldSet { return &poolStatsFields }

func (p *PoolStats) decodeField(r *reader, i int) (err error) {
	switch i {
	case 0: // read and checked by decodeObject
		p.Schema = SchemaPoolStats
	case 1:
		p.Pool, err = r.str()
	case 2:
		p.Time, err = r.time()
	case 3:
		p.IntervalSeconds, err = r.int64()
	case 4:
		p.HashrateHS, err = r.optFloat64()
	case 5:
		p.Blocks, err = r.optInt64()
	case 6:
		p.Source, err = r.str()
	}
	return err
}

func (p *PoolStats) appendJSON(buf []byte) []byte {
	// Fixed text, numbers and times take at most about this much.
	buf = grow(buf, 224+len(p.Pool)+len(p.Source))
	buf = append(buf, `{"schema":"`+SchemaPoolStats+`","pool":`...)
	buf = appendVerbatim(buf, p.Pool)
	buf = append(buf, `,"time":`...)
	buf = appendTime(buf, p.Time)
	buf = append(buf, `,"interval_seconds":`...)
	buf = strconv.AppendInt(buf, p.IntervalSeconds, 10)
	if p.HashrateHS != nil {
		buf = append(buf, `,"hashrate_hs":`...)
		buf = appendFloat(buf, *p.HashrateHS)
	}
	if p.Blocks != nil {
		buf = append(buf, `,"blocks":`...)
		buf = strconv.AppendInt(buf, *p.Blocks, 10)
	}
	buf = append(buf, `,"source":`...)
	buf = appendString(buf, p.Source)
	return append(buf, '}')
}
