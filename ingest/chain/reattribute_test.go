package chain

import (
	"testing"

	"github.com/hashatlas/hashatlas/ingest/pools"
	"github.com/hashatlas/hashatlas/schemas"
)

func TestReattributeAppliesANewRegistryToObservedBlocksOnly(t *testing.T) {
	old, err := pools.Parse([]byte(`[{"id":1,"name":"Old Pool","addresses":[],"tags":["zzz"],"link":""}]`), "v1")
	if err != nil {
		t.Fatal(err)
	}
	newer, err := pools.Parse([]byte(`[{"id":1,"name":"New Pool","addresses":["bc1qnew"],"tags":[],"link":""}]`), "v2")
	if err != nil {
		t.Fatal(err)
	}
	observed := schemas.Block{Height: 7, CoinbaseScriptHex: "03010203", CoinbaseAddresses: []string{"bc1qnew"}}
	a := old.Attribute(observed.CoinbaseAddresses, "")
	observed.Pool, observed.AttributionMethod, observed.PoolRegistryVersion = a.Pool, a.Method, a.RegistryVersion
	if observed.Pool != pools.Unknown {
		t.Fatalf("setup: %q", observed.Pool)
	}
	got, changed := Reattribute(newer, observed)
	if !changed || got.Pool != "newpool" || got.AttributionMethod != pools.MethodAddress || got.PoolRegistryVersion != "v2" {
		t.Fatalf("reattributed to %+v (changed %v)", got, changed)
	}
	if _, changed := Reattribute(newer, got); changed {
		t.Fatal("re-applying the same registry reported a change")
	}
	file := schemas.Block{Height: 8, Pool: "f2pool", AttributionMethod: schemas.AttributionFile}
	if got, changed := Reattribute(newer, file); changed || got.Pool != "f2pool" {
		t.Fatal("a file block without a coinbase was re-attributed")
	}
}
