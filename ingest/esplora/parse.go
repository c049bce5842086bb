package esplora

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/hashatlas/hashatlas/ingest"
)

// parseTipHeight reads the body of GET /blocks/tip/height: a decimal integer as plain text.
func parseTipHeight(body []byte) (int64, error) {
	s := string(bytes.TrimSpace(body))
	if s == "" {
		return 0, errors.New("tip height: empty body")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("tip height %q is not a decimal integer", ingest.Clip(s))
		}
	}
	h, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("tip height %q: %w", ingest.Clip(s), err)
	}
	return h, nil
}

// esploraBlock is what this package reads of Esplora's block format. Pointers tell a missing
// field from a zero one.
type esploraBlock struct {
	ID        *string `json:"id"`
	Height    *int64  `json:"height"`
	Timestamp *int64  `json:"timestamp"`
	TxCount   *int64  `json:"tx_count"`
	PrevHash  *string `json:"previousblockhash"`
	// Bits is the compact target as a JSON number (386021892), not hex as in Bitcoin Core.
	Bits json.RawMessage `json:"bits"`
}

// parseBlockList reads the body of GET /blocks/:height — the blocks from height down, newest
// first (10 from esplora, 15 from mempool.space) — and returns the header fields of the
// first, which must be the block at height. The coinbase fields are left empty.
//
// A list that is empty or starts below height means the source's tip is below height
// (mempool.space answers a height above its tip with the blocks from its tip down): the
// error then matches ErrHeightOutOfRange.
func parseBlockList(body []byte, height int64) (ingest.ChainBlock, error) {
	var list []esploraBlock
	if err := json.Unmarshal(body, &list); err != nil {
		return ingest.ChainBlock{}, ingest.JSONFault("block list", body, err)
	}
	if len(list) == 0 {
		return ingest.ChainBlock{}, fmt.Errorf("empty block list: %w", ErrHeightOutOfRange)
	}
	r := list[0]
	switch {
	case r.Height == nil:
		return ingest.ChainBlock{}, errors.New("height is missing")
	case *r.Height < height:
		return ingest.ChainBlock{}, fmt.Errorf("the list starts at height %d, below the %d asked for: %w", *r.Height, height, ErrHeightOutOfRange)
	case *r.Height != height:
		return ingest.ChainBlock{}, fmt.Errorf("height %d in the response, want %d", *r.Height, height)
	case r.ID == nil:
		return ingest.ChainBlock{}, errors.New("id is missing")
	case !ingest.IsHash(*r.ID):
		return ingest.ChainBlock{}, fmt.Errorf("id %q is not 64 hex characters", ingest.Clip(*r.ID))
	case r.Timestamp == nil:
		return ingest.ChainBlock{}, errors.New("timestamp is missing")
	case *r.Timestamp <= 0 || *r.Timestamp > math.MaxUint32:
		return ingest.ChainBlock{}, fmt.Errorf("timestamp %d is not a header time (1 to 2^32-1)", *r.Timestamp)
	case r.TxCount == nil:
		return ingest.ChainBlock{}, errors.New("tx_count is missing")
	case *r.TxCount < 1:
		return ingest.ChainBlock{}, fmt.Errorf("tx_count %d: a block has at least its coinbase", *r.TxCount)
	case len(r.Bits) == 0 || ingest.IsJSONNull(r.Bits):
		return ingest.ChainBlock{}, errors.New("bits is missing")
	}
	bits, err := strconv.ParseUint(string(r.Bits), 10, 32)
	if err != nil {
		return ingest.ChainBlock{}, fmt.Errorf("bits %s is not a number from 0 to 2^32-1", ingest.Clip(string(r.Bits)))
	}
	b := ingest.ChainBlock{
		Height:  height,
		Hash:    strings.ToLower(*r.ID),
		Time:    time.Unix(*r.Timestamp, 0).UTC(),
		Bits:    fmt.Sprintf("%08x", bits),
		TxCount: *r.TxCount,
	}
	if r.PrevHash != nil {
		b.PrevHash = strings.ToLower(*r.PrevHash)
	}
	switch {
	case height == 0 && b.PrevHash != "":
		return ingest.ChainBlock{}, fmt.Errorf("previousblockhash %q at height 0", ingest.Clip(b.PrevHash))
	case height > 0 && !ingest.IsHash(b.PrevHash):
		return ingest.ChainBlock{}, fmt.Errorf("previousblockhash %q is not 64 hex characters", ingest.Clip(b.PrevHash))
	}
	return b, nil
}

// esploraTx is what this package reads of Esplora's transaction format.
type esploraTx struct {
	Vin []struct {
		IsCoinbase bool    `json:"is_coinbase"`
		ScriptSig  *string `json:"scriptsig"`
	} `json:"vin"`
	Vout []struct {
		Address string `json:"scriptpubkey_address"`
	} `json:"vout"`
	// Status is documented as absent from /block/:hash/txs but electrs sends it; when it is
	// there it must name the block asked for.
	Status *struct {
		BlockHeight *int64  `json:"block_height"`
		BlockHash   *string `json:"block_hash"`
	} `json:"status"`
}

// coinbase is what the first transaction of a block gives a ChainBlock.
type coinbase struct {
	Script    []byte
	Addresses []string
}

// parseBlockTxs reads the body of GET /block/:hash/txs/0 — the first transactions of the
// block (up to 25) — and returns its coinbase: the scriptSig of the first input, and the
// addresses of the outputs that have one, in output order.
func parseBlockTxs(body []byte, hash string, height int64) (coinbase, error) {
	var txs []esploraTx
	if err := json.Unmarshal(body, &txs); err != nil {
		return coinbase{}, ingest.JSONFault("transaction list", body, err)
	}
	if len(txs) == 0 {
		return coinbase{}, errors.New("empty transaction list: no coinbase transaction")
	}
	tx := txs[0]
	if st := tx.Status; st != nil {
		if st.BlockHash != nil && !strings.EqualFold(*st.BlockHash, hash) {
			return coinbase{}, fmt.Errorf("the transactions are of block %q, not %s", ingest.Clip(*st.BlockHash), hash)
		}
		if st.BlockHeight != nil && *st.BlockHeight != height {
			return coinbase{}, fmt.Errorf("the transactions are of a block at height %d, want %d", *st.BlockHeight, height)
		}
	}
	if len(tx.Vin) == 0 || !tx.Vin[0].IsCoinbase {
		return coinbase{}, errors.New("[0].vin[0].is_coinbase is not true: the first transaction is not a coinbase")
	}
	if tx.Vin[0].ScriptSig == nil {
		return coinbase{}, errors.New("[0].vin[0].scriptsig is missing")
	}
	script, err := hex.DecodeString(*tx.Vin[0].ScriptSig)
	if err != nil {
		return coinbase{}, fmt.Errorf("[0].vin[0].scriptsig is not hex: %w", err)
	}
	if len(script) < 2 || len(script) > 100 {
		// Consensus rule (bad-cb-length): a coinbase scriptSig is 2 to 100 bytes.
		return coinbase{}, fmt.Errorf("coinbase scriptsig is %d bytes, want 2 to 100", len(script))
	}
	cb := coinbase{Script: script}
	for i, out := range tx.Vout {
		if out.Address == "" {
			continue // OP_RETURN and other outputs without an address
		}
		if !ingest.LooksLikeAddress(out.Address) {
			return coinbase{}, fmt.Errorf("[0].vout[%d].scriptpubkey_address %q is not an address", i, ingest.Clip(out.Address))
		}
		cb.Addresses = append(cb.Addresses, out.Address)
	}
	return cb, nil
}
