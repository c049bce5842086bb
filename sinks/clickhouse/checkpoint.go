package clickhouse

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/hashatlas/hashatlas/estimate"
	"github.com/hashatlas/hashatlas/schemas"
)

// Checkpoint reads back what the estimator needs to restart without replaying and recomputing
// the whole input log (estimate.Checkpoint): the canonical blocks (the newest row of each height
// that no orphan row names), the hourly demand and emergency observations, and the inputs digest
// and finality of every window's network estimate stored for modelVersion (the store writes a
// flush's network rows after all its other estimate rows, so a window whose network row is there
// was written whole). Three queries, whatever the history's length: no table is scanned twice.
func (s *EstimateStore) Checkpoint(ctx context.Context, modelVersion string) (*estimate.Checkpoint, error) {
	cp := &estimate.Checkpoint{Stored: map[estimate.Window]estimate.StoredWindow{}}
	res, err := s.db.Query(ctx, `SELECT height, argMax(time, version), argMax(work, version), argMax(pool, version), argMax(hash, version)
FROM blocks_canonical GROUP BY height ORDER BY height`)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: blocks: %w", err)
	}
	cp.Blocks = make([]estimate.BlockObs, 0, len(res.Rows))
	for _, r := range res.Rows {
		height, ok1 := r[0].(uint32)
		t, ok2 := r[1].(time.Time)
		workText, ok3 := r[2].(string)
		pool, ok4 := r[3].(string)
		hash, ok5 := r[4].(string)
		if !(ok1 && ok2 && ok3 && ok4 && ok5) {
			return nil, fmt.Errorf("checkpoint: blocks: unexpected types %T %T %T %T %T", r[0], r[1], r[2], r[3], r[4])
		}
		work, err := strconv.ParseFloat(workText, 64)
		if err != nil {
			return nil, fmt.Errorf("checkpoint: block %d: work %q: %w", height, workText, err)
		}
		cp.Blocks = append(cp.Blocks, estimate.BlockObs{Height: int64(height), Time: t.UTC(), Work: work, Pool: pool, Hash: hash})
	}
	res, err = s.db.Query(ctx, `SELECT region, country, time, metric, value FROM grid_observations FINAL
WHERE interval_seconds = 3600 AND metric IN ('`+schemas.GridDemand+`', '`+schemas.GridEmergency+`')`)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: grid observations: %w", err)
	}
	cp.Grid = make([]schemas.GridObservation, 0, len(res.Rows))
	for _, r := range res.Rows {
		region, ok1 := r[0].(string)
		country, ok2 := r[1].(string)
		t, ok3 := r[2].(time.Time)
		metric, ok4 := r[3].(string)
		value, ok5 := r[4].(float64)
		if !(ok1 && ok2 && ok3 && ok4 && ok5) {
			return nil, fmt.Errorf("checkpoint: grid observations: unexpected types %T %T %T %T %T", r[0], r[1], r[2], r[3], r[4])
		}
		cp.Grid = append(cp.Grid, schemas.GridObservation{Region: region, Country: country, Time: t.UTC(), IntervalSeconds: 3600, Metric: metric, Value: value})
	}
	res, err = s.db.Query(ctx, `SELECT window, window_start, inputs_digest, final FROM network_hashrate FINAL
WHERE model_version = `+QuoteString(modelVersion)+` AND window != '`+schemas.WindowLastN+`'`)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: stored estimates: %w", err)
	}
	for _, r := range res.Rows {
		kind, ok1 := r[0].(string)
		start, ok2 := r[1].(time.Time)
		digest, ok3 := r[2].(string)
		final, ok4 := r[3].(uint8)
		if !(ok1 && ok2 && ok3 && ok4) {
			return nil, fmt.Errorf("checkpoint: stored estimates: unexpected types %T %T %T %T", r[0], r[1], r[2], r[3])
		}
		switch k := estimate.WindowKind(kind); k {
		case estimate.Day, estimate.Week, estimate.Month:
			cp.Stored[estimate.WindowOf(k, start)] = estimate.StoredWindow{Digest: digest, Final: final == 1}
		}
	}
	return cp, nil
}
