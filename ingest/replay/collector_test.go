package replay

import (
	"context"
	"path/filepath"
	"sort"
	"testing"

	"github.com/hashatlas/hashatlas/schemas"
)

// memTopic is an in-memory blocks and difficulty topic that validates what it gets.
type memTopic struct {
	blocks []schemas.Block
	epochs []schemas.DifficultyEpoch
}

func (m *memTopic) Publish(ctx context.Context, msgs ...schemas.Message) error {
	for _, msg := range msgs {
		if _, err := schemas.Encode(msg); err != nil {
			return err
		}
		switch v := msg.(type) {
		case schemas.Block:
			m.blocks = append(m.blocks, v)
		case schemas.DifficultyEpoch:
			m.epochs = append(m.epochs, v)
		}
	}
	return nil
}

func (m *memTopic) LastBlocks(ctx context.Context, n int) ([]schemas.Block, error) {
	bs := append([]schemas.Block(nil), m.blocks...)
	sort.Slice(bs, func(i, j int) bool { return bs[i].Height < bs[j].Height })
	if len(bs) > n {
		bs = bs[len(bs)-n:]
	}
	return bs, nil
}

func TestReplayPublishesValidMessagesAndResumesWithoutDuplicates(t *testing.T) {
	topic := &memTopic{}
	cfg := Config{
		BlocksFile: filepath.Join(dataDir(), "blocks_2021_2026.csv.gz"),
		EpochsFile: filepath.Join(dataDir(), "difficulty_epochs.csv"),
		MaxBlocks:  3000, BatchSize: 500,
	}
	var progress []int64
	cfg.Progress = func(n int, h int64) { progress = append(progress, h) }
	c := NewCollector(cfg, topic, topic, nil)
	if err := c.Collect(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(topic.blocks) != 3000 || topic.blocks[0].Height != 664063 || topic.blocks[2999].Height != 667062 {
		t.Fatalf("first pass: %d blocks", len(topic.blocks))
	}
	// The file starts inside epoch 663,264; the pass enters epoch 665,280 too.
	if len(topic.epochs) != 2 || topic.epochs[0].StartHeight != 663264 || topic.epochs[0].FirstBlockTime != nil ||
		topic.epochs[1].StartHeight != 665280 || topic.epochs[1].FirstBlockTime == nil {
		t.Fatalf("epochs: %+v", topic.epochs)
	}
	if b := topic.blocks[0]; b.Pool != "f2pool" || b.Bits != "170f2217" || b.AttributionMethod != schemas.AttributionFile {
		t.Fatalf("block 664063: %+v", b)
	}
	if len(progress) == 0 || progress[len(progress)-1] != 667062 {
		t.Fatalf("progress reports %v", progress)
	}
	if err := c.Collect(context.Background()); err != nil {
		t.Fatal(err)
	}
	seen := map[int64]bool{}
	for _, b := range topic.blocks {
		if seen[b.Height] {
			t.Fatalf("height %d published twice", b.Height)
		}
		seen[b.Height] = true
	}
	if len(topic.blocks) != 6000 || topic.blocks[3000].Height != 667063 {
		t.Fatalf("after the resume: %d blocks, next at %d", len(topic.blocks), topic.blocks[3000].Height)
	}
}

func TestReplayRefusesBitsThatContradictTheEpochs(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := writeFile(p, body); err != nil {
			t.Fatal(err)
		}
		return p
	}
	topic := &memTopic{}
	c := NewCollector(Config{
		BlocksFile: write("b.csv", "height,time_unix,pool_slug,bits_hex\n2016,1300000000,x,1d00fffe\n"),
		EpochsFile: write("e.csv", "epoch_start_height,bits_hex,difficulty\n2016,1d00ffff,1\n"),
	}, topic, topic, nil)
	if err := c.Collect(context.Background()); err == nil {
		t.Fatal("contradicting bits accepted")
	}
	if len(topic.blocks) != 0 {
		t.Fatalf("%d blocks published from a bad file", len(topic.blocks))
	}
}
