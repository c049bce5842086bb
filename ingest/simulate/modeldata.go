package simulate

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"strconv"
)

// citation is the source of every model-data row of the world.
func (w *World) citation() string { return fmt.Sprintf("hashatlas simulator seed %d", w.cfg.Seed) }

// AllocationCSV returns the world's published allocation table in the format of
// estimate/modeldata's allocation.csv (pool_slug,country,share,kappa,valid_from,valid_to,source):
// for every pool with a row, its published mix M and κ, valid from Start with no end, citing
// "hashatlas simulator seed N". Pools without a row (and "unknown") have none, so the estimator
// puts them in XX. The true mixes, drawn from Dirichlet(κ·M), are not in it (see TrueMix).
func (w *World) AllocationCSV() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# allocation.csv of a simulated world (hashatlas simulator, seed %d): published rows M; each pool's true mix is drawn from Dirichlet(kappa*M).\n", w.cfg.Seed)
	cw := csv.NewWriter(&b)
	_ = cw.Write([]string{"pool_slug", "country", "share", "kappa", "valid_from", "valid_to", "source"})
	from := w.cfg.Start.Format("2006-01-02")
	for _, p := range w.pools {
		if !p.published {
			continue
		}
		for _, c := range sortedKeys(p.Mix) {
			_ = cw.Write([]string{p.Slug, c, strconv.FormatFloat(p.Mix[c], 'g', -1, 64),
				strconv.FormatFloat(p.Kappa, 'g', -1, 64), from, "", w.citation()})
		}
	}
	cw.Flush() // writes to a bytes.Buffer cannot fail
	return b.Bytes()
}

// PoolHQCSV returns the world's pool HQ table in the format of estimate/modeldata's pool_hq.csv
// (pool_slug,hq_country,region,source): one row per pool with an HQ, citing "hashatlas
// simulator seed N".
func (w *World) PoolHQCSV() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# pool_hq.csv of a simulated world (hashatlas simulator, seed %d): where each pool is run.\n", w.cfg.Seed)
	cw := csv.NewWriter(&b)
	_ = cw.Write([]string{"pool_slug", "hq_country", "region", "source"})
	for _, p := range w.pools {
		if p.HQCountry == "" {
			continue
		}
		_ = cw.Write([]string{p.Slug, p.HQCountry, p.HQRegion, w.citation()})
	}
	cw.Flush()
	return b.Bytes()
}
