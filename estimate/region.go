package estimate

import "sort"

// UnknownRegion is the region of blocks whose pool has no HQ row (unknown pools included).
const UnknownRegion = "unknown"

// RegionShare is the share of a window's blocks found by pools run from one region.
type RegionShare struct {
	Region string
	Blocks int
	Share  Interval // Clopper–Pearson
}

// RegionBlockShares groups a window's pool block counts by the region each pool is run from
// (hq maps a pool slug to its region; pools without one count as UnknownRegion) and returns
// each region's share with its 95 % Clopper–Pearson interval, largest first. This is "the
// block share of North American pools" the press quotes: where pools are run, not where the
// machines are (METHOD.md §5.1).
func RegionBlockShares(counts []PoolCount, hq map[string]string) ([]RegionShare, error) {
	byRegion := map[string]int{}
	total := 0
	for _, c := range counts {
		r, ok := hq[c.Pool]
		if !ok || r == "" {
			r = UnknownRegion
		}
		byRegion[r] += c.Blocks
		total += c.Blocks
	}
	out := make([]RegionShare, 0, len(byRegion))
	for r, n := range byRegion {
		iv, err := Share(n, total)
		if err != nil {
			return nil, err
		}
		out = append(out, RegionShare{Region: r, Blocks: n, Share: iv})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Blocks != out[j].Blocks {
			return out[i].Blocks > out[j].Blocks
		}
		return out[i].Region < out[j].Region
	})
	return out, nil
}
