-- 0001: raw inputs, as published on the Kafka input topics and written by the ClickHouse sink.
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
-- Tables use ReplacingMergeTree(version) with ORDER BY = the natural key, so a re-delivered or
-- recomputed row replaces the old one at merge time. Read with FINAL (or the *_latest views of
-- 0003) to see exactly one row per key. `version` is the Unix time in nanoseconds at which the
-- writer produced the row (for raw rows: when it was observed/ingested): the newest wins.
-- Partitions (by month of the row's own event time) are a function of the key, so duplicates
-- always meet in one partition. All times are UTC, whole seconds.

CREATE TABLE IF NOT EXISTS blocks (
    height UInt32 COMMENT 'block height',
    hash String COMMENT 'block hash, lowercase hex',
    prev_hash String COMMENT 'hash of the previous block, lowercase hex',
    time DateTime('UTC') COMMENT 'block header timestamp (set by the miner, not monotonic)',
    bits UInt32 COMMENT 'compact difficulty target (nBits)',
    difficulty Float64 COMMENT 'difficulty implied by bits',
    work String COMMENT 'expected hashes to find this block (2^256 / (target + 1)), exact decimal integer',
    work_f64 Float64 COMMENT 'work as Float64, for arithmetic (relative error about 1e-16)',
    tx_count UInt32 COMMENT 'number of transactions, coinbase included',
    coinbase_script_hex String COMMENT 'coinbase input script, lowercase hex',
    coinbase_ascii String COMMENT 'printable ASCII of the coinbase script (pool tags)',
    coinbase_addresses Array(String) COMMENT 'addresses paid by the coinbase outputs',
    pool String COMMENT 'attributed mining pool slug (Foundry USA is foundryusa), unknown when nothing matched',
    pool_registry_version String COMMENT 'version of the pool registry used for attribution',
    attribution_method String COMMENT 'how the pool was attributed: address, tag, unknown (registry applied, no match), file (replayed attribution) or simulated',
    source String COMMENT 'collector that observed the block: bitcoind, esplora, file, simulator',
    observed_at DateTime('UTC') COMMENT 'when the collector observed the block',
    version UInt64 COMMENT 'row version: Unix nanoseconds when the row was produced, the highest wins'
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(time)
ORDER BY (height, hash);

CREATE TABLE IF NOT EXISTS orphaned_blocks (
    height UInt32 COMMENT 'height of the block that left the best chain',
    hash String COMMENT 'hash of the orphaned block',
    replaced_by String COMMENT 'hash of the block now at that height in the best chain',
    detected_at DateTime('UTC') COMMENT 'when the reorganisation was detected',
    version UInt64 COMMENT 'row version: Unix nanoseconds when the row was produced, the highest wins'
) ENGINE = ReplacingMergeTree(version)
ORDER BY (height, hash);

CREATE TABLE IF NOT EXISTS difficulty_epochs (
    start_height UInt32 COMMENT 'first height of the 2016-block difficulty epoch',
    bits UInt32 COMMENT 'compact difficulty target of the epoch',
    difficulty Float64 COMMENT 'difficulty of the epoch',
    first_block_time DateTime('UTC') COMMENT 'timestamp of the first block of the epoch, 1970-01-01 00:00:00 when unknown (an epoch first seen mid-way)',
    source String COMMENT 'collector that observed the epoch',
    version UInt64 COMMENT 'row version: Unix nanoseconds when the row was produced, the highest wins'
) ENGINE = ReplacingMergeTree(version)
ORDER BY start_height;

CREATE TABLE IF NOT EXISTS pool_stats (
    pool String COMMENT 'mining pool',
    time DateTime('UTC') COMMENT 'start of the reporting interval',
    interval_seconds UInt32 COMMENT 'length of the reporting interval in seconds',
    hashrate_hs Float64 COMMENT 'hashrate the pool reports, hashes per second',
    blocks UInt32 COMMENT 'blocks the pool reports finding in the interval',
    source String COMMENT 'where the figure comes from (a pool API, the simulator, a file)',
    version UInt64 COMMENT 'row version: Unix nanoseconds when the row was produced, the highest wins'
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(time)
ORDER BY (pool, source, interval_seconds, time);

CREATE TABLE IF NOT EXISTS grid_observations (
    region String COMMENT 'grid region (balancing authority or market zone), e.g. ERCO',
    country String COMMENT 'ISO 3166-1 alpha-2 country of the region',
    time DateTime('UTC') COMMENT 'start of the observation interval',
    interval_seconds UInt32 COMMENT 'length of the observation interval in seconds',
    metric String COMMENT 'what was observed, e.g. demand, price, curtailment',
    value Float64 COMMENT 'observed value, in unit',
    unit String COMMENT 'unit of value, e.g. MW, USD/MWh',
    source String COMMENT 'grid operator or data set, e.g. eia',
    version UInt64 COMMENT 'row version: Unix nanoseconds when the row was produced, the highest wins'
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(time)
ORDER BY (region, metric, source, interval_seconds, time);
