package ingest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/hashatlas/hashatlas/schemas"
)

// ChainBlock is what a chain source reports about one block of its best chain: the header
// fields and the coinbase transaction, before pool attribution.
type ChainBlock struct {
	Height   int64
	Hash     string    // 64 lower-case hex, RPC (big-endian) order
	PrevHash string    // same format; empty only for the genesis block
	Time     time.Time // header timestamp, UTC
	Bits     string    // compact target, 8 lower-case hex characters
	TxCount  int64     // transactions including the coinbase
	// CoinbaseScript is the coinbase input's scriptSig bytes.
	CoinbaseScript []byte
	// CoinbaseAddresses are the addresses paid by the coinbase outputs, in output order;
	// outputs without an address (OP_RETURN, bare scripts) are left out.
	CoinbaseAddresses []string
}

// BlockSource is a chain data source (Bitcoin Core JSON-RPC, an Esplora REST API). Every call
// has a timeout and returns when ctx ends. A returned error names the source, the request
// and what was wrong (HTTP status, malformed or truncated response, missing field). Safe for
// concurrent use.
type BlockSource interface {
	// Name identifies the source in messages and logs ("bitcoind", "esplora").
	Name() string
	// TipHeight is the height of the source's best chain tip.
	TipHeight(ctx context.Context) (int64, error)
	// BlockAt returns the best-chain block at height. A height above the tip is an error.
	BlockAt(ctx context.Context, height int64) (ChainBlock, error)
}

// BlockLog reads back what was published on the blocks topic, so that a collector resumes
// where the last run left off.
type BlockLog interface {
	// LastBlocks returns the blocks of the n highest heights in the topic (the latest message
	// for each height), in ascending height order; fewer when the topic holds fewer, none when
	// it is empty. It must return when ctx ends.
	LastBlocks(ctx context.Context, n int) ([]schemas.Block, error)
}

// ErrHeightOutOfRange is matched (errors.Is) by a BlockSource's BlockAt error for a height
// above the source's tip.
var ErrHeightOutOfRange = errors.New("height above the tip")

// Validate checks what every block a source returns must satisfy for the height asked for:
// the same height, a 64-hex hash and previous hash (none only at height 0), 8-hex bits, all in
// lower case, a header time in (0, 2^32) UTC, at least the coinbase transaction, a coinbase
// scriptSig of 2 to 100 bytes (consensus rule bad-cb-length), and coinbase addresses that look
// like addresses (14 to 90 letters and digits; checksums are not verified).
func (b ChainBlock) Validate(height int64) error {
	switch {
	case b.Height != height:
		return fmt.Errorf("height %d, want %d", b.Height, height)
	case !isLowerHex(b.Hash, 64):
		return fmt.Errorf("hash %q is not 64 lower-case hex characters", Clip(b.Hash))
	case b.Height == 0 && b.PrevHash != "":
		return fmt.Errorf("previous hash %q at height 0", Clip(b.PrevHash))
	case b.Height > 0 && !isLowerHex(b.PrevHash, 64):
		return fmt.Errorf("previous hash %q is not 64 lower-case hex characters", Clip(b.PrevHash))
	case !isLowerHex(b.Bits, 8):
		return fmt.Errorf("bits %q is not 8 lower-case hex characters", Clip(b.Bits))
	case b.Time.Unix() <= 0 || b.Time.Unix() > math.MaxUint32 || b.Time.Location() != time.UTC:
		return fmt.Errorf("time %v is not a header time", b.Time)
	case b.TxCount < 1:
		return fmt.Errorf("transaction count %d: a block has at least its coinbase", b.TxCount)
	case len(b.CoinbaseScript) < 2 || len(b.CoinbaseScript) > 100:
		return fmt.Errorf("coinbase scriptSig is %d bytes, want 2 to 100", len(b.CoinbaseScript))
	}
	for i, a := range b.CoinbaseAddresses {
		if !LooksLikeAddress(a) {
			return fmt.Errorf("coinbase address %d %q is not an address", i, Clip(a))
		}
	}
	return nil
}
