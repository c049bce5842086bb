package estimate

import "testing"

func TestRegionBlockSharesGroupPoolsByHQ(t *testing.T) {
	counts := []PoolCount{{"foundryusa", 1194}, {"antpool", 840}, {"marapool", 215}, {"luxor", 137}, {"unknown", 14}}
	hq := map[string]string{"foundryusa": "North America", "marapool": "North America", "luxor": "North America", "antpool": "Asia"}
	rs, err := RegionBlockShares(counts, hq)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 3 || rs[0].Region != "North America" || rs[0].Blocks != 1546 || rs[2].Region != UnknownRegion || rs[2].Blocks != 14 {
		t.Fatalf("regions %+v", rs)
	}
	want, _ := Share(1546, 2400)
	if rs[0].Share != want {
		t.Fatalf("North America %+v, want %+v", rs[0].Share, want)
	}
}
