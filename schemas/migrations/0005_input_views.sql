-- 0005: views that set the pool-statistics and grid inputs beside the estimates.
--
-- pool_hashrate_vs_reported: the block-based pool hashrate (pool_hashrate, MODEL.md §2) next
-- to what pools or other sites report (pool_stats), never mixed: per pool, day or ISO week and
-- model version, with the reported figures averaged over the window (observations of a day or
-- less go to their UTC day; weekly ones starting on a Monday to their week). Only windows with
-- both appear.
CREATE VIEW IF NOT EXISTS pool_hashrate_vs_reported AS
SELECT
    window,
    window_start,
    pool,
    source,
    model_version,
    hashrate_hs,
    hashrate_hs_lower,
    hashrate_hs_upper,
    reported_hashrate_hs,
    reported_observations
FROM
(
    SELECT window, window_start, pool, model_version, hashrate_hs, hashrate_hs_lower, hashrate_hs_upper
    FROM pool_hashrate FINAL
    WHERE window IN ('day', 'week')
) AS estimated
ALL INNER JOIN
(
    SELECT 'day' AS window, toStartOfDay(time) AS window_start, pool, source,
        avg(hashrate_hs) AS reported_hashrate_hs, count() AS reported_observations
    FROM pool_stats FINAL
    WHERE hashrate_reported = 1 AND interval_seconds <= 86400
    GROUP BY window, window_start, pool, source
    UNION ALL
    SELECT 'week' AS window, time AS window_start, pool, source,
        avg(hashrate_hs) AS reported_hashrate_hs, count() AS reported_observations
    FROM pool_stats FINAL
    WHERE hashrate_reported = 1 AND interval_seconds = 604800 AND toDayOfWeek(time) = 1
    GROUP BY window, window_start, pool, source
) AS reported USING (window, window_start, pool);

-- grid_daily: each region's grid observations by UTC day and metric: how many hours were
-- observed, their mean and maximum (in unit).
CREATE VIEW IF NOT EXISTS grid_daily AS
SELECT
    toStartOfDay(time) AS day,
    region,
    country,
    metric,
    unit,
    source,
    count() AS observations,
    avg(value) AS mean_value,
    max(value) AS max_value
FROM grid_observations FINAL
GROUP BY day, region, country, metric, unit, source;
