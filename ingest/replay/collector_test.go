package replay

import (
	"context"
	"errors"
	"path/filepath"
	"sort"
	"strings"
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

// failingTopic is a memTopic whose publish number failAt (1-based) fails.
type failingTopic struct {
	memTopic
	calls, failAt int
}

func (f *failingTopic) Publish(ctx context.Context, msgs ...schemas.Message) error {
	f.calls++
	if f.calls == f.failAt {
		return errors.New("broker gone")
	}
	return f.memTopic.Publish(ctx, msgs...)
}

// TestReplayStopsAtAFailedPublishAndPublishesInOrder: batches are published by a goroutine of
// their own while the next is read; still, every batch is published in file order, and when one
// fails the pass returns its error (naming the height) and publishes nothing after it.
func TestReplayStopsAtAFailedPublishAndPublishesInOrder(t *testing.T) {
	topic := &failingTopic{failAt: 4}
	cfg := Config{
		BlocksFile: filepath.Join(dataDir(), "blocks_2021_2026.csv.gz"),
		EpochsFile: filepath.Join(dataDir(), "difficulty_epochs.csv"),
		MaxBlocks:  5000, BatchSize: 500,
	}
	err := NewCollector(cfg, topic, topic, nil).Collect(context.Background())
	if err == nil || !strings.Contains(err.Error(), "broker gone") || !strings.Contains(err.Error(), "publish blocks up to height") {
		t.Fatalf("Collect = %v, want the failed publish", err)
	}
	// three batches of 500 messages (an epoch message is one of them)
	if n := len(topic.blocks) + len(topic.epochs); n != 1500 || topic.calls != 4 {
		t.Fatalf("%d messages in %d calls; want the 1,500 of the three batches before the failed fourth, and no call after it", n, topic.calls)
	}
	for i, b := range topic.blocks {
		if b.Height != topic.blocks[0].Height+int64(i) {
			t.Fatalf("block %d of the topic is height %d: out of file order", i, b.Height)
		}
	}
}

// TestReplayPublishesTheRowsBeforeABadOne: a row the file cannot give (here bits that
// contradict its epoch) ends the pass with its error, after the rows before it are published.
func TestReplayPublishesTheRowsBeforeABadOne(t *testing.T) {
	dir := t.TempDir()
	blocks, epochs := filepath.Join(dir, "b.csv"), filepath.Join(dir, "e.csv")
	if err := writeFile(blocks, "height,time_unix,pool_slug,bits_hex\n2016,1300000000,x,1d00ffff\n2017,1300000600,x,1d00ffff\n2018,1300001200,x,1d00fffe\n"); err != nil {
		t.Fatal(err)
	}
	if err := writeFile(epochs, "epoch_start_height,bits_hex,difficulty\n2016,1d00ffff,1\n"); err != nil {
		t.Fatal(err)
	}
	topic := &memTopic{}
	err := NewCollector(Config{BlocksFile: blocks, EpochsFile: epochs, BatchSize: 1}, topic, topic, nil).Collect(context.Background())
	if err == nil || !strings.Contains(err.Error(), "2018") {
		t.Fatalf("Collect = %v, want the error of block 2018", err)
	}
	if len(topic.blocks) != 2 || topic.blocks[1].Height != 2017 {
		t.Fatalf("published %+v, want blocks 2016 and 2017", topic.blocks)
	}
}
