package clickhouse

import (
	"context"
	"fmt"
	"time"
)

// ReportQuery selects the rows of one report: a window kind, a half-open range of window
// starts [From, To) (zero: unbounded) and a model version (empty: the version of the newest
// row).
type ReportQuery struct {
	Window       string // day, week, month or lastn
	From, To     time.Time
	ModelVersion string
}

func (q ReportQuery) where() string {
	w := "window = " + QuoteString(q.Window)
	if !q.From.IsZero() {
		w += fmt.Sprintf(" AND window_start >= toDateTime(%s, 'UTC')", QuoteString(q.From.UTC().Format("2006-01-02 15:04:05")))
	}
	if !q.To.IsZero() {
		w += fmt.Sprintf(" AND window_start < toDateTime(%s, 'UTC')", QuoteString(q.To.UTC().Format("2006-01-02 15:04:05")))
	}
	return w
}

// modelVersion resolves an empty version to the newest one in table.
func (db *DB) modelVersion(ctx context.Context, table, version string) (string, error) {
	if version != "" {
		return version, nil
	}
	res, err := db.Query(ctx, "SELECT argMax(model_version, version) FROM "+table)
	if err != nil {
		return "", err
	}
	if len(res.Rows) == 1 {
		if v, ok := res.Rows[0][0].(string); ok {
			return v, nil
		}
	}
	return "", nil
}

// NetworkReport returns network hashrate rows: window_start, entity ("network"), blocks,
// share (1), hashrate with its 95 % bounds (H/s), luck with its bounds, expected blocks, final,
// model_version, method — one row per window, latest version, oldest first.
//
// In every estimate report (network, pools, countries, power, regions, signals) final is a
// bool (Column type "Bool"): true once the window is closed and past the watermark, false
// while it may still change.
func (db *DB) NetworkReport(ctx context.Context, q ReportQuery) (*Result, error) {
	mv, err := db.modelVersion(ctx, "network_hashrate", q.ModelVersion)
	if err != nil {
		return nil, err
	}
	return finalAsBool(db.Query(ctx, `SELECT window_start, 'network' AS entity, blocks, toFloat64(1) AS share,
    hashrate_hs, hashrate_hs_lower, hashrate_hs_upper, luck, luck_lower, luck_upper, expected_blocks,
    final, model_version, method
FROM network_hashrate FINAL
WHERE `+q.where()+` AND model_version = `+QuoteString(mv)+`
ORDER BY window_start`))
}

// PoolsReport returns pool rows: window_start, pool, blocks, share with its Clopper–Pearson
// bounds, hashrate with its bounds (H/s), final, model_version, method — latest version,
// oldest window first, then by blocks.
func (db *DB) PoolsReport(ctx context.Context, q ReportQuery) (*Result, error) {
	mv, err := db.modelVersion(ctx, "pool_hashrate", q.ModelVersion)
	if err != nil {
		return nil, err
	}
	return finalAsBool(db.Query(ctx, `SELECT window_start, pool, blocks, share, share_lower, share_upper,
    hashrate_hs, hashrate_hs_lower, hashrate_hs_upper, final, model_version, method
FROM pool_hashrate FINAL
WHERE `+q.where()+` AND model_version = `+QuoteString(mv)+`
ORDER BY window_start, blocks DESC, pool`))
}

// CountriesReport returns country rows of one method (empty: pool-allocation): window_start,
// country, blocks, share and hashrate with their 95 % bounds, final, model_version, method —
// latest version, oldest window first, then largest first. XX (unallocated) is always there.
func (db *DB) CountriesReport(ctx context.Context, q ReportQuery, method string) (*Result, error) {
	mv, err := db.modelVersion(ctx, "country_hashrate", q.ModelVersion)
	if err != nil {
		return nil, err
	}
	return finalAsBool(db.Query(ctx, `SELECT window_start, country, blocks, share, share_lower, share_upper,
    hashrate_hs, hashrate_hs_lower, hashrate_hs_upper, final, model_version, method
FROM country_hashrate FINAL
WHERE `+q.where()+` AND model_version = `+QuoteString(mv)+` AND method = `+QuoteString(orDefault(method, "pool-allocation"))+`
ORDER BY window_start, hashrate_hs DESC, country`))
}

// PowerReport returns the power drawn in each country (GW) and its annualised energy (TWh/yr),
// low/best/high, with the hashrate it derives from; ordering and selection as CountriesReport.
func (db *DB) PowerReport(ctx context.Context, q ReportQuery, method string) (*Result, error) {
	mv, err := db.modelVersion(ctx, "country_hashrate", q.ModelVersion)
	if err != nil {
		return nil, err
	}
	return finalAsBool(db.Query(ctx, `SELECT window_start, country, hashrate_hs, power_gw_low, power_gw_best, power_gw_high,
    energy_twh_year_low, energy_twh_year_best, energy_twh_year_high, final, model_version, method
FROM country_hashrate FINAL
WHERE `+q.where()+` AND model_version = `+QuoteString(mv)+` AND method = `+QuoteString(orDefault(method, "pool-allocation"))+`
ORDER BY window_start, power_gw_best DESC, country`))
}

