-- 0004: what model 1.1.0 and the pool-statistics collectors add: flags saying which figures a
-- pool-statistics row really carries, the monthly region view the press figure comes from,
-- the pool-reported hashrate beside the block-based estimate, and the ground truth of
-- simulated worlds.
--
-- ALTER TABLE ... ADD COLUMN has no IF NOT EXISTS on the 18.16 server: `hashatlas migrate`
-- skips such a statement when the column is already there, so this file may be re-applied.

ALTER TABLE pool_stats ADD COLUMN hashrate_reported UInt8 DEFAULT 1 COMMENT '1 when the source reported hashrate_hs, 0 when it did not (hashrate_hs is then 0 and means nothing)';

ALTER TABLE pool_stats ADD COLUMN blocks_reported UInt8 DEFAULT 1 COMMENT '1 when the source reported blocks, 0 when it did not (blocks is then 0 and means nothing)';

-- The block share of the pools run from each region, by calendar month: "the share of
-- North American pools" (region north-america). One row per month, region and model version.
CREATE VIEW IF NOT EXISTS region_block_share_monthly AS
SELECT
    window_start AS month,
    region,
    blocks,
    share,
    share_lower,
    share_upper,
    final,
    model_version
FROM region_block_share FINAL
WHERE window = 'month';

-- Ground truth of simulated worlds (`hashatlas simulate`), to compare with the estimates:
-- time-averaged hashrates and shares per window, and the curtailment fractions planted.
CREATE TABLE IF NOT EXISTS simulation_truth (
    run String COMMENT 'the simulated world: seed and span, e.g. seed-1_2024-01-01_2026-01-01',
    window String COMMENT 'window kind: day, week, month (UTC calendar) or run (the whole simulation)',
    window_start DateTime('UTC') COMMENT 'start of the window, inclusive',
    window_end DateTime('UTC') COMMENT 'end of the window, exclusive',
    entity String COMMENT 'network, a pool slug, a country code (XX: pools without an allocation row) or pool/region',
    metric String COMMENT 'the estimate metric this is the truth of, e.g. country_hashrate (units as in the estimates topic)',
    value Float64 COMMENT 'true value: H/s for hashrates, a fraction 0-1 for shares and curtailment',
    version UInt64 COMMENT 'row version: Unix nanoseconds when the row was written, the highest wins'
) ENGINE = ReplacingMergeTree(version)
ORDER BY (run, metric, window, window_start, entity);

CREATE VIEW IF NOT EXISTS simulation_truth_latest AS
SELECT * FROM simulation_truth FINAL;
