package ingest

import (
	"context"
	"time"
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