// RegionsReport returns the block share of the pools run from each region, with its
// Clopper–Pearson bounds — latest version, oldest window first, then largest first.
func (db *DB) RegionsReport(ctx context.Context, q ReportQuery) (*Result, error) {
	mv, err := db.modelVersion(ctx, "region_block_share", q.ModelVersion)
	if err != nil {
		return nil, err
	}
	return finalAsBool(db.Query(ctx, `SELECT window_start, region, blocks, share, share_lower, share_upper, final, model_version, method
FROM region_block_share FINAL
WHERE `+q.where()+` AND model_version = `+QuoteString(mv)+`
ORDER BY window_start, blocks DESC, region`))
}

// SignalsReport returns energy signals of one kind (curtailment or network_dip): window_start,
// pool, region, country, β with its bounds, the p-value (curtailment: Bonferroni-adjusted
// within the window), events, blocks, shed hashrate (H/s) and power (GW), final,
// model_version — latest version, oldest window first, then the strongest evidence first.
func (db *DB) SignalsReport(ctx context.Context, q ReportQuery, signal string) (*Result, error) {
	mv, err := db.modelVersion(ctx, "energy_signals", q.ModelVersion)
	if err != nil {
		return nil, err
	}
	return finalAsBool(db.Query(ctx, `SELECT window_start, pool, region, country, beta, beta_lower, beta_upper, p_value, events, blocks,
    shed_hashrate_hs, shed_power_gw, final, model_version
FROM energy_signals FINAL
WHERE `+q.where()+` AND model_version = `+QuoteString(mv)+` AND signal = `+QuoteString(signal)+`
ORDER BY window_start, p_value, pool, region`))
}

// StressReport returns the days of grid stress read from the chain (chain_stress, §8.11) for
// q's range of days (its window is ignored): day, region, the reference pools (joined by
// ","), all blocks, the reference pools' blocks and the blocks expected of them, the share
// drop with its 95 % bounds, the p- and q-values, the network's shortfall (H/s) with its
// bounds and in GW, final (a bool), model_version — latest version, oldest day first, then by
// region. Only the events (q_value < StressFDR) unless allDays.
func (db *DB) StressReport(ctx context.Context, q ReportQuery, allDays bool) (*Result, error) {
	mv, err := db.modelVersion(ctx, "chain_stress", q.ModelVersion)
	if err != nil {
		return nil, err
	}
	cond := dayRange("day", q) + " AND model_version = " + QuoteString(mv)
	if !allDays {
		cond += fmt.Sprintf(" AND q_value < %g", StressFDR)
	}
	return finalAsBool(db.Query(ctx, `SELECT day, region, arrayStringConcat(reference_pools, ',') AS reference_pools, blocks,
    reference_blocks, reference_expected, share_drop, share_drop_lower, share_drop_upper, p_value, q_value,
    shortfall_hs, shortfall_hs_lower, shortfall_hs_upper, shortfall_gw, final, model_version
FROM chain_stress FINAL
WHERE `+cond+`
ORDER BY day, region`))
}

// StressFDR is the false-discovery rate below which a tested day is a grid-stress event (the
// level of the stress_events view, estimate.StressFDR).
const StressFDR = 0.01

