package replay

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/hashatlas/hashatlas/ingest"
	"github.com/hashatlas/hashatlas/schemas"
	"github.com/sirupsen/logrus"
)

// EpochBlocks is the number of blocks between difficulty retargets.
const EpochBlocks = 2016

// Config names the files and tunes the replay.
type Config struct {
	// BlocksFile is the block history (height,time_unix,pool_slug[,bits_hex]; gzip or plain).
	BlocksFile string
	// EpochsFile is the difficulty epochs (epoch_start_height,bits_hex,difficulty).
	EpochsFile string
	// BatchSize is how many messages are published at once. Default: 2000.
	BatchSize int
	// MaxBlocks caps the blocks one pass publishes (0: the whole file).
	MaxBlocks int
	// Progress, when set, is called after every batch with the blocks published so far in this
	// pass and the height reached.
	Progress func(published int, height int64)
	// Now is the clock for observed_at. Default: time.Now.
	Now func() time.Time
}

// Collector replays block history files as block and difficulty messages (attribution method
// "file"). A pass resumes after the highest height already in the blocks topic, so re-running
// it publishes nothing twice. It implements ingest.Collector.
type Collector struct {
	cfg    Config
	pub    ingest.Publisher
	blocks ingest.BlockLog
	log    logrus.FieldLogger
}

// NewCollector returns the file source.
func NewCollector(cfg Config, pub ingest.Publisher, blocks ingest.BlockLog, log logrus.FieldLogger) *Collector {
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 2000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log = ingest.OrDiscard(log)
	return &Collector{cfg: cfg, pub: pub, blocks: blocks, log: log.WithField("source", "file")}
}

// Name is "file".
func (c *Collector) Name() string { return "file" }

// Collect publishes every block of the file above the last published height, with the
// difficulty epoch of each epoch it enters.
func (c *Collector) Collect(ctx context.Context) error {
	ef, err := os.Open(c.cfg.EpochsFile)
	if err != nil {
		return fmt.Errorf("open the epochs file: %w", err)
	}
	defer ef.Close()
	epochs, err := ReadEpochs(ef, c.cfg.EpochsFile)
	if err != nil {
		return err
	}
	last, err := c.blocks.LastBlocks(ctx, 1)
	if err != nil {
		return fmt.Errorf("read the last published block: %w", err)
	}
	after := int64(-1)
	if len(last) > 0 {
		after = last[0].Height
	}
	bf, err := os.Open(c.cfg.BlocksFile)
	if err != nil {
		return fmt.Errorf("open the blocks file: %w", err)
	}
	defer bf.Close()

	observed := c.cfg.Now().UTC()
	batch := make([]schemas.Message, 0, c.cfg.BatchSize+1)
	published, reached := 0, after
	first := true
	var cache bitsFacts
	// One goroutine publishes the batches, in order, while the next one is read: reading and
	// parsing the file and encoding and sending a batch each take about half of a pass, and
	// need not wait for each other. The channel is unbuffered, so one batch is sent while one
	// is filled. After a failed publish the reading stops and nothing later is published.
	type sendBatch struct {
		msgs      []schemas.Message
		published int
		reached   int64
	}
	batches, pubDone := make(chan sendBatch), make(chan error, 1)
	var pubFailed atomic.Bool
	go func() {
		var err error
		for b := range batches {
			if err != nil {
				continue
			}
			if perr := c.pub.Publish(ctx, b.msgs...); perr != nil {
				err = fmt.Errorf("publish blocks up to height %d: %w", b.reached, perr)
				pubFailed.Store(true)
				continue
			}
			if c.cfg.Progress != nil {
				c.cfg.Progress(b.published, b.reached)
			}
		}
		pubDone <- err
	}()
	errPublish := errors.New("a publish failed")
	flush := func() error {
		if pubFailed.Load() {
			return errPublish
		}
		if len(batch) == 0 {
			return nil
		}
		batches <- sendBatch{batch, published, reached}
		batch = make([]schemas.Message, 0, c.cfg.BatchSize+1) // the publisher may keep the one it was given
		return nil
	}
	// finish waits for the last batch and returns the publisher's error.
	finish := func() error {
		close(batches)
		return <-pubDone
	}
	errDone := fmt.Errorf("max blocks reached")
	err = ReadBlocks(bf, c.cfg.BlocksFile, func(r BlockRow) error {
		if r.Height <= after {
			return nil
		}
		if c.cfg.MaxBlocks > 0 && published >= c.cfg.MaxBlocks {
			return errDone
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		e, ok := EpochAt(epochs, r.Height)
		if !ok {
			return fmt.Errorf("%s: block %d lies in no epoch of %s", c.cfg.BlocksFile, r.Height, c.cfg.EpochsFile)
		}
		bits := e.Bits
		if r.Bits != 0 && r.Bits != e.Bits {
			return fmt.Errorf("%s: block %d has bits %08x but its epoch %d in %s has %08x", c.cfg.BlocksFile, r.Height, r.Bits, e.StartHeight, c.cfg.EpochsFile, e.Bits)
		}
		if bits != cache.bits {
			if cache, err = newBitsFacts(bits); err != nil {
				return fmt.Errorf("block %d: %w", r.Height, err)
			}
		}
		b := schemas.Block{
			Height: r.Height, Time: r.Time, Bits: cache.hex, Difficulty: cache.difficulty, Work: cache.work, Pool: r.Pool,
			AttributionMethod: schemas.AttributionFile, Source: "file", ObservedAt: observed,
		}
		batch = append(batch, b)
		if first || r.Height%EpochBlocks == 0 {
			batch = append(batch, fileEpoch(e, r))
		}
		first = false
		published++
		reached = r.Height
		if len(batch) >= c.cfg.BatchSize {
			return flush()
		}
		return nil
	})
	if !errors.Is(err, errPublish) {
		_ = flush() // the rows read (before a bad row, too); it fails only when the publisher did, and finish says how
	}
	perr := finish()
	bad := err != nil && !errors.Is(err, errDone) && !errors.Is(err, errPublish) // a bad row, or the context ended
	switch {
	case bad && perr != nil:
		return fmt.Errorf("%w (and %v)", err, perr)
	case bad:
		return err
	case perr != nil:
		return perr
	}
	c.log.WithFields(logrus.Fields{"blocks": published, "height": reached}).Info("file replay published")
	return nil
}

// bitsFacts caches what a block's bits imply (the same for the 2016 blocks of an epoch).
type bitsFacts struct {
	bits       uint32
	hex        string
	work       string
	difficulty float64
}

func newBitsFacts(bits uint32) (bitsFacts, error) {
	f := bitsFacts{bits: bits, hex: fmt.Sprintf("%08x", bits)}
	var err error
	if f.work, err = schemas.WorkFromBits(f.hex); err != nil {
		return bitsFacts{}, err
	}
	if f.difficulty, err = schemas.DifficultyFromBits(f.hex); err != nil {
		return bitsFacts{}, err
	}
	return f, nil
}

func fileEpoch(e EpochRow, r BlockRow) schemas.DifficultyEpoch {
	ep := schemas.DifficultyEpoch{
		Epoch: e.StartHeight / EpochBlocks, StartHeight: e.StartHeight, Bits: fmt.Sprintf("%08x", e.Bits),
		Difficulty: e.Difficulty, Source: "file",
	}
	if r.Height == e.StartHeight {
		t := r.Time
		ep.FirstBlockTime = &t
	}
	return ep
}
