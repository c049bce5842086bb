-- 0008: no partitions (issue 17, "fewer parts"; replaces the yearly partitions of 0007).
--
-- These tables are small: a year adds about 53,000 blocks and 13,000 estimate rows to each, a
-- few megabytes. Partitioning them by year still made every write that spans years (a replay,
-- a restart, a reattribution) one part per year touched, and on the 18.16 server each new part
-- costs tens of milliseconds of its CPU: measured on the full replay of 2021-2026 (six pairs of
-- runs, same code but for this file), the server's CPU went from 3.1-4.2 s with yearly
-- partitions to 0.9-1.5 s with none, and the replay's wall time fell by 0.7-2.0 s (6.5 s to
-- 4.6 s in the first pair). A query of one window or one month does not need
-- partitions: every table is ordered by its time or window first, so the primary index skips
-- what the query does not ask for. (ClickHouse's documentation on custom partitioning keys says
-- as much: in most cases a table needs no partition key.) Partitions are for dropping or moving
-- whole periods at once, which hashatlas never does.
--
-- Each table is rebuilt as in 0007: a copy without partitions is filled from the table, swapped
-- in by name and the old one dropped; the first two statements of each table clear what an
-- interrupted run left. The runner (sinks/clickhouse, rebuild.go) runs only a table's last
-- rebuild, so a table still monthly is copied once, here, not twice; it skips a table that has
-- no partitions already, and cluster mode creates these tables without partitions from the
-- start. Run `hashatlas migrate` with the estimator and collectors stopped (Kubernetes: the
-- migrations Job): rows written to a table while it is rebuilt are lost with the old table.

DROP TABLE IF EXISTS blocks__repartition_old;
DROP TABLE IF EXISTS blocks__repartition;
CREATE TABLE blocks__repartition AS blocks ENGINE = ReplacingMergeTree(version) PARTITION BY tuple() ORDER BY (height, hash);
INSERT INTO blocks__repartition SELECT * FROM blocks;
RENAME TABLE blocks TO blocks__repartition_old, blocks__repartition TO blocks;
DROP TABLE blocks__repartition_old;

DROP TABLE IF EXISTS pool_stats__repartition_old;
DROP TABLE IF EXISTS pool_stats__repartition;
CREATE TABLE pool_stats__repartition AS pool_stats ENGINE = ReplacingMergeTree(version) PARTITION BY tuple() ORDER BY (pool, source, interval_seconds, time);
INSERT INTO pool_stats__repartition SELECT * FROM pool_stats;
RENAME TABLE pool_stats TO pool_stats__repartition_old, pool_stats__repartition TO pool_stats;
DROP TABLE pool_stats__repartition_old;

DROP TABLE IF EXISTS grid_observations__repartition_old;
DROP TABLE IF EXISTS grid_observations__repartition;
CREATE TABLE grid_observations__repartition AS grid_observations ENGINE = ReplacingMergeTree(version) PARTITION BY tuple() ORDER BY (region, metric, source, interval_seconds, time);
INSERT INTO grid_observations__repartition SELECT * FROM grid_observations;
RENAME TABLE grid_observations TO grid_observations__repartition_old, grid_observations__repartition TO grid_observations;
DROP TABLE grid_observations__repartition_old;

DROP TABLE IF EXISTS network_hashrate__repartition_old;
DROP TABLE IF EXISTS network_hashrate__repartition;
CREATE TABLE network_hashrate__repartition AS network_hashrate ENGINE = ReplacingMergeTree(version) PARTITION BY tuple() ORDER BY (window, window_start, model_version, method);
INSERT INTO network_hashrate__repartition SELECT * FROM network_hashrate;
RENAME TABLE network_hashrate TO network_hashrate__repartition_old, network_hashrate__repartition TO network_hashrate;
DROP TABLE network_hashrate__repartition_old;

DROP TABLE IF EXISTS pool_hashrate__repartition_old;
DROP TABLE IF EXISTS pool_hashrate__repartition;
CREATE TABLE pool_hashrate__repartition AS pool_hashrate ENGINE = ReplacingMergeTree(version) PARTITION BY tuple() ORDER BY (window, window_start, pool, model_version, method);
INSERT INTO pool_hashrate__repartition SELECT * FROM pool_hashrate;
RENAME TABLE pool_hashrate TO pool_hashrate__repartition_old, pool_hashrate__repartition TO pool_hashrate;
DROP TABLE pool_hashrate__repartition_old;

DROP TABLE IF EXISTS country_hashrate__repartition_old;
DROP TABLE IF EXISTS country_hashrate__repartition;
CREATE TABLE country_hashrate__repartition AS country_hashrate ENGINE = ReplacingMergeTree(version) PARTITION BY tuple() ORDER BY (window, window_start, country, model_version, method);
INSERT INTO country_hashrate__repartition SELECT * FROM country_hashrate;
RENAME TABLE country_hashrate TO country_hashrate__repartition_old, country_hashrate__repartition TO country_hashrate;
DROP TABLE country_hashrate__repartition_old;

DROP TABLE IF EXISTS region_block_share__repartition_old;
DROP TABLE IF EXISTS region_block_share__repartition;
CREATE TABLE region_block_share__repartition AS region_block_share ENGINE = ReplacingMergeTree(version) PARTITION BY tuple() ORDER BY (window, window_start, region, model_version, method);
INSERT INTO region_block_share__repartition SELECT * FROM region_block_share;
RENAME TABLE region_block_share TO region_block_share__repartition_old, region_block_share__repartition TO region_block_share;
DROP TABLE region_block_share__repartition_old;

DROP TABLE IF EXISTS energy_signals__repartition_old;
DROP TABLE IF EXISTS energy_signals__repartition;
CREATE TABLE energy_signals__repartition AS energy_signals ENGINE = ReplacingMergeTree(version) PARTITION BY tuple() ORDER BY (window, window_start, signal, pool, region, model_version, method);
INSERT INTO energy_signals__repartition SELECT * FROM energy_signals;
RENAME TABLE energy_signals TO energy_signals__repartition_old, energy_signals__repartition TO energy_signals;
DROP TABLE energy_signals__repartition_old;

DROP TABLE IF EXISTS chain_stress__repartition_old;
DROP TABLE IF EXISTS chain_stress__repartition;
CREATE TABLE chain_stress__repartition AS chain_stress ENGINE = ReplacingMergeTree(version) PARTITION BY tuple() ORDER BY (day, region, model_version);
INSERT INTO chain_stress__repartition SELECT * FROM chain_stress;
RENAME TABLE chain_stress TO chain_stress__repartition_old, chain_stress__repartition TO chain_stress;
DROP TABLE chain_stress__repartition_old;
