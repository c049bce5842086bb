-- 0003: views that read the latest version of each row (what analysts should query).
--
-- Conventions of every migration file (checked by schemas.Migrations):
--   * a statement ends with ';' as the last character of a line, and ';' appears nowhere else
--     outside comment lines (not in strings, not in column comments)
--   * lines starting with -- are comments and are not sent to the server
--   * table names are unqualified: `hashatlas migrate` applies them in the configured database
--   * statements are idempotent (IF NOT EXISTS): an interrupted migration is simply re-applied
--   * an applied file is never edited (its sha256 is recorded and checked): add a new file
--   * the SQL must run on ClickHouse 18.16 (Debian server) and 26.7 (chDB)
--
-- <table>_latest is the table with FINAL: exactly one row per natural key, the one with the
-- highest version, whether or not background merges have happened yet. The views select *, so
-- they follow columns added to their table later. Derived views keep every model_version:
-- filter on model_version (and final = 1 for closed windows) when comparing over time.
-- blocks_canonical is the best chain: the latest blocks rows minus orphaned ones.

CREATE VIEW IF NOT EXISTS blocks_latest AS
SELECT * FROM blocks FINAL;

CREATE VIEW IF NOT EXISTS orphaned_blocks_latest AS
SELECT * FROM orphaned_blocks FINAL;

CREATE VIEW IF NOT EXISTS difficulty_epochs_latest AS
SELECT * FROM difficulty_epochs FINAL;

CREATE VIEW IF NOT EXISTS pool_stats_latest AS
SELECT * FROM pool_stats FINAL;

CREATE VIEW IF NOT EXISTS grid_observations_latest AS
SELECT * FROM grid_observations FINAL;

CREATE VIEW IF NOT EXISTS network_hashrate_latest AS
SELECT * FROM network_hashrate FINAL;

CREATE VIEW IF NOT EXISTS pool_hashrate_latest AS
SELECT * FROM pool_hashrate FINAL;

CREATE VIEW IF NOT EXISTS country_hashrate_latest AS
SELECT * FROM country_hashrate FINAL;

CREATE VIEW IF NOT EXISTS region_block_share_latest AS
SELECT * FROM region_block_share FINAL;

CREATE VIEW IF NOT EXISTS energy_signals_latest AS
SELECT * FROM energy_signals FINAL;

CREATE VIEW IF NOT EXISTS blocks_canonical AS
SELECT * FROM blocks FINAL
WHERE (height, hash) NOT IN (SELECT height, hash FROM orphaned_blocks FINAL);
