package estimate

import (
	"fmt"
	"testing"
	"unsafe"

	"github.com/hashatlas/hashatlas/schemas"
)

// within reports whether s's bytes lie in buf's memory.
func within(s string, buf []byte) bool {
	if len(s) == 0 || len(buf) == 0 {
		return false
	}
	p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
	return p >= lo && p < lo+uintptr(len(buf))
}

// TestChainDoesNotKeepDecodedRecordsAlive: the strings of a message decoded from Kafka share
// the memory of its whole record (schemas.DecodeShared), so a chain that kept a block's pool or
// hash as decoded would keep every record of the history alive (about 120 MB in the replay of
// 2021–2026). The chain keeps its own hash and one interned copy of each pool slug.
func TestChainDoesNotKeepDecodedRecordsAlive(t *testing.T) {
	s := newTestService(&recordingStore{}, nil)
	var records [][]byte
	for h := int64(1); h <= 3; h++ {
		b := block(t, h, int(h)*10, "foundryusa")
		b.Hash = fmt.Sprintf("%064x", h)
		data, err := schemas.Encode(b)
		if err != nil {
			t.Fatal(err)
		}
		m, err := schemas.DecodeShared(data)
		if err != nil {
			t.Fatal(err)
		}
		if d := m.(*schemas.Block); !within(d.Pool, data) || !within(d.Hash, data) {
			t.Fatal("the decoded block does not share its record: this test no longer tests anything")
		}
		if err := s.Apply(m); err != nil {
			t.Fatal(err)
		}
		records = append(records, data)
	}
	first, _ := s.Chain().Block(1)
	for i := range records {
		h := int64(i + 1)
		b, ok := s.Chain().Block(h)
		if !ok || b.Pool != "foundryusa" || b.Hash != fmt.Sprintf("%064x", h) {
			t.Fatalf("block %d held as %+v", h, b)
		}
		for _, rec := range records {
			if within(b.Pool, rec) || within(b.Hash, rec) {
				t.Errorf("block %d: the chain keeps strings of a decoded record", h)
				break
			}
		}
		if unsafe.StringData(b.Pool) != unsafe.StringData(first.Pool) {
			t.Errorf("block %d: the pool slug is a copy of its own, not the interned one", h)
		}
	}
	// The windows aggregate the interned slugs as before.
	st := s.Chain().Stats(WindowOf(Day, t0))
	if st.Blocks != 3 || len(st.Pools) != 1 || st.Pools[0] != (PoolCount{Pool: "foundryusa", Blocks: 3}) {
		t.Fatalf("day stats: %+v", st)
	}
}

// TestGridStateDoesNotKeepDecodedRecordsAlive: the same for the regions of grid observations.
func TestGridStateDoesNotKeepDecodedRecordsAlive(t *testing.T) {
	g := NewGridState()
	o := schemas.GridObservation{Region: "ERCO", Country: "US", Time: t0, IntervalSeconds: 3600,
		Metric: schemas.GridEmergency, Value: 1, Unit: schemas.UnitFlag, Source: "test"}
	data, err := schemas.Encode(o)
	if err != nil {
		t.Fatal(err)
	}
	m, err := schemas.DecodeShared(data)
	if err != nil {
		t.Fatal(err)
	}
	d := m.(*schemas.GridObservation)
	if !within(d.Region, data) || !within(d.Country, data) {
		t.Fatal("the decoded observation does not share its record: this test no longer tests anything")
	}
	if !g.Add(*d) {
		t.Fatal("the observation was not used")
	}
	for region, r := range g.regions {
		if region != "ERCO" || r.country != "US" || within(region, data) || within(r.country, data) {
			t.Fatalf("region %q (country %q) held from the decoded record", region, r.country)
		}
	}
}
