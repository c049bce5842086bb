-- 0006: grid stress read from the chain (estimate/METHOD.md §8.11).
--
-- chain_stress: every day tested, per region whose reference pools (allocation rows putting at
-- least 90 % of a pool's hashrate in the region's countries, κ >= 10) have a baseline: their
-- blocks against the blocks the difficulty expects, the drop with its interval, the one-sided
-- p-value and its Benjamini-Hochberg q-value over all days and regions, and the network's
-- shortfall. Rows of every day are kept (not only events) so that a day whose q-value rises
-- above the level as history grows is not left behind as a stale event.
CREATE TABLE IF NOT EXISTS chain_stress (
    day DateTime('UTC') COMMENT 'the UTC day tested (its start)',
    region String COMMENT 'chain-stress region: north-america (US and CA) or a country code in lower case',
    reference_pools Array(String) COMMENT 'the reference pools of the region on that day',
    blocks UInt32 COMMENT 'all blocks of the day',
    reference_blocks UInt32 COMMENT 'blocks of the reference pools',
    reference_expected Float64 COMMENT 'blocks the reference pools were expected to find: their baseline rate per difficulty-expected block x the seconds of the day / 600',
    baseline_rate Float64 COMMENT 'blocks of the reference pools per difficulty-expected block over the baseline days',
    dispersion Float64 COMMENT 'over-dispersion factor (>= 1) of the daily counts of the reference pools over the baseline days',
    share_drop Float64 COMMENT 'fraction of the hashrate of the reference pools gone: 1 - reference_blocks / reference_expected',
    share_drop_lower Float64 COMMENT 'lower bound of share_drop (95 %)',
    share_drop_upper Float64 COMMENT 'upper bound of share_drop (95 %)',
    p_value Float64 COMMENT 'one-sided probability of so few reference blocks without stress',
    q_value Float64 COMMENT 'Benjamini-Hochberg adjusted p-value over every day and region tested',
    shortfall_hs Float64 COMMENT 'network hashrate missing on the day (blocks short of the difficulty expectation), H/s',
    shortfall_hs_lower Float64 COMMENT 'lower bound of shortfall_hs',
    shortfall_hs_upper Float64 COMMENT 'upper bound of shortfall_hs',
    shortfall_gw Float64 COMMENT 'power of shortfall_hs at the fleet efficiency of the day, GW (nan when no hardware model counts)',
    final UInt8 COMMENT '1 when the day is closed and past the watermark',
    model_version String COMMENT 'version of the estimation model that produced the row',
    method String COMMENT 'estimation method within the model',
    inputs_digest String COMMENT 'sha256 hex of the inputs of the test',
    computed_at DateTime('UTC') COMMENT 'when the row was computed',
    version UInt64 COMMENT 'row version: Unix nanoseconds of the compute, the highest wins'
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYear(day)
ORDER BY (day, region, model_version);

-- stress_events: the days found, at a false-discovery rate of 1 %.
CREATE VIEW IF NOT EXISTS stress_events AS
SELECT day, region, reference_pools, reference_blocks, reference_expected, share_drop, share_drop_lower, share_drop_upper,
    q_value, shortfall_hs, shortfall_gw, blocks, final, model_version
FROM chain_stress FINAL
WHERE q_value < 0.01;
