package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/schemas"
	"github.com/hashatlas/hashatlas/sinks/kafka"
)

// TestReattributeRepublishesBlocksWhoseAttributionChanged publishes observed blocks attributed
// with an old registry, runs `reattribute` with a registry that knows their tag, and checks the
// topic's latest block per height.
func TestReattributeRepublishesBlocksWhoseAttributionChanged(t *testing.T) {
	broker, err := kafka.StartEmbedded(0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	cfg := kafka.DefaultConfig()
	cfg.Brokers = []string{broker.Addr()}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := kafka.EnsureTopics(ctx, cfg, schemas.Topics()); err != nil {
		t.Fatal(err)
	}
	w, err := kafka.NewWriter(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	bits := "17034219"
	work, _ := schemas.WorkFromBits(bits)
	diff, _ := schemas.DifficultyFromBits(bits)
	var msgs []schemas.Message
	for h := int64(900000); h < 900010; h++ {
		tag := "/Basement Rig/"
		if h%2 == 0 {
			tag = "Mined by AntPool"
		}
		msgs = append(msgs, schemas.Block{
			Height: h, Hash: strings.Repeat("0", 56) + "0000000" + string(rune('a'+h%6)), PrevHash: strings.Repeat("1", 64),
			Time: time.Unix(1_750_000_000+600*(h-900000), 0).UTC(), Bits: bits, Difficulty: diff, Work: work, TxCount: 10,
			CoinbaseScriptHex: "0301020304", CoinbaseASCII: tag, Pool: "unknown", PoolRegistryVersion: "old",
			AttributionMethod: schemas.AttributionUnknown, Source: "esplora", ObservedAt: time.Now().UTC(),
		})
	}
	if err := w.Publish(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	registry := filepath.Join(t.TempDir(), "pools.json")
	if err := os.WriteFile(registry, []byte(`[{"id":1,"name":"AntPool","addresses":[],"tags":["antpool"],"link":""}]`), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCmd(t, nil, "reattribute", "--kafka.brokers="+broker.Addr(), "--pools.registry="+registry, "--pools.registry-version=v2")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	// Every block changes: the even ones to antpool, the odd ones stay unknown but under v2.
	if !strings.Contains(stdout, "re-attributed 10 blocks with registry v2") {
		t.Fatalf("stdout: %s", stdout)
	}
	tr, err := kafka.NewTopicReader(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	last, err := tr.LastBlocks(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range last {
		want := "unknown"
		if b.Height%2 == 0 {
			want = "antpool"
		}
		if b.Pool != want || b.PoolRegistryVersion != "v2" {
			t.Errorf("block %d: pool %q registry %q, want %q under v2", b.Height, b.Pool, b.PoolRegistryVersion, want)
		}
	}
	// A second run with the same registry changes nothing.
	if _, stdout, _ := runCmd(t, nil, "reattribute", "--kafka.brokers="+broker.Addr(), "--pools.registry="+registry, "--pools.registry-version=v2"); !strings.Contains(stdout, "re-attributed 0 blocks") {
		t.Fatalf("second run: %s", stdout)
	}
}
