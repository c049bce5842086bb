package bitcoind

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

// Bitcoin Core RPC error codes this package acts on (src/rpc/protocol.h).
const (
	// codeInvalidParameter is what getblockhash answers for a height above the tip
	// ("Block height out of range").
	codeInvalidParameter = -8
	// codeInWarmup is answered while bitcoind loads its block index at start; worth retrying.
	codeInWarmup = -28
)

// RPCError is the error object of a JSON-RPC response: bitcoind understood the request and
// refused it. errors.As finds it in the errors of Client's methods.
type RPCError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// Error says "RPC error <code>: <message>".
func (e *RPCError) Error() string { return fmt.Sprintf("RPC error %d: %s", e.Code, e.Message) }

// decodeResponse reads a JSON-RPC response body (the 1.0 form bitcoind gives legacy requests,
// or the 2.0 form) to the request with id, and returns its result. An error object in the
// response is returned as *RPCError.
func decodeResponse(body []byte, id uint64) (json.RawMessage, error) {
	var r struct {
		Result json.RawMessage `json:"result"`
		Error  json.RawMessage `json:"error"`
		ID     json.RawMessage `json:"id"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, ingest.JSONFault("JSON-RPC response", body, err)
	}
	if len(r.Error) > 0 && !ingest.IsJSONNull(r.Error) {
		var re RPCError
		if err := json.Unmarshal(r.Error, &re); err != nil || (re.Code == 0 && re.Message == "") {
			return nil, fmt.Errorf("JSON-RPC error member %s is not an object with code and message", snippet(r.Error))
		}
		return nil, &re
	}
	if got := string(bytes.TrimSpace(r.ID)); got != strconv.FormatUint(id, 10) {
		return nil, fmt.Errorf("JSON-RPC response id %s, want %d", snippet(r.ID), id)
	}
	if len(r.Result) == 0 || ingest.IsJSONNull(r.Result) {
		return nil, errors.New("JSON-RPC response has neither a result nor an error")
	}
	return r.Result, nil
}

// chainInfo is what this package uses of getblockchaininfo.
type chainInfo struct {
	Chain   string
	Blocks  int64
	Headers int64
	IBD     bool
}

// parseBlockchainInfo reads the result of getblockchaininfo.
func parseBlockchainInfo(result []byte) (chainInfo, error) {
	var r struct {
		Chain   string `json:"chain"`
		Blocks  *int64 `json:"blocks"`
		Headers *int64 `json:"headers"`
		IBD     bool   `json:"initialblockdownload"`
	}
	if err := json.Unmarshal(result, &r); err != nil {
		return chainInfo{}, ingest.JSONFault("getblockchaininfo result", result, err)
	}
	if r.Blocks == nil {
		return chainInfo{}, errors.New("blocks is missing")
	}
	if *r.Blocks < 0 {
		return chainInfo{}, fmt.Errorf("blocks %d is negative", *r.Blocks)
	}
	info := chainInfo{Chain: r.Chain, Blocks: *r.Blocks, IBD: r.IBD}
	if r.Headers != nil {
		info.Headers = *r.Headers
	}
	return info, nil
}

// parseBlockHash reads the result of getblockhash: a block hash, returned in lower case.
func parseBlockHash(result []byte) (string, error) {
	var h string
	if err := json.Unmarshal(result, &h); err != nil {
		return "", ingest.JSONFault("getblockhash result", result, err)
	}
	if !ingest.IsHash(h) {
		return "", fmt.Errorf("block hash %q is not 64 hex characters", ingest.Clip(h))
	}
	return strings.ToLower(h), nil
}

// rpcBlock is what this package reads of a getblock result at verbosity 2. Pointers tell a
// missing field from a zero one.
type rpcBlock struct {
	Hash          string  `json:"hash"`
	Confirmations *int64  `json:"confirmations"`
	Height        *int64  `json:"height"`
	Time          *int64  `json:"time"`
	Bits          string  `json:"bits"`
	NTx           *int64  `json:"nTx"`
	PrevHash      *string `json:"previousblockhash"`
	Tx            []rpcTx `json:"tx"`
}

type rpcTx struct {
	Vin []struct {
		Coinbase *string `json:"coinbase"`
	} `json:"vin"`
	Vout []struct {
		ScriptPubKey struct {
			// Address is set by Core 22 and later, for outputs that have one.
			Address string `json:"address"`
			// Addresses is what Core before 22 set instead (and 22 with
			// -deprecatedrpc=addresses).
			Addresses []string `json:"addresses"`
		} `json:"scriptPubKey"`
	} `json:"vout"`
}

// parseBlock reads the result of getblock <hash> 2 for the block expected at height and
// checks it: hash and previous hash 64 hex (no previous hash only at height 0), bits 8 hex,
// the height asked for, a positive time, a first transaction that is a coinbase, and the
// block still in the best chain.
//
// TxCount is nTx. The transaction list may be shorter than nTx (test fixtures trim it); only
// tx[0] is used.
func parseBlock(result []byte, height int64) (ingest.ChainBlock, error) {
	var r rpcBlock
	if err := json.Unmarshal(result, &r); err != nil {
		return ingest.ChainBlock{}, ingest.JSONFault("getblock result", result, err)
	}
	if r.Height == nil {
		return ingest.ChainBlock{}, errors.New("height is missing")
	}
	if *r.Height != height {
		return ingest.ChainBlock{}, fmt.Errorf("height %d in the response, want %d", *r.Height, height)
	}
	if r.Confirmations != nil && *r.Confirmations < 0 {
		return ingest.ChainBlock{}, fmt.Errorf("block %s is no longer in the best chain (confirmations %d): the chain reorganised during the call",
			ingest.Clip(r.Hash), *r.Confirmations)
	}
	if r.Time == nil {
		return ingest.ChainBlock{}, errors.New("time is missing")
	}
	if *r.Time <= 0 || *r.Time > math.MaxUint32 {
		return ingest.ChainBlock{}, fmt.Errorf("time %d is not a header time (1 to 2^32-1)", *r.Time)
	}
	if r.NTx == nil {
		return ingest.ChainBlock{}, errors.New("nTx is missing")
	}
	if len(r.Tx) == 0 {
		return ingest.ChainBlock{}, errors.New("tx is empty: no coinbase transaction")
	}
	if int64(len(r.Tx)) > *r.NTx {
		return ingest.ChainBlock{}, fmt.Errorf("%d transactions listed but nTx is %d", len(r.Tx), *r.NTx)
	}
	cb := r.Tx[0]
	if len(cb.Vin) == 0 || cb.Vin[0].Coinbase == nil {
		return ingest.ChainBlock{}, errors.New("tx[0].vin[0].coinbase is missing: the first transaction is not a coinbase")
	}
	script, err := hex.DecodeString(*cb.Vin[0].Coinbase)
	if err != nil {
		return ingest.ChainBlock{}, fmt.Errorf("tx[0].vin[0].coinbase is not hex: %w", err)
	}
	var addrs []string
	for i, out := range cb.Vout {
		spk := out.ScriptPubKey
		var a string
		switch {
		case spk.Address != "":
			a = spk.Address
		case len(spk.Addresses) == 1:
			a = spk.Addresses[0]
		default:
			// No address (OP_RETURN, non-standard), or several (bare multisig, listed by Core
			// before 22): Core 22+ and Esplora give none for those, so neither do we.
			continue
		}
		if !ingest.LooksLikeAddress(a) {
			return ingest.ChainBlock{}, fmt.Errorf("tx[0].vout[%d] address %q is not an address", i, ingest.Clip(a))
		}
		addrs = append(addrs, a)
	}
	b := ingest.ChainBlock{
		Height:            *r.Height,
		Hash:              strings.ToLower(r.Hash),
		Bits:              strings.ToLower(r.Bits),
		TxCount:           *r.NTx,
		CoinbaseScript:    script,
		CoinbaseAddresses: addrs,
	}
	if r.PrevHash != nil {
		b.PrevHash = strings.ToLower(*r.PrevHash)
	}
	b.Time = time.Unix(*r.Time, 0).UTC()
	if err := b.Validate(height); err != nil {
		return ingest.ChainBlock{}, err
	}
	return b, nil
}

// snippet is raw shortened for an error message.
func snippet(raw []byte) string {
	if len(raw) == 0 {
		return "(absent)"
	}
	return ingest.Clip(string(raw))
}