// HasGridData reports whether any hourly grid observation is stored: without one, no
// curtailment fit or network dip can exist.
func (db *DB) HasGridData(ctx context.Context) (bool, error) {
	res, err := db.Query(ctx, "SELECT count() AS n FROM (SELECT 1 FROM grid_observations LIMIT 1)")
	if err != nil {
		return false, err
	}
	if len(res.Rows) != 1 {
		return false, nil
	}
	n, _ := res.Rows[0][0].(uint64)
	return n > 0, nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// GridReport returns grid observations by UTC day (the grid_daily view): day, region,
// country, metric, unit, source, observed hours, mean and max — oldest first. The window of q
// is ignored (grid data are daily here); From and To bound the days.
func (db *DB) GridReport(ctx context.Context, q ReportQuery) (*Result, error) {
	return db.Query(ctx, `SELECT day, region, country, metric, unit, source, observations, mean_value, max_value
FROM grid_daily
WHERE `+dayRange("day", q)+`
ORDER BY day, region, metric, source`)
}

// PoolStatsReport returns the block-based pool hashrate beside the reported one (the
// pool_hashrate_vs_reported view) for day or week windows: window_start, pool, source, the
// estimate with its 95 % bounds, the reported mean and its observation count, and their ratio.
func (db *DB) PoolStatsReport(ctx context.Context, q ReportQuery) (*Result, error) {
	mv, err := db.modelVersion(ctx, "pool_hashrate", q.ModelVersion)
	if err != nil {
		return nil, err
	}
	return finalAsBool(db.Query(ctx, `SELECT window_start, pool, source, hashrate_hs, hashrate_hs_lower, hashrate_hs_upper,
    reported_hashrate_hs, reported_observations, reported_hashrate_hs / hashrate_hs AS reported_over_estimated, model_version
FROM pool_hashrate_vs_reported
WHERE `+q.where()+` AND model_version = `+QuoteString(mv)+`
ORDER BY window_start, pool, source`))
}

// dayRange bounds a DateTime column by q's From and To.
func dayRange(col string, q ReportQuery) string {
	w := "1 = 1"
	if !q.From.IsZero() {
		w += fmt.Sprintf(" AND %s >= toDateTime(%s, 'UTC')", col, QuoteString(q.From.UTC().Format("2006-01-02 15:04:05")))
	}
	if !q.To.IsZero() {
		w += fmt.Sprintf(" AND %s < toDateTime(%s, 'UTC')", col, QuoteString(q.To.UTC().Format("2006-01-02 15:04:05")))
	}
	return w
}

// finalAsBool turns the final column (UInt8 in the tables) of a report into a bool, so that
// it prints as true/false and encodes as a JSON boolean.
func finalAsBool(res *Result, err error) (*Result, error) {
	if err != nil {
		return nil, err
	}
	for i, c := range res.Columns {
		if c.Name != "final" {
			continue
		}
		res.Columns[i].Type = "Bool"
		for _, row := range res.Rows {
			switch v := row[i].(type) {
			case uint8:
				row[i] = v != 0
			case bool:
			default:
				return nil, fmt.Errorf("report column final: %T %v is not a UInt8", row[i], row[i])
			}
		}
	}
	return res, nil
}

// reportTables are the tables (or views) each report kind reads.
var reportTables = map[string]string{
	"network": "network_hashrate", "pools": "pool_hashrate", "countries": "country_hashrate", "power": "country_hashrate",
	"regions": "region_block_share", "signals": "energy_signals", "pool-stats": "pool_hashrate_vs_reported", "grid": "grid_daily",
	"stress": "chain_stress",
}

// Coverage is what a report's table holds of one window kind: the first and last window
// start and the number of rows (of all entities).
type Coverage struct {
	Window      string
	First, Last time.Time
	Rows        uint64
}

// ReportCoverage returns, per window kind, the range of window starts the table of report
// kind holds for a model version (empty: the newest), oldest kind first: what an empty report
// could have asked for. The grid and stress reports' tables have days only (Window "day").
func (db *DB) ReportCoverage(ctx context.Context, kind, modelVersion string) ([]Coverage, error) {
	table, ok := reportTables[kind]
	if !ok {
		return nil, fmt.Errorf("no report %q", kind)
	}
	var sql string
	switch kind {
	case "grid":
		sql = "SELECT 'day' AS window, min(day) AS first, max(day) AS last, count() AS n FROM grid_daily"
	case "stress":
		mv, err := db.modelVersion(ctx, table, modelVersion)
		if err != nil {
			return nil, err
		}
		sql = "SELECT 'day' AS window, min(day) AS first, max(day) AS last, count() AS n FROM chain_stress FINAL WHERE model_version = " + QuoteString(mv)
	default:
		src := table
		if kind == "pool-stats" {
			src = "pool_hashrate"
		}
		mv, err := db.modelVersion(ctx, src, modelVersion)
		if err != nil {
			return nil, err
		}
		sql = "SELECT window, min(window_start) AS first, max(window_start) AS last, count() AS n FROM " + table +
			" WHERE model_version = " + QuoteString(mv) + " GROUP BY window ORDER BY first, window"
	}
	res, err := db.Query(ctx, sql)
	if err != nil {
		return nil, err
	}
	out := make([]Coverage, 0, len(res.Rows))
	for _, r := range res.Rows {
		c := Coverage{}
		c.Window, _ = r[0].(string)
		c.First, _ = r[1].(time.Time)
		c.Last, _ = r[2].(time.Time)
		c.Rows, _ = r[3].(uint64)
		if c.Rows > 0 {
			out = append(out, c)
		}
	}
	return out, nil
}

// DataEnd returns the time of the latest block in the database (zero when it holds none):
// where the data end, and so how far into an open window the estimates reach.
func (db *DB) DataEnd(ctx context.Context) (time.Time, error) {
	res, err := db.Query(ctx, "SELECT max(time) AS t, count() AS n FROM blocks")
	if err != nil {
		return time.Time{}, err
	}
	if len(res.Rows) != 1 {
		return time.Time{}, nil
	}
	if n, _ := res.Rows[0][1].(uint64); n == 0 {
		return time.Time{}, nil
	}
	t, _ := res.Rows[0][0].(time.Time)
	return t.UTC(), nil
}
