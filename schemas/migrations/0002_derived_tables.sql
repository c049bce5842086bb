-- 0002: derived estimates written by the estimator, one row per (window, entity, model).
--
-- Conventions of every migration file (checked by schemas.Migrations):
--   * a statement ends with ';' as the last character of a line, and ';' appears nowhere else
--     outside comment lines (not in strings, not in column comments)
--   * lines starting with -- are comments and are not sent to the server
--   * table names are unqualified: `hashatlas migrate` applies them in the configured database
--   * statements are idempotent (IF NOT EXISTS): an interrupted migration is simply re-applied
--   * an applied file is never edited (its sha256 is recorded and checked): add a new file
--   * the SQL must run on ClickHouse 18.16 (Debian server) and 26.7 (chDB): no DateTime64,
--     TTL, CODEC, Map, LowCardinality, Nullable keys, or table-level COMMENT
--
-- Every derived table has the same frame: the window (window, window_start, window_end), the
-- entity columns, a value with lower and upper bounds for each estimated quantity (the bounds
-- cover the true value with probability interval_level, 0.95 unless stated), whether the window
-- is final, how many blocks it saw, and provenance (model_version, method, inputs_digest,
-- computed_at). The natural key (ORDER BY) is (window, window_start, entity..., model_version,
-- method): a recompute of the same window by the same model replaces the old row, and
-- different model versions coexist. `version` is the Unix time in nanoseconds of the compute:
-- the newest wins. Read with FINAL or the *_latest views of 0003.

CREATE TABLE IF NOT EXISTS network_hashrate (
    window String COMMENT 'window kind: day, week, month (UTC calendar) or lastn (the last N blocks)',
    window_start DateTime('UTC') COMMENT 'start of the window, inclusive (lastn: time of its first block)',
    window_end DateTime('UTC') COMMENT 'end of the window: exclusive for day, week, month, the time of its last block for lastn',
    hashrate_hs Float64 COMMENT 'network hashrate, hashes per second, point estimate',
    hashrate_hs_lower Float64 COMMENT 'lower bound of hashrate_hs',
    hashrate_hs_upper Float64 COMMENT 'upper bound of hashrate_hs',
    luck Float64 COMMENT 'block luck, observed over expected blocks, point estimate',
    luck_lower Float64 COMMENT 'lower bound of luck',
    luck_upper Float64 COMMENT 'upper bound of luck',
    expected_blocks Float64 COMMENT 'blocks expected in the window at the difficulty in force',
    interval_level Float64 DEFAULT 0.95 COMMENT 'probability that a lower-upper interval covers the true value',
    final UInt8 COMMENT '1 when the window is closed and past the watermark, 0 while it may still change',
    blocks UInt32 COMMENT 'blocks in the window (for an entity: blocks attributed to it)',
    model_version String COMMENT 'version of the estimation model that produced the row',
    method String COMMENT 'estimation method within the model',
    inputs_digest String COMMENT 'sha256 hex of the inputs the estimate was computed from',
    computed_at DateTime('UTC') COMMENT 'when the estimate was computed',
    version UInt64 COMMENT 'row version: Unix nanoseconds of the compute, the highest wins'
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(window_start)
ORDER BY (window, window_start, model_version, method);

CREATE TABLE IF NOT EXISTS pool_hashrate (
    window String COMMENT 'window kind: day, week, month (UTC calendar) or lastn (the last N blocks)',
    window_start DateTime('UTC') COMMENT 'start of the window, inclusive (lastn: time of its first block)',
    window_end DateTime('UTC') COMMENT 'end of the window: exclusive for day, week, month, the time of its last block for lastn',
    pool String COMMENT 'mining pool',
    share Float64 COMMENT 'pool share of blocks (and so of network hashrate), fraction 0-1, point estimate',
    share_lower Float64 COMMENT 'lower bound of share',
    share_upper Float64 COMMENT 'upper bound of share',
    hashrate_hs Float64 COMMENT 'pool hashrate, hashes per second, point estimate',
    hashrate_hs_lower Float64 COMMENT 'lower bound of hashrate_hs',
    hashrate_hs_upper Float64 COMMENT 'upper bound of hashrate_hs',
    interval_level Float64 DEFAULT 0.95 COMMENT 'probability that a lower-upper interval covers the true value',
    final UInt8 COMMENT '1 when the window is closed and past the watermark, 0 while it may still change',
    blocks UInt32 COMMENT 'blocks in the window (for an entity: blocks attributed to it)',
    model_version String COMMENT 'version of the estimation model that produced the row',
    method String COMMENT 'estimation method within the model',
    inputs_digest String COMMENT 'sha256 hex of the inputs the estimate was computed from',
    computed_at DateTime('UTC') COMMENT 'when the estimate was computed',
    version UInt64 COMMENT 'row version: Unix nanoseconds of the compute, the highest wins'
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(window_start)
ORDER BY (window, window_start, pool, model_version, method);

CREATE TABLE IF NOT EXISTS country_hashrate (
    window String COMMENT 'window kind: day, week, month (UTC calendar) or lastn (the last N blocks)',
    window_start DateTime('UTC') COMMENT 'start of the window, inclusive (lastn: time of its first block)',
    window_end DateTime('UTC') COMMENT 'end of the window: exclusive for day, week, month, the time of its last block for lastn',
    country String COMMENT 'ISO 3166-1 alpha-2 country code',
    hashrate_hs Float64 COMMENT 'hashrate located in the country, hashes per second, point estimate',
    hashrate_hs_lower Float64 COMMENT 'lower bound of hashrate_hs',
    hashrate_hs_upper Float64 COMMENT 'upper bound of hashrate_hs',
    share Float64 COMMENT 'country share of network hashrate, fraction 0-1, point estimate',
    share_lower Float64 COMMENT 'lower bound of share',
    share_upper Float64 COMMENT 'upper bound of share',
    power_gw_low Float64 COMMENT 'electric power drawn by the mining, gigawatts, low scenario',
    power_gw_best Float64 COMMENT 'electric power drawn by the mining, gigawatts, best estimate',
    power_gw_high Float64 COMMENT 'electric power drawn by the mining, gigawatts, high scenario',
    energy_twh_year_low Float64 COMMENT 'annualised energy use of the mining, terawatt-hours per year, low scenario',
    energy_twh_year_best Float64 COMMENT 'annualised energy use of the mining, terawatt-hours per year, best estimate',
    energy_twh_year_high Float64 COMMENT 'annualised energy use of the mining, terawatt-hours per year, high scenario',
    interval_level Float64 DEFAULT 0.95 COMMENT 'probability that a lower-upper interval covers the true value',
    final UInt8 COMMENT '1 when the window is closed and past the watermark, 0 while it may still change',
    blocks UInt32 COMMENT 'blocks in the window (for an entity: blocks attributed to it)',
    model_version String COMMENT 'version of the estimation model that produced the row',
    method String COMMENT 'estimation method within the model',
    inputs_digest String COMMENT 'sha256 hex of the inputs the estimate was computed from',
    computed_at DateTime('UTC') COMMENT 'when the estimate was computed',
    version UInt64 COMMENT 'row version: Unix nanoseconds of the compute, the highest wins'
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(window_start)
ORDER BY (window, window_start, country, model_version, method);

CREATE TABLE IF NOT EXISTS region_block_share (
    window String COMMENT 'window kind: day, week, month (UTC calendar) or lastn (the last N blocks)',
    window_start DateTime('UTC') COMMENT 'start of the window, inclusive (lastn: time of its first block)',
    window_end DateTime('UTC') COMMENT 'end of the window: exclusive for day, week, month, the time of its last block for lastn',
    region String COMMENT 'region that blocks are attributed to (through pools)',
    share Float64 COMMENT 'region share of blocks, fraction of blocks 0-1, point estimate',
    share_lower Float64 COMMENT 'lower bound of share',
    share_upper Float64 COMMENT 'upper bound of share',
    interval_level Float64 DEFAULT 0.95 COMMENT 'probability that a lower-upper interval covers the true value',
    final UInt8 COMMENT '1 when the window is closed and past the watermark, 0 while it may still change',
    blocks UInt32 COMMENT 'blocks in the window (for an entity: blocks attributed to it)',
    model_version String COMMENT 'version of the estimation model that produced the row',
    method String COMMENT 'estimation method within the model',
    inputs_digest String COMMENT 'sha256 hex of the inputs the estimate was computed from',
    computed_at DateTime('UTC') COMMENT 'when the estimate was computed',
    version UInt64 COMMENT 'row version: Unix nanoseconds of the compute, the highest wins'
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(window_start)
ORDER BY (window, window_start, region, model_version, method);

CREATE TABLE IF NOT EXISTS energy_signals (
    window String COMMENT 'window kind: day, week, month (UTC calendar) or lastn (the last N blocks)',
    window_start DateTime('UTC') COMMENT 'start of the window, inclusive (lastn: time of its first block)',
    window_end DateTime('UTC') COMMENT 'end of the window: exclusive for day, week, month, the time of its last block for lastn',
    signal String COMMENT 'kind of signal, e.g. curtailment or price_response',
    pool String COMMENT 'mining pool whose hashrate responds, empty for all pools',
    region String COMMENT 'grid region whose events are tested',
    country String COMMENT 'ISO 3166-1 alpha-2 country of the region',
    beta Float64 COMMENT 'response of hashrate to grid events, fraction of hashrate shed per event, point estimate',
    beta_lower Float64 COMMENT 'lower bound of beta',
    beta_upper Float64 COMMENT 'upper bound of beta',
    p_value Float64 COMMENT 'p-value of the response (null hypothesis: no response)',
    events UInt32 COMMENT 'grid events in the window',
    shed_hashrate_hs Float64 COMMENT 'hashrate shed during events, hashes per second',
    shed_power_gw Float64 COMMENT 'power shed during events, gigawatts',
    interval_level Float64 DEFAULT 0.95 COMMENT 'probability that a lower-upper interval covers the true value',
    final UInt8 COMMENT '1 when the window is closed and past the watermark, 0 while it may still change',
    blocks UInt32 COMMENT 'blocks in the window (for an entity: blocks attributed to it)',
    model_version String COMMENT 'version of the estimation model that produced the row',
    method String COMMENT 'estimation method within the model',
    inputs_digest String COMMENT 'sha256 hex of the inputs the estimate was computed from',
    computed_at DateTime('UTC') COMMENT 'when the estimate was computed',
    version UInt64 COMMENT 'row version: Unix nanoseconds of the compute, the highest wins'
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(window_start)
ORDER BY (window, window_start, signal, pool, region, model_version, method);
